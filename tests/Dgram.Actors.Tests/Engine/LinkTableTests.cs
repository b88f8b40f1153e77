using System.Buffers.Binary;
using System.Text;
using Dgram.Actors.Sockets.Native;
using Xunit;

namespace Dgram.Actors.Tests.Engine;

/// <summary>The rtnetlink interface table and its message parser.</summary>
public sealed class LinkTableTests
{
    /// <summary>
    /// The message parser on hand-made and broken buffers: whatever the bytes, it never throws or reads past
    /// the buffer, and it keeps the well-formed messages before a broken one.
    /// </summary>
    [Trait("Area", "Security")]
    public sealed class Parser
    {
        private const ushort RTM_NEWADDR = 20, IFLA_MTU = 4, IFLA_IFNAME = 3;
        private const byte AF_BRIDGE = 7;

        [Fact]
        public void LinkMessages_GiveKindIndexNameAndFlags_OtherAttributesSkipped()
        {
            byte[] buffer = [
                .. Link(Netlink.RTM_NEWLINK, 7, 0x11043, Attribute(IFLA_MTU, [0xdc, 0x05, 0, 0]), Name("eth7")),
                .. Link(Netlink.RTM_DELLINK, 9, 0x1002, Name("veth-x"), Attribute(IFLA_MTU, [1, 2, 3, 4])),
            ];
            List<NetlinkMessage> parsed = Parse(buffer);
            Assert.Equal(
                [new(NetlinkMessageKind.NewLink, 0, false, 7, "eth7", 0x11043, 0), new(NetlinkMessageKind.DelLink, 0, false, 9, "veth-x", 0x1002, 0)],
                parsed);
        }

        [Fact]
        public void EveryTruncation_KeepsOnlyTheWholeMessages()
        {
            byte[] first = Link(Netlink.RTM_NEWLINK, 3, 1, Name("a")), second = Link(Netlink.RTM_NEWLINK, 4, 1, Name("bb"));
            byte[] buffer = [.. first, .. second];
            for (int cut = 0; cut <= buffer.Length; cut++)
            {
                List<int> indexes = Parse(buffer.AsSpan(0, cut)).Select(m => m.Index).ToList();
                List<int> expected = cut < first.Length ? [] : cut < buffer.Length ? [3] : [3, 4];
                Assert.True(expected.SequenceEqual(indexes), $"cut at {cut}: [{string.Join(",", indexes)}]");
            }
        }

        [Fact]
        public void BrokenLengths_EndTheParse_WithoutLoopingOrReadingPast()
        {
            byte[] good = Link(Netlink.RTM_NEWLINK, 5, 1, Name("ok"));
            foreach (uint length in new uint[] { 0, 1, 15, 1000, uint.MaxValue })
            {
                byte[] bad = Link(Netlink.RTM_NEWLINK, 6, 1, Name("bad"));
                BinaryPrimitives.WriteUInt32LittleEndian(bad, length);
                Assert.Equal([5], Parse([.. good, .. bad]).Select(m => m.Index));
            }
            // Attribute lengths 0, 2 and past the message: the link stays, its name is unknown.
            foreach (ushort length in new ushort[] { 0, 2, 200 })
            {
                byte[] message = Link(Netlink.RTM_NEWLINK, 8, 1, Name("x"));
                BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(32), length);
                NetlinkMessage m = Assert.Single(Parse(message));
                Assert.Equal((8, (string?)null), (m.Index, m.Name));
            }
        }

        [Fact]
        public void Names_OutsideOneTo15Bytes_AreUnknown_AndMayLackTheirNul()
        {
            Assert.Null(Single(Attribute(IFLA_IFNAME, [0])).Name);
            Assert.Null(Single(Attribute(IFLA_IFNAME, [])).Name);
            Assert.Null(Single(Attribute(IFLA_IFNAME, Encoding.ASCII.GetBytes("sixteen-bytes-xx\0"))).Name);
            Assert.Equal("fifteen-bytes-x", Single(Attribute(IFLA_IFNAME, Encoding.ASCII.GetBytes("fifteen-bytes-x"))).Name);
            Assert.Equal("ab", Single(Attribute(IFLA_IFNAME, [(byte)'a', (byte)'b', 0, (byte)'c'])).Name);
        }

        [Fact]
        public void OtherFamiliesTypesAndIndexes_AreSkipped()
        {
            byte[] buffer = [
                .. Link(Netlink.RTM_DELLINK, 4, 0, Name("port0"), family: AF_BRIDGE), // a bridge port leaving, not a deletion
                .. Link(RTM_NEWADDR, 4, 0, Name("addr")),
                .. Link(Netlink.RTM_NEWLINK, 0, 0, Name("zero")),
                .. Link(Netlink.RTM_NEWLINK, -3, 0, Name("neg")),
                .. Link(Netlink.RTM_NEWLINK, 12, 1, Name("kept")),
            ];
            Assert.Equal(["kept"], Parse(buffer).Select(m => m.Name));
            Assert.Empty(Parse(Header(Netlink.RTM_NEWLINK, 0, 0, new byte[8]))); // shorter than an ifinfomsg
        }

