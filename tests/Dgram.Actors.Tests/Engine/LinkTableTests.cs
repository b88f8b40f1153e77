using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Dgram.Actors.Engine;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// The rtnetlink interface table against the kernel: each test makes its own veth pair (ltNNa/ltNNb),
/// changes it with `ip`, waits on the table's descriptor and asserts on the changes and the snapshot.
/// Other tests' interfaces come and go meanwhile, so assertions look only at this pair's indexes.
/// </summary>
[Trait("Area", "Kernel")]
public sealed class LinkTableTests : IDisposable
{
    /// <summary>An upper bound for an event to arrive, never a sleep.</summary>
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(5);

    private readonly LinkTable _table;
    private readonly Veth _veth = new();

    public LinkTableTests()
    {
        LabNet.Require();
        _table = LinkTable.Open();
    }

    public void Dispose()
    {
        _veth.Dispose();
        _table.Dispose();
    }

    [Fact]
    public void Open_DumpsTheInterfacesThatExist()
    {
        Assert.True(_table.TryGet(LabNet.Rx0, out LinkInfo? rx0));
        Assert.Equal(LabNet.Index(LabNet.Rx0), rx0.Index);
        Assert.True(rx0.IsOperational);
        Assert.True(_table.TryGet(LabNet.Index(LabNet.Tx1), out LinkInfo? tx1));
        Assert.Equal(LabNet.Tx1, tx1.Name);
        Assert.True(_table.TryGet("lo", out LinkInfo? lo) && lo.IsUp);
        Assert.False(_table.TryGet("nosuch0", out _));
        Assert.Equal(0, _table.Resyncs);
    }

    [Fact]
    public void NewPair_IsAdded_ThenUpOnlyOnceAdminUpAndCarrier_DownAndUpFollowTheAdminState()
    {
        _veth.Create();
        List<LinkChange> seen = ReadUntil(_table, c => c.Any(x => x.Kind == LinkEvent.Added && x.Name == _veth.A));
        int index = LabNet.Index(_veth.A);
        LinkChange added = Assert.Single(Of(seen, index));
        Assert.Equal((LinkEvent.Added, _veth.A, (string?)null), (added.Kind, added.Name, added.OldName));
        Assert.Equal(0u, added.Flags & Netlink.IFF_UP);
        Assert.True(_table.TryGet(_veth.A, out LinkInfo? a));
        Assert.Equal(index, a.Index);
        Assert.False(a.IsUp);
        Assert.True(_table.TryGet(index, out LinkInfo? byIndex) && byIndex.Name == _veth.A);

        // Admin up while the peer is down: no carrier, so not operational and no Up.
        LabLink.Ip("link", "set", _veth.A, "up");
        seen = ReadUntil(_table, c => _table.TryGet(index, out LinkInfo? i) && i.IsUp);
        Assert.Empty(Of(seen, index));
        Assert.False(_table.TryGet(index, out a) && a.HasCarrier);

        LabLink.Ip("link", "set", _veth.B, "up");
        seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        Assert.Equal([LinkEvent.Up], Kinds(seen, index));
        Assert.True(_table.TryGet(index, out a) && a.IsOperational);

        // An MTU change is an RTM_NEWLINK that changes nothing the table reports; the Down after it is the marker.
        LabLink.Ip("link", "set", _veth.A, "mtu", "1400");
        LabLink.Ip("link", "set", _veth.A, "down");
        seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        Assert.Equal([LinkEvent.Down], Kinds(seen, index));
        Assert.True(_table.TryGet(index, out a) && !a.IsUp);

        // Up arrives as LOWER_UP first and RUNNING one message later: one Up. The peer's Down is the marker
        // that nothing else came for A in between.
        LabLink.Ip("link", "set", _veth.A, "up");
        seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        Assert.True(_table.TryGet(index, out a) && a.IsOperational);
        LabLink.Ip("link", "set", _veth.B, "down");
        seen.AddRange(ReadUntil(_table, c => Of(c, index).Count > 0));
        Assert.Equal([LinkEvent.Up, LinkEvent.Down], Kinds(seen, index));
    }

