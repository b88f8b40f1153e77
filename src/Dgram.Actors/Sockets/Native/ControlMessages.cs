using System.Runtime.CompilerServices;

namespace Dgram.Actors.Sockets.Native;

/// <summary>Parses recvmsg ancillary data (struct cmsghdr: size_t len; int level; int type; data, 8-byte aligned).</summary>
internal static unsafe class ControlMessages
{
    private const int HeaderSize = 16;

    private static int Align(int n) => (n + 7) & ~7;

    /// <summary>CMSG_SPACE(n).</summary>
    public static int Space(int dataLength) => HeaderSize + Align(dataLength);

    /// <summary>A control buffer size that fits every enabled item, with room to spare.</summary>
    public static int SpaceFor(ReceiveMetadata metadata)
    {
        if (metadata == ReceiveMetadata.None) return 0;
        int size = 0;
        if (metadata.HasFlag(ReceiveMetadata.PacketInfo)) size += Space(20); // in6_pktinfo (in_pktinfo is 12)
        if (metadata.HasFlag(ReceiveMetadata.HopLimit)) size += Space(4);
        if (metadata.HasFlag(ReceiveMetadata.TrafficClass)) size += Space(4);
        if (metadata.HasFlag(ReceiveMetadata.QueueOverflow)) size += Space(4);
        if (metadata.HasFlag(ReceiveMetadata.Timestamp)) size += Space(16);
        return size + 64;
    }

    /// <summary>
    /// Writes one control message carrying <paramref name="value"/> at the start of <paramref name="buffer"/>, which
    /// holds <see cref="Space"/>(sizeof(T)) bytes; returns that size. cmsg_len is CMSG_LEN exactly: the kernel insists.
    /// </summary>
    public static int Write<T>(byte* buffer, int level, int type, T value) where T : unmanaged
    {
        int space = Space(sizeof(T));
        new Span<byte>(buffer, space).Clear();
        *(nuint*)buffer = (nuint)(HeaderSize + sizeof(T));
        *(int*)(buffer + 8) = level;
        *(int*)(buffer + 12) = type;
        *(T*)(buffer + HeaderSize) = value;
        return space;
    }

    public static void Parse(byte* control, nuint length, ref ReceiveMetadataValues meta)
    {
        nuint offset = 0;
        while (offset + HeaderSize <= length)
        {
            byte* h = control + offset;
            nuint cmsgLen = *(nuint*)h;
            if (cmsgLen < HeaderSize || offset + cmsgLen > length) break;
            int level = *(int*)(h + 8);
            int type = *(int*)(h + 12);
            byte* d = h + HeaderSize;
            int dataLength = (int)cmsgLen - HeaderSize;
            switch (level)
            {
                case Const.IPPROTO_IP when type == Const.IP_PKTINFO && dataLength >= 12:
                    // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }: ipi_addr is the header's destination.
                    meta.InterfaceIndex = *(int*)d;
                    meta.DestinationFamily = Const.AF_INET;
                    new ReadOnlySpan<byte>(d + 8, 4).CopyTo(meta.Destination);
                    break;
                case Const.IPPROTO_IP when type == Const.IP_TTL && dataLength >= 4:
                    meta.HopLimit = *(int*)d;
                    break;
                case Const.IPPROTO_IP when type == Const.IP_TOS && dataLength >= 1:
                    meta.TrafficClass = *d;
                    break;
                case Const.IPPROTO_IPV6 when type == Const.IPV6_PKTINFO && dataLength >= 20:
                    // struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
                    meta.DestinationFamily = Const.AF_INET6;
                    new ReadOnlySpan<byte>(d, 16).CopyTo(meta.Destination);
                    meta.InterfaceIndex = *(int*)(d + 16);
                    break;
                case Const.IPPROTO_IPV6 when type == Const.IPV6_HOPLIMIT && dataLength >= 4:
                    meta.HopLimit = *(int*)d;
                    break;
                case Const.IPPROTO_IPV6 when type == Const.IPV6_TCLASS && dataLength >= 4:
                    meta.TrafficClass = *(int*)d;
                    break;
                case Const.SOL_SOCKET when type == Const.SO_RXQ_OVFL && dataLength >= 4:
                    meta.KernelDropCount = *(uint*)d;
                    break;
                case Const.SOL_SOCKET when type == Const.SCM_TIMESTAMPNS && dataLength >= 16:
                    meta.TimestampNanoseconds = *(long*)d * 1_000_000_000L + *(long*)(d + 8);
                    break;
            }
            offset += (nuint)Align((int)cmsgLen);
        }
    }
}
