using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Dgram.Actors.Sockets.Native;

/// <summary>Reads and writes Linux <c>struct sockaddr_*</c> bytes without allocating.</summary>
internal static class SockAddr
{
    public const int In4Size = 16, In6Size = 28;
    /// <summary>sizeof(struct sockaddr_un): family + 108-byte path.</summary>
    public const int UnSize = 110;
    public const int UnPathMax = 108;

    /// <summary>Writes an IP endpoint; returns its length (16 or 28).</summary>
    public static int Write(Span<byte> dst, IPAddress address, int port)
    {
        dst[..(address.AddressFamily == AddressFamily.InterNetwork ? In4Size : In6Size)].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)port);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(dst, Const.AF_INET);
            address.TryWriteBytes(dst.Slice(4, 4), out _);
            return In4Size;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(dst, Const.AF_INET6);
        address.TryWriteBytes(dst.Slice(8, 16), out _);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], (uint)address.ScopeId);
        return In6Size;
    }

    /// <summary>Writes any endpoint; IP endpoints without allocating, others through <see cref="EndPoint.Serialize"/>.</summary>
    public static int Write(Span<byte> dst, EndPoint endPoint)
    {
        if (endPoint is IPEndPoint ip)
        {
            return Write(dst, ip.Address, ip.Port);
        }
        // Since .NET 8 SocketAddress.Buffer holds the platform's native sockaddr bytes.
        SocketAddress sa = endPoint.Serialize();
        sa.Buffer.Span[..sa.Size].CopyTo(dst);
        return sa.Size;
    }

    /// <summary>The address family stored in sockaddr bytes.</summary>
    public static int Family(ReadOnlySpan<byte> src) => src.Length < 2 ? 0 : BinaryPrimitives.ReadUInt16LittleEndian(src);

    /// <summary>Parses sockaddr bytes into an endpoint (allocates; not for hot paths).</summary>
    public static EndPoint? Read(ReadOnlySpan<byte> src)
    {
        switch (Family(src))
        {
            case Const.AF_INET when src.Length >= 8:
                return new IPEndPoint(new IPAddress(src.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(src[2..]));
            case Const.AF_INET6 when src.Length >= In6Size:
                return new IPEndPoint(
                    new IPAddress(src.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(src[24..])),
                    BinaryPrimitives.ReadUInt16BigEndian(src[2..]));
            case Const.AF_UNIX:
                return ReadUnix(src);
            default:
                return null;
        }
    }

    /// <summary>A Unix address: a path, an abstract name (leading NUL, shown as '@' by tools) or unnamed.</summary>
    private static EndPoint? ReadUnix(ReadOnlySpan<byte> src)
    {
        ReadOnlySpan<byte> path = src[2..];
        if (path.Length == 0)
        {
            return null; // unnamed (an unbound sender)
        }
        if (path[0] != 0)
        {
            int nul = path.IndexOf((byte)0);
            if (nul >= 0) path = path[..nul];
        }
        return new UnixDomainSocketEndPoint(Encoding.UTF8.GetString(path));
    }
}