    [Fact]
    public void PeerDown_IsCarrierLoss_DownWhileAdminUp_ThenUp()
    {
        _veth.CreateUp();
        int index = LabNet.Index(_veth.A);
        ReadUntil(_table, c => _table.TryGet(index, out LinkInfo? i) && i.IsOperational);

        LabLink.Ip("link", "set", _veth.B, "down");
        List<LinkChange> seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        LinkChange down = Assert.Single(Of(seen, index));
        Assert.Equal(LinkEvent.Down, down.Kind);
        Assert.Equal(_veth.A, down.Name);
        Assert.True(_table.TryGet(index, out LinkInfo? a));
        Assert.True(a.IsUp);
        Assert.False(a.HasCarrier);
        Assert.Equal(0u, a.Flags & Netlink.IFF_LOWER_UP);

        LabLink.Ip("link", "set", _veth.B, "up");
        seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        Assert.Equal([LinkEvent.Up], Kinds(seen, index));
        Assert.True(_table.TryGet(index, out a) && a.HasCarrier);
    }

    [Fact]
    public void Rename_IsRenamedWithTheOldName_AndTheOldNameIsGone()
    {
        _veth.Create();
        int index = LabNet.Index(_veth.A);
        ReadUntil(_table, c => _table.TryGet(index, out _));

        _veth.RenameA();
        List<LinkChange> seen = ReadUntil(_table, c => Of(c, index).Count > 0);
        LinkChange change = Assert.Single(Of(seen, index));
        Assert.Equal((LinkEvent.Renamed, _veth.A, _veth.OriginalA), (change.Kind, change.Name, change.OldName));
        Assert.False(_table.TryGet(_veth.OriginalA, out _));
        Assert.True(_table.TryGet(_veth.A, out LinkInfo? renamed));
        Assert.Equal(index, renamed.Index);
        Assert.True(_table.TryGet(index, out LinkInfo? byIndex) && byIndex.Name == _veth.A);
    }

    [Fact]
    public void Delete_IsRemovedUnderTheNameItHad_ReCreate_IsAddedWithANewIndex()
    {
        _veth.CreateUp();
        int oldIndex = LabNet.Index(_veth.A), peer = LabNet.Index(_veth.B);
        ReadUntil(_table, c => _table.TryGet(oldIndex, out LinkInfo? i) && i.IsOperational);

        _veth.Delete();
        List<LinkChange> seen = ReadUntil(_table, c => Of(c, oldIndex).Any(x => x.Kind == LinkEvent.Removed) && Of(c, peer).Any(x => x.Kind == LinkEvent.Removed));
        LinkChange removed = Of(seen, oldIndex)[^1];
        Assert.Equal(LinkEvent.Removed, removed.Kind);
        Assert.Equal(_veth.A, removed.Name);
        Assert.Null(removed.OldName);
        // The kernel closes the device before it unregisters it: Down, then Removed.
        Assert.Equal([LinkEvent.Down, LinkEvent.Removed], Kinds(seen, oldIndex));
        Assert.False(_table.TryGet(_veth.A, out _));
        Assert.False(_table.TryGet(oldIndex, out _));
        Assert.False(_table.TryGet(peer, out _));

        _veth.Create();
        seen = ReadUntil(_table, c => c.Any(x => x.Kind == LinkEvent.Added && x.Name == _veth.A));
        int newIndex = LabNet.Index(_veth.A);
        Assert.NotEqual(oldIndex, newIndex);
        Assert.Equal(LinkEvent.Added, Assert.Single(Of(seen, newIndex)).Kind);
        Assert.True(_table.TryGet(_veth.A, out LinkInfo? again) && again.Index == newIndex);
    }

