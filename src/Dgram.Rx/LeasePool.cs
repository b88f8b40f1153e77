using System.Buffers;
using System.Collections.Concurrent;
using System.Net;

namespace Dgram.Rx;

/// <summary>
/// Buffers and lease slots for <see cref="DatagramLease"/>, reused so the lease path allocates
/// nothing once warm. <see cref="Outstanding"/> counts leases not yet disposed.
/// </summary>
public sealed class LeasePool
{
    private readonly ArrayPool<byte> _buffers;
    private readonly ConcurrentQueue<LeaseSlot> _slots = new();
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

    internal LeaseSlot Rent(int length, out byte[] buffer)
    {
        if (!_slots.TryDequeue(out LeaseSlot? slot)) slot = new LeaseSlot(this);
        buffer = _buffers.Rent(Math.Max(length, 1));
        Interlocked.Increment(ref _rented);
        return slot;
    }

    internal void Return(LeaseSlot slot, byte[] buffer)
    {
        _buffers.Return(buffer);
        _slots.Enqueue(slot);
        Interlocked.Increment(ref _returned);
    }
}

/// <summary>
/// What a <see cref="DatagramLease"/> points at: one pooled datagram, reused. Its generation moves on
/// at each return, so a lease rented at an earlier generation is stale.
/// </summary>
internal sealed class LeaseSlot(LeasePool pool)
{
    private int _generation; // wraps after 2^32 reuses of one slot: a stale lease would have to outlive them all
    private byte[] _buffer = [];

    public ReadOnlyMemory<byte> Payload { get; private set; }
    public EndPoint? Source { get; private set; }
    public IPAddress? Destination { get; private set; }
    public int InterfaceIndex { get; private set; }
    public long Sequence { get; private set; }
    public bool Truncated { get; private set; }
    public int Length { get; private set; }

    /// <summary>Fills the slot just rented with a copy of <paramref name="raw"/> and hands out a lease for this generation.</summary>
    public DatagramLease Fill(in Internal.RawDatagram raw, byte[] buffer)
    {
        _buffer = buffer;
        raw.Payload.CopyTo(buffer);
        Payload = buffer.AsMemory(0, raw.Payload.Length);
        Source = raw.Source;
        Destination = raw.Destination;
        InterfaceIndex = raw.InterfaceIndex;
        Sequence = raw.Sequence;
        Truncated = raw.Truncated;
        Length = raw.Length;
        return new DatagramLease(this, Volatile.Read(ref _generation));
    }

    public bool IsRentedAt(int generation) => Volatile.Read(ref _generation) == generation;

    /// <summary>Returns the slot if <paramref name="generation"/> is still its own; else (a stale or second dispose) nothing.</summary>
    public void Return(int generation)
    {
        if (Interlocked.CompareExchange(ref _generation, generation + 1, generation) != generation) return;
        byte[] buffer = _buffer;
        _buffer = [];
        Payload = default;
        Source = null;
        Destination = null;
        pool.Return(this, buffer);
    }
}
