using System.Net;

namespace Dgram.Rx;

/// <summary>
/// A received datagram whose payload the receiver owns: a right-sized array allocated for it (the
/// only allocation per datagram; source and destination are shared instances). Safe to keep.
/// </summary>
/// <param name="Payload">The payload (owned; never reused by the library).</param>
/// <param name="Source">The sender.</param>
/// <param name="Destination">The group or address it was sent to, when packet info is on.</param>
/// <param name="InterfaceIndex">Arrival interface, when packet info is on (0 otherwise).</param>
/// <param name="HopLimit">TTL / hop limit, -1 when unknown.</param>
/// <param name="TimestampNanoseconds">Kernel receive time (ns since the Unix epoch), 0 when unknown.</param>
/// <param name="Sequence">The socket's running datagram number (gaps mean datagrams this stream did not see).</param>
/// <param name="Truncated">The payload was cut to the socket's maximum datagram size.</param>
/// <param name="Length">The datagram's real length as sent (MSG_TRUNC): the payload's length, or more when truncated.</param>
public readonly record struct Datagram(
    ReadOnlyMemory<byte> Payload, EndPoint? Source, IPAddress? Destination, int InterfaceIndex, int HopLimit,
    long TimestampNanoseconds, long Sequence, bool Truncated, int Length)
{
    /// <summary>The sender's IP address, or null (Unix or unknown).</summary>
    public IPAddress? SourceAddress => (Source as IPEndPoint)?.Address;
}

/// <summary>
/// A received datagram in a pooled buffer: the zero-copy, zero-allocation path. The receiver must
/// <see cref="Dispose"/> it (returns the buffer to the pool). Each subscriber gets its own lease.
/// </summary>
/// <remarks>
/// The pool reuses its slots, so a lease carries the generation it was rented at: once it is disposed,
/// another <see cref="Dispose"/> (through any copy) does nothing and reading it throws
/// <see cref="ObjectDisposedException"/>, never showing the datagram of whoever holds the slot now. A read
/// racing the Dispose on another thread is not caught: dispose after the last read.
/// </remarks>
public readonly struct DatagramLease : IDisposable
{
    private readonly LeaseSlot? _slot;
    private readonly int _generation;

    internal DatagramLease(LeaseSlot slot, int generation)
    {
        _slot = slot;
        _generation = generation;
    }

    /// <summary>The payload (valid until disposed).</summary>
    public ReadOnlySpan<byte> Span => Live.Payload.Span;
    /// <summary>The payload as memory (valid until disposed).</summary>
    public ReadOnlyMemory<byte> Memory => Live.Payload;
    /// <summary>The sender.</summary>
    public EndPoint? Source => Live.Source;
    /// <summary>The group or address it was sent to, when known.</summary>
    public IPAddress? Destination => Live.Destination;
    /// <summary>Arrival interface index, 0 when unknown.</summary>
    public int InterfaceIndex => Live.InterfaceIndex;
    /// <summary>The socket's running datagram number.</summary>
    public long Sequence => Live.Sequence;
    /// <summary>The payload was cut to the socket's maximum datagram size.</summary>
    public bool Truncated => Live.Truncated;
    /// <summary>The datagram's real length as sent (MSG_TRUNC): the payload's length, or more when truncated.</summary>
    public int Length => Live.Length;

    private LeaseSlot Live => _slot is not null && _slot.IsRentedAt(_generation) ? _slot : throw new ObjectDisposedException(nameof(DatagramLease));

    /// <summary>Returns the buffer to the pool. Idempotent; a stale lease (its slot since rented again) does nothing.</summary>
    public void Dispose() => _slot?.Return(_generation);
}
