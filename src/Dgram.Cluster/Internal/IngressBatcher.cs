using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Akka.Actor;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;

namespace Dgram.Cluster.Internal;

/// <summary>
/// Gathers an ingress socket's datagrams into envelopes on the read loop's thread (no message per datagram): an
/// envelope goes to the ingress actor when it holds <c>MaxBatchDatagrams</c> or the next record would pass
/// <c>MaxBatchBytes</c>, and at the end of every read, so at low rates a datagram waits for nothing. Every datagram
/// takes the next sequence number, also one dropped here because the ingress actor has <see cref="MaxQueued"/>
/// (or <see cref="MaxQueuedBytes"/>)
/// envelopes waiting: the gap shows at the peers.
/// </summary>
internal sealed class IngressBatcher(BridgeSettings settings, BridgeGroup group, long origin, IActorRef ingress) : IDatagramHandler
{
    /// <summary>Envelopes waiting in the ingress actor's mailbox, at most.</summary>
    /// <remarks>
    /// Room for a burst while the actor is slow to start (a first burst of 200 one-datagram reads, with its code
    /// still cold, overflowed 64); the bytes bound the memory when envelopes are large.
    /// </remarks>
    public const int MaxQueued = 1024;

    /// <summary>Envelope bytes waiting in the ingress actor's mailbox, at most.</summary>
    public const int MaxQueuedBytes = 16 << 20;

    private const ushort AF_INET = 2, AF_INET6 = 10;
    private readonly byte[] _body = new byte[settings.MaxBatchBytes];
    private int _length, _count, _queued;
    private long _queuedBytes;
    private long _next, _received, _dropped, _filtered;

    public long Received => Volatile.Read(ref _received);
    public long Dropped => Volatile.Read(ref _dropped);
    public long Filtered => Volatile.Read(ref _filtered);

    /// <summary>The ingress actor took an envelope from its mailbox.</summary>
    public void Taken(int bytes)
    {
        Interlocked.Decrement(ref _queued);
        Interlocked.Add(ref _queuedBytes, -bytes);
    }

    public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
    {
        // Only the group's datagrams: the socket is bound to the port on every address, and a unicast or broadcast
        // datagram to that port (which no source filter applies to) must not become group traffic at every peer.
        if (!result.DestinationEquals(group.Group) || result.Truncated || !TryAddress(sourceAddress, out ReadOnlySpan<byte> address, out int port))
        {
            Volatile.Write(ref _filtered, _filtered + 1);
            return true;
        }
        if (_count == settings.MaxBatchDatagrams || _length + BridgeBatch.RecordOverhead + payload.Length > _body.Length) Flush();
        _length += BridgeBatch.Write(_body.AsSpan(_length), address, port, payload);
        _count++;
        Volatile.Write(ref _received, _received + 1);
        return true;
    }

    /// <summary>A socket that gave up (<see cref="SocketFailed"/>) is the ingress actor's to see: it watches the socket actor.</summary>
    public void OnStatus(SocketStatus status)
    {
    }

    public void OnBatchEnd() => Flush();

    private void Flush()
    {
        if (_count == 0) return;
        long first = _next;
        _next += _count;
        if (Interlocked.Increment(ref _queued) > MaxQueued || Interlocked.Read(ref _queuedBytes) + _length > MaxQueuedBytes)
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Add(ref _dropped, _count);
            BridgeMetrics.Drops.Add(_count, new("group", group.Name), new("site", settings.Site), new("reason", "queue"));
        }
        else
        {
            Interlocked.Add(ref _queuedBytes, _length);
            ingress.Tell(new BridgeBatch(group.Name, settings.Site, origin, first, _count, _body.AsSpan(0, _length).ToArray()), ActorRefs.NoSender);
        }
        _count = 0;
        _length = 0;
    }

    /// <summary>The address bytes and port of a raw sockaddr_in / sockaddr_in6.</summary>
    private static bool TryAddress(ReadOnlySpan<byte> sockaddr, out ReadOnlySpan<byte> address, out int port)
    {
        address = default;
        port = 0;
        if (sockaddr.Length < 8) return false;
        ushort family = MemoryMarshal.Read<ushort>(sockaddr); // sa_family is in host order
        port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
        if (family == AF_INET)
        {
            address = sockaddr.Slice(4, 4);
            return true;
        }
        if (family == AF_INET6 && sockaddr.Length >= 24)
        {
            address = sockaddr.Slice(8, 16);
            return true;
        }
        return false;
    }
}