        [Fact]
        public void DoneAndError_CarryTheErrno_AndTheDumpInterruptedFlag()
        {
            byte[] buffer = [
                .. Header(Netlink.NLMSG_ERROR, 41, 0, [.. Int(0), .. new byte[16]]),
                .. Header(Netlink.NLMSG_ERROR, 42, 0, [.. Int(-Errno.EPERM), .. new byte[16]]),
                .. Header(Netlink.NLMSG_ERROR, 43, 0, Int(int.MinValue)),
                .. Header(Netlink.NLMSG_ERROR, 44, 0, []),
                .. Header(Netlink.NLMSG_DONE, 45, Netlink.NLM_F_DUMP_INTR, Int(-Errno.ENOBUFS)),
                .. Header(Netlink.NLMSG_DONE, 46, 0, []),
            ];
            Assert.Equal(
                [(NetlinkMessageKind.Error, 41u, false, 0), (NetlinkMessageKind.Error, 42u, false, Errno.EPERM),
                 (NetlinkMessageKind.Error, 43u, false, Errno.EPROTO), (NetlinkMessageKind.Error, 44u, false, Errno.EPROTO),
                 (NetlinkMessageKind.Done, 45u, true, Errno.ENOBUFS), (NetlinkMessageKind.Done, 46u, false, 0)],
                Parse(buffer).Select(m => (m.Kind, m.Sequence, m.Interrupted, m.Errno)));
        }

        [Fact]
        public void RandomBytesAndFlippedBytes_NeverThrow_AndGiveOnlyPlausibleLinks()
        {
            var random = new Random(14);
            byte[] valid = [.. Link(Netlink.RTM_NEWLINK, 7, 0x1043, Name("eth7")), .. Link(Netlink.RTM_DELLINK, 8, 0, Name("eth8"))];
            int parsedLinks = 0;
            for (int i = 0; i < 20_000; i++)
            {
                byte[] buffer;
                if (i % 2 == 0)
                {
                    buffer = new byte[random.Next(0, 200)];
                    random.NextBytes(buffer);
                }
                else
                {
                    buffer = valid[..random.Next(0, valid.Length + 1)];
                    for (int flips = random.Next(1, 4); flips > 0 && buffer.Length > 0; flips--)
                    {
                        buffer[random.Next(buffer.Length)] = (byte)random.Next(256);
                    }
                }
                foreach (NetlinkMessage m in Parse(buffer))
                {
                    if (m.Kind is NetlinkMessageKind.Done or NetlinkMessageKind.Error) continue;
                    parsedLinks++;
                    Assert.True(m.Index > 0);
                    Assert.True(m.Name is null || Encoding.UTF8.GetByteCount(m.Name) is > 0 and < 16 * 3, m.Name);
                }
            }
            Assert.True(parsedLinks > 1000, $"only {parsedLinks} links survived the flips: the fuzzing did not reach the attribute parser");
        }

        private static List<NetlinkMessage> Parse(ReadOnlySpan<byte> buffer)
        {
            var into = new List<NetlinkMessage>();
            Netlink.Parse(buffer, into);
            return into;
        }

        private static NetlinkMessage Single(byte[] attribute) => Assert.Single(Parse(Link(Netlink.RTM_NEWLINK, 2, 0, attribute)));

        /// <summary>An RTM_NEWLINK/DELLINK: header, ifinfomsg, attributes (each already padded).</summary>
        private static byte[] Link(ushort type, int index, uint flags, params byte[][] attributes) =>
            Link(type, index, flags, attributes, family: 0);

        private static byte[] Link(ushort type, int index, uint flags, byte[] attribute, byte family) =>
            Link(type, index, flags, [attribute], family);

        private static byte[] Link(ushort type, int index, uint flags, byte[][] attributes, byte family)
        {
            byte[] ifinfo = new byte[16];
            ifinfo[0] = family;
            BinaryPrimitives.WriteInt32LittleEndian(ifinfo.AsSpan(4), index);
            BinaryPrimitives.WriteUInt32LittleEndian(ifinfo.AsSpan(8), flags);
            return Header(type, 0, 0, [.. ifinfo, .. attributes.SelectMany(a => a)]);
        }

        private static byte[] Header(ushort type, uint sequence, ushort flags, byte[] body)
        {
            byte[] message = new byte[16 + Pad(body.Length)];
            BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(16 + body.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
            BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), flags);
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
            body.CopyTo(message, 16);
            return message;
        }

        private static byte[] Name(string name) => Attribute(IFLA_IFNAME, [.. Encoding.UTF8.GetBytes(name), 0]);

        private static byte[] Attribute(ushort type, byte[] value)
        {
            byte[] attribute = new byte[4 + Pad(value.Length)];
            BinaryPrimitives.WriteUInt16LittleEndian(attribute, (ushort)(4 + value.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(attribute.AsSpan(2), type);
            value.CopyTo(attribute, 4);
            return attribute;
        }

        private static byte[] Int(int value)
        {
            byte[] bytes = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
            return bytes;
        }

        private static int Pad(int length) => (length + 3) & ~3;
    }
}