    [Fact]
    public void MoveToAnotherNamespace_IsRemoved()
    {
        _veth.CreateUp();
        int index = LabNet.Index(_veth.A);
        ReadUntil(_table, c => _table.TryGet(index, out LinkInfo? i) && i.IsOperational);

        // A child namespace held by a process; the veth end in it dies with it (and takes its peer along).
        using var holder = Process.Start(new ProcessStartInfo("unshare", ["-n", "sleep", "60"]))!;
        try
        {
            MoveWhenReady(_veth.A, holder.Id);
            List<LinkChange> seen = ReadUntil(_table, c => Of(c, index).Any(x => x.Kind == LinkEvent.Removed));
            Assert.Equal(LinkEvent.Removed, Of(seen, index)[^1].Kind);
            Assert.False(_table.TryGet(_veth.A, out _));
            Assert.False(_table.TryGet(index, out _));
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit();
        }
    }

    [Fact]
    public void ReadAfterDispose_ReturnsWithoutReading()
    {
        _table.Dispose();
        var changes = new List<LinkChange>();
        _table.Read(changes);
        Assert.Empty(changes);
    }

    /// <summary>
    /// Event losses: the event socket's queue shrunk to the kernel's minimum, interfaces added, renamed and
    /// deleted without reading, so the kernel drops notifications and reports ENOBUFS. Runs alone: it
    /// compares the whole table with a fresh dump.
    /// </summary>
    [Collection(SerialCollection.Name)]
    [Trait("Area", "Kernel")]
    public sealed class Overrun : IDisposable
    {
        private readonly List<Veth> _pairs = [];

        public Overrun() => LabNet.Require();

        public void Dispose()
        {
            foreach (Veth v in _pairs) v.Dispose();
        }

        [Fact]
        public void LostEvents_Resync_TheTableEqualsAFreshDump_AndTheDifferencesAreReported()
        {
            using LinkTable table = LinkTable.Open();
            Veth doomed = Pair(), renamed = Pair();
            doomed.CreateUp();
            renamed.Create();
            int doomedIndex = LabNet.Index(doomed.A), renamedIndex = LabNet.Index(renamed.A);
            ReadUntil(table, c => table.TryGet(doomedIndex, out LinkInfo? i) && i.IsOperational && table.TryGet(renamedIndex, out _));

            SetReceiveBuffer(table, 0); // the kernel raises it to its minimum (SOCK_MIN_RCVBUF): two or three link messages
            // Queued: doomed going down. Dropped: all that follows, its deletion too; read after the resync,
            // that stale "down" would bring the deleted interface back.
            LabLink.Ip("link", "set", doomed.A, "down");
            var added = new List<Veth>();
            for (int i = 0; i < 4; i++)
            {
                Veth v = Pair();
                v.Create();
                added.Add(v);
            }
            renamed.RenameA();
            doomed.Delete();
            SetReceiveBuffer(table, 1 << 20);

            var changes = new List<LinkChange>();
            table.Read(changes);

            Assert.True(table.Resyncs > 0, "no resync after the queue overflowed");
            using (LinkTable fresh = LinkTable.Open())
            {
                Assert.Equal(Sorted(fresh.Links), Sorted(table.Links));
            }
            Assert.Contains(changes, c => c.Kind == LinkEvent.Removed && c.Index == doomedIndex && c.Name == doomed.A);
            Assert.Contains(changes, c => c.Kind == LinkEvent.Renamed && c.Index == renamedIndex && c.Name == renamed.A && c.OldName == renamed.OriginalA);
            foreach (Veth v in added)
            {
                int index = LabNet.Index(v.A);
                Assert.Contains(changes, c => c.Kind == LinkEvent.Added && c.Index == index && c.Name == v.A);
            }
            Assert.False(table.TryGet(doomed.A, out _));
            Assert.False(table.TryGet(renamed.OriginalA, out _));

            // The socket is back to normal: the next event arrives as an event, with no further resync.
            long resyncs = table.Resyncs;
            added[0].Delete();
            ReadUntil(table, c => c.Any(x => x.Kind == LinkEvent.Removed && x.Name == added[0].A));
            Assert.Equal(resyncs, table.Resyncs);
            Assert.False(table.TryGet(added[0].A, out _));
        }

