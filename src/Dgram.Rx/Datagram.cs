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
public readonly record struct Datagram(
    ReadOnlyMemory<byte> Payload, EndPoint? Source, IPAddress? Destination, int InterfaceIndex, int HopLimit,
    long TimestampNanoseconds, long Sequence, bool Truncated)
{
    /// <summary>The sender's IP address, or null (Unix or unknown).</summary>
    public IPAddress? SourceAddress => (Source as IPEndPoint)?.Address;
}

/// <summary>
/// A received datagram in a pooled buffer: the zero-copy, zero-allocation path. The receiver must
/// <see cref="Dispose"/> it (returns the buffer and the lease to the pool) and must not touch it after.
/// Each subscriber gets its own lease.
/// </summary>
public sealed class DatagramLease : IDisposable
{
    private readonly LeasePool _pool;
    private byte[] _buffer = [];
    private int _length, _rented;

    internal DatagramLease(LeasePool pool) => _pool = pool;

    /// <summary>The payload (valid until disposed).</summary>
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);
    /// <summary>The payload as memory (valid until disposed).</summary>
    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _length);
    /// <summary>The sender.</summary>
    public EndPoint? Source { get; private set; }
    /// <summary>The group or address it was sent to, when known.</summary>
    public IPAddress? Destination { get; private set; }
    /// <summary>Arrival interface index, 0 when unknown.</summary>
    public int InterfaceIndex { get; private set; }
    /// <summary>The socket's running datagram number.</summary>
    public long Sequence { get; private set; }
    /// <summary>The payload was cut to the socket's maximum datagram size.</summary>
    public bool Truncated { get; private set; }

    internal void Fill(ReadOnlySpan<byte> payload, byte[] buffer, EndPoint? source, IPAddress? destination, int ifindex, long sequence, bool truncated)
    {
        _buffer = buffer;
        payload.CopyTo(buffer);
        _length = payload.Length;
        Source = source;
        Destination = destination;
        InterfaceIndex = ifindex;
        Sequence = sequence;
        Truncated = truncated;
        Volatile.Write(ref _rented, 1);
    }

    /// <summary>Returns the buffer and the lease to the pool. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rented, 0) == 0) return;
        byte[] buffer = _buffer;
        _buffer = [];
        _length = 0;
        _pool.Return(this, buffer);
    }
}
