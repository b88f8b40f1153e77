using System.Net;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>
/// Turns raw sockaddr bytes into an <see cref="EndPoint"/>, reusing the last instance while the bytes
/// repeat (one sender is the common case), so a read loop allocates an endpoint only per new sender.
/// Not thread-safe: one per reader.
/// </summary>
/// <remarks>
/// Public on purpose: an <see cref="Supervision.IDatagramHandler"/> gets each sender as raw sockaddr bytes,
/// and this is how it turns them into an endpoint without allocating per datagram (Dgram.Rx does the same).
/// </remarks>
public sealed class SocketAddressCache
{
    private readonly byte[] _last = new byte[Const.SockAddrStorage];
    private int _lastLength = -1;
    private EndPoint? _endPoint;

    /// <summary>The endpoint for <paramref name="sockaddr"/> (null for an empty, unnamed address).</summary>
    public EndPoint? Get(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length != _lastLength || !sockaddr.SequenceEqual(_last.AsSpan(0, sockaddr.Length)))
        {
            int n = Math.Min(sockaddr.Length, _last.Length);
            sockaddr[..n].CopyTo(_last);
            _lastLength = n;
            _endPoint = n == 0 ? null : SockAddr.Read(sockaddr[..n]);
        }
        return _endPoint;
    }
}
