using System.Net;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>
/// Reusable storage for sending many datagrams with one sendmmsg call: payloads and destinations are
/// copied into one pinned array allocated once, so filling and sending a batch allocates nothing (IP
/// destinations). Not thread-safe: one writer.
/// </summary>
public sealed unsafe class DatagramSendBatch
{
    private readonly byte[] _storage; // pinned object heap: never moves
    private readonly MMsgHdr* _headers;
    private readonly IoVec* _iovecs;
    private readonly byte* _names, _payloads;
    private readonly int _maxDatagramSize;

    /// <summary>Creates storage for up to <paramref name="capacity"/> datagrams of up to <paramref name="maxDatagramSize"/> bytes.</summary>
    public DatagramSendBatch(int capacity = 64, int maxDatagramSize = 2048)
    {
        if (capacity is < 1 or > 1024) throw new DatagramSocketException(nameof(DatagramSendBatch), DatagramSocketError.OutOfRange, 0, capacity.ToString(), "capacity is 1 to 1024");
        if (maxDatagramSize is < 1 or > 65536) throw new DatagramSocketException(nameof(DatagramSendBatch), DatagramSocketError.OutOfRange, 0, maxDatagramSize.ToString(), "datagram size is 1 to 65536");
        Capacity = capacity;
        _maxDatagramSize = maxDatagramSize;
        int size = capacity * (sizeof(MMsgHdr) + sizeof(IoVec) + Const.SockAddrStorage + maxDatagramSize) + 8;
        _storage = BatchStorage.Allocate(size);
        byte* data = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        byte* block = data + (int)((8 - ((nint)data & 7)) & 7);
        _headers = (MMsgHdr*)block;
        _iovecs = (IoVec*)(_headers + capacity);
        _names = (byte*)(_iovecs + capacity);
        _payloads = _names + capacity * Const.SockAddrStorage;
    }

    /// <summary>The most datagrams one batch holds.</summary>
    public int Capacity { get; }

    /// <summary>Datagrams queued.</summary>
    public int Count { get; private set; }

    /// <summary>Queues a copy of <paramref name="payload"/> for <paramref name="destination"/>; false when full or too large.</summary>
    public bool TryAdd(ReadOnlySpan<byte> payload, EndPoint destination)
    {
        if (Count == Capacity || payload.Length > _maxDatagramSize) return false;
        int i = Count;
        byte* name = _names + i * Const.SockAddrStorage;
        int nameLength = SockAddr.Write(new Span<byte>(name, Const.SockAddrStorage), destination);
        byte* data = _payloads + (long)i * _maxDatagramSize;
        payload.CopyTo(new Span<byte>(data, _maxDatagramSize));
        _iovecs[i] = new IoVec { Base = data, Length = (nuint)payload.Length };
        _headers[i] = new MMsgHdr { Header = new MsgHdr { Name = name, NameLength = (uint)nameLength, Iov = _iovecs + i, IovLength = 1 } };
        Count = i + 1;
        return true;
    }

    /// <summary>Empties the batch.</summary>
    public void Clear() => Count = 0;

    internal MMsgHdr* Headers => _headers;

    /// <summary>Keeps the array alive while the kernel reads the pointers into it.</summary>
    internal void KeepAlive() => GC.KeepAlive(_storage);

    /// <summary>The batch has no Dispose: its storage goes when the GC collects it, and leaves the gauge then.</summary>
    ~DatagramSendBatch()
    {
        // Null when the constructor refused its arguments (the finalizer still runs).
        if (_storage is not null) BatchStorage.Release(_storage);
    }
}

/// <summary>The outcome of a batch send.</summary>
/// <param name="Status">Sent (all), TimedOut (the buffer stayed full), Error (stopped at a datagram) or Closed.</param>
/// <param name="Sent">Datagrams the kernel took, from the start of the batch, in order.</param>
/// <param name="Errno">The errno of the datagram that stopped the batch; EBADF when Closed.</param>
public readonly record struct BatchSendResult(SendStatus Status, int Sent, int Errno)
{
    /// <summary>A send on a closed socket: Closed with EBADF, as every closed operation reports.</summary>
    internal static BatchSendResult Closed => new(SendStatus.Closed, 0, Native.Errno.EBADF);

    /// <summary>The errno's name, or null.</summary>
    public string? ErrorName => Errno == 0 ? null : Native.Errno.Name(Errno);
}