        private Veth Pair()
        {
            var v = new Veth();
            _pairs.Add(v);
            return v;
        }

        private static unsafe void SetReceiveBuffer(LinkTable table, int bytes)
        {
            Assert.Equal(0, Libc.SetSockOpt(table.Fd, Const.SOL_SOCKET, Const.SO_RCVBUF, &bytes, sizeof(int)));
        }

        private static List<LinkInfo> Sorted(IEnumerable<LinkInfo> links) => links.OrderBy(l => l.Index).ToList();
    }

    /// <summary>
    /// Reads whenever the descriptor is readable (poll, bounded) until <paramref name="done"/> holds for what
    /// was read so far; fails after <see cref="Arrival"/>. Returns every change read.
    /// </summary>
    private static unsafe List<LinkChange> ReadUntil(LinkTable table, Func<List<LinkChange>, bool> done)
    {
        var changes = new List<LinkChange>();
        var clock = Stopwatch.StartNew();
        table.Read(changes);
        while (!done(changes))
        {
            int left = (int)(Arrival - clock.Elapsed).TotalMilliseconds;
            Assert.True(left > 0, "timed out; changes read: " + string.Join(", ", changes));
            var poll = new PollFd { Fd = table.Fd, Events = Const.POLLIN };
            Libc.Poll(&poll, 1, left);
            table.Read(changes);
        }
        return changes;
    }

    private static List<LinkChange> Of(List<LinkChange> changes, int index) => changes.Where(c => c.Index == index).ToList();

    private static List<LinkEvent> Kinds(List<LinkChange> changes, int index) => Of(changes, index).Select(c => c.Kind).ToList();

    /// <summary>Moves a link into the namespace of <paramref name="pid"/> once that process has unshared it.</summary>
    private static void MoveWhenReady(string link, int pid)
    {
        string own = new FileInfo("/proc/self/ns/net").LinkTarget!;
        var clock = Stopwatch.StartNew();
        // unshare runs before it execs sleep: wait until the holder's namespace differs from ours.
        while ((new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? own) == own)
        {
            Assert.True(clock.Elapsed < Arrival, "the namespace holder did not start");
            Thread.Yield();
        }
        LabLink.Ip("link", "set", link, "netns", pid.ToString());
    }

    /// <summary>A veth pair with a name no other test uses: ltNNa / ltNNb, created down with no address.</summary>
    private sealed class Veth : IDisposable
    {
        private static int s_next;
        private readonly int _number = Interlocked.Increment(ref s_next);

        public Veth() => A = OriginalA;

        public string OriginalA => $"lt{_number:D2}a";
        public string A { get; private set; }
        public string B => $"lt{_number:D2}b";

        public void Create()
        {
            A = OriginalA;
            LabLink.Ip("link", "add", A, "type", "veth", "peer", "name", B);
        }

        public void CreateUp()
        {
            Create();
            LabLink.Ip("link", "set", A, "up");
            LabLink.Ip("link", "set", B, "up");
        }

        /// <summary>Renames end A (it must be down) to ltNNr.</summary>
        public void RenameA()
        {
            string to = $"lt{_number:D2}r";
            LabLink.Ip("link", "set", A, "name", to);
            A = to;
        }

        /// <summary>Deletes the pair (both ends go).</summary>
        public void Delete() => LabLink.Ip("link", "del", A);

        public void Dispose()
        {
            try
            {
                if (NetworkInterfaceNames.TryGetIndex(A, out _) == 0) Delete();
                else if (NetworkInterfaceNames.TryGetIndex(B, out _) == 0) LabLink.Ip("link", "del", B);
            }
            catch (InvalidOperationException) when (NetworkInterfaceNames.TryGetIndex(A, out _) != 0 && NetworkInterfaceNames.TryGetIndex(B, out _) != 0)
            {
                // The pair went while we looked: a killed namespace holder takes its veth pair along, asynchronously.
            }
        }
    }

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
