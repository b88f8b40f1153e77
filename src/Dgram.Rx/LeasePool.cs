using System.Buffers;
using System.Collections.Concurrent;

namespace Dgram.Rx;

/// <summary>
/// Buffers and lease objects for <see cref="DatagramLease"/>, reused so the lease path allocates
/// nothing once warm. <see cref="Outstanding"/> counts leases not yet disposed.
/// </summary>
public sealed class LeasePool
{
    private readonly ArrayPool<byte> _buffers;
    private readonly ConcurrentQueue<DatagramLease> _leases = new();
    private long _rented, _returned;

    /// <summary>Creates a pool for payloads up to <paramref name="maxPayload"/> bytes.</summary>
    /// <param name="maxPayload">The largest payload.</param>
    /// <param name="buffersPerSize">Buffers kept per size class: leases outstanding beyond this are allocated and not kept.</param>
    public LeasePool(int maxPayload = 65536, int buffersPerSize = 4096) =>
        _buffers = ArrayPool<byte>.Create(Math.Max(maxPayload, 16), Math.Max(buffersPerSize, 1));

    /// <summary>Leases handed out.</summary>
    public long Rented => Volatile.Read(ref _rented);
    /// <summary>Leases disposed.</summary>
    public long Returned => Volatile.Read(ref _returned);
    /// <summary>Leases handed out and not yet disposed.</summary>
    public long Outstanding => Rented - Returned;

    internal DatagramLease Rent(int length, out byte[] buffer)
    {
        if (!_leases.TryDequeue(out DatagramLease? lease)) lease = new DatagramLease(this);
        buffer = _buffers.Rent(Math.Max(length, 1));
        Interlocked.Increment(ref _rented);
        return lease;
    }

    internal void Return(DatagramLease lease, byte[] buffer)
    {
        _buffers.Return(buffer);
        _leases.Enqueue(lease);
        Interlocked.Increment(ref _returned);
    }
}
