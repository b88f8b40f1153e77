using System.Net;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>
/// Reusable storage for receiving many datagrams with one recvmmsg call: headers, payload buffers,
/// source addresses and control buffers in one pinned array allocated once, so a batch receive
/// allocates nothing. The spans it hands out reference that array (no use-after-free if the batch is
/// dropped while a span is in use). Contents are valid until the next receive into this batch.
/// </summary>
/// <remarks>
/// One receive at a time: a second concurrent receive into the same batch throws
/// <see cref="InvalidOperationException"/>. <see cref="Dispose"/> may come from any thread, also during a
/// receive: the kernel writes through raw pointers into the storage, so a receive holds it, and the
/// storage is released only once no receive does (that receive then throws <see cref="ObjectDisposedException"/>).
/// </remarks>
public sealed unsafe class DatagramBatch : IDisposable
{
    private readonly int _datagramSize, _controlSize;
    private byte[]? _storage; // on the pinned object heap: never moves
    private readonly byte* _block;
    private readonly int _namesOffset, _payloadsOffset;
    private readonly MMsgHdr* _headers;
    private readonly IoVec* _iovecs;
    private readonly byte* _names, _controls, _payloads;
    private readonly ReceiveResult[] _results;
    private readonly int[] _nameLengths;
    // InUse while a receive holds the storage, Disposed once Dispose ran; whoever clears the last of
    // the two (Dispose on an idle batch, or the receive that ends after Dispose) releases the storage.
    private int _state;
    private const int InUse = 1, Disposed = 2;

    /// <summary>Creates storage for up to <paramref name="capacity"/> datagrams of up to <paramref name="datagramSize"/> bytes each.</summary>
    /// <param name="capacity">Datagrams per call (1–1024).</param>
    /// <param name="datagramSize">Buffer per datagram; a longer datagram is truncated and reported so.</param>
    /// <param name="controlSize">Control buffer per datagram for ancillary data (0–4096).</param>
    public DatagramBatch(int capacity, int datagramSize = 2048, int controlSize = 256)
    {
        if (capacity is < 1 or > 1024) throw new DatagramSocketException(nameof(DatagramBatch), DatagramSocketError.OutOfRange, 0, capacity.ToString(), "capacity is 1 to 1024");
        if (datagramSize is < 1 or > 65536) throw new DatagramSocketException(nameof(DatagramBatch), DatagramSocketError.OutOfRange, 0, datagramSize.ToString(), "datagram size is 1 to 65536");
        if (controlSize is < 0 or > 4096) throw new DatagramSocketException(nameof(DatagramBatch), DatagramSocketError.OutOfRange, 0, controlSize.ToString(), "control size is 0 to 4096");
        Capacity = capacity;
        _datagramSize = datagramSize;
        _controlSize = (controlSize + 7) & ~7;
        int size = capacity * (sizeof(MMsgHdr) + sizeof(IoVec) + Const.SockAddrStorage + _controlSize + datagramSize) + 8;
        _storage = BatchStorage.Allocate(size);
        // 8-byte alignment for the headers (the array data is 8-aligned on 64-bit, checked anyway).
        byte* data = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        int pad = (int)((8 - ((nint)data & 7)) & 7);
        _block = data + pad;
        _headers = (MMsgHdr*)_block;
        _iovecs = (IoVec*)(_headers + capacity);
        _names = (byte*)(_iovecs + capacity);
        _controls = _names + capacity * Const.SockAddrStorage;
        _payloads = _controls + capacity * _controlSize;
        _namesOffset = pad + (int)(_names - _block);
        _payloadsOffset = pad + (int)(_payloads - _block);
        _results = new ReceiveResult[capacity];
        _nameLengths = new int[capacity];
    }

    /// <summary>The most datagrams one receive can return.</summary>
    public int Capacity { get; }

    /// <summary>Datagrams held after the last receive.</summary>
    public int Count { get; private set; }

    /// <summary>The outcome for datagram <paramref name="index"/>: lengths, truncation and metadata.</summary>
    public ref readonly ReceiveResult this[int index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_storage is null, this);
            return ref _results[Check(index)];
        }
    }

    /// <summary>The payload of datagram <paramref name="index"/> (valid until the next receive into this batch).</summary>
    public ReadOnlySpan<byte> Payload(int index) => Storage.AsSpan(_payloadsOffset + Check(index) * _datagramSize, _results[index].BytesReceived);

    /// <summary>The raw sockaddr of the sender of datagram <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> SourceAddress(int index) => Storage.AsSpan(_namesOffset + Check(index) * Const.SockAddrStorage, _nameLengths[index]);

    /// <summary>Control buffer bytes per datagram.</summary>
    public int ControlSize => _controlSize;

    /// <summary>Payload buffer bytes per datagram.</summary>
    internal int DatagramSize => _datagramSize;

    private byte[] Storage => _storage ?? throw new ObjectDisposedException(nameof(DatagramBatch));

    /// <summary>The sender of datagram <paramref name="index"/> as an endpoint (allocates).</summary>
    public EndPoint? GetSource(int index) => SockAddr.Read(SourceAddress(index));

    private int Check(int index) => (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>
    /// Takes the storage for one receive (one interlocked operation). Throws <see cref="ObjectDisposedException"/>
    /// when disposed and <see cref="InvalidOperationException"/> when another receive holds it.
    /// </summary>
    internal void Acquire()
    {
        int state = Interlocked.CompareExchange(ref _state, InUse, 0);
        if (state == 0) return;
        ObjectDisposedException.ThrowIf((state & Disposed) != 0, this);
        throw new InvalidOperationException("another receive is using this DatagramBatch: a batch takes one receive at a time");
    }

    /// <summary>True once <see cref="Dispose"/> ran (a receive holding the storage stops at its next turn).</summary>
    internal bool IsDisposed => (Volatile.Read(ref _state) & Disposed) != 0;

    /// <summary>Ends a receive; releases the storage and returns false when the batch was disposed meanwhile.</summary>
    internal bool Release()
    {
        if ((Interlocked.And(ref _state, ~InUse) & Disposed) == 0) return true;
        ReleaseStorage();
        return false;
    }

    /// <summary>Prepares every header for a receive (the caller holds the storage); returns the header array.</summary>
    internal MMsgHdr* Prepare(int controlSize)
    {
        int control = Math.Min(controlSize, _controlSize);
        for (int i = 0; i < Capacity; i++)
        {
            _iovecs[i] = new IoVec { Base = _payloads + (long)i * _datagramSize, Length = (nuint)_datagramSize };
            _headers[i] = new MMsgHdr
            {
                Header = new MsgHdr
                {
                    Name = _names + i * Const.SockAddrStorage, NameLength = Const.SockAddrStorage,
                    Iov = _iovecs + i, IovLength = 1,
                    Control = control == 0 ? null : _controls + i * _controlSize, ControlLength = (nuint)control,
                },
            };
        }
        Count = 0;
        return _headers;
    }

    /// <summary>Keeps received header <paramref name="from"/> as result number <see cref="Count"/> (filtered ones are skipped).</summary>
    internal void Keep(int from, in ReceiveResult result)
    {
        int to = Count;
        if (to != from)
        {
            // Move the accepted datagram down so indexes stay dense.
            Buffer.MemoryCopy(_payloads + (long)from * _datagramSize, _payloads + (long)to * _datagramSize, _datagramSize, result.BytesReceived);
            Buffer.MemoryCopy(_names + from * Const.SockAddrStorage, _names + to * Const.SockAddrStorage, Const.SockAddrStorage, _headers[from].Header.NameLength);
        }
        _results[to] = result;
        _nameLengths[to] = (int)_headers[from].Header.NameLength;
        Count = to + 1;
    }

    internal byte* Control(int index) => _controls + index * _controlSize;

    /// <summary>
    /// Drops the storage (the GC frees it once no span refers to it). Safe from any thread: a receive in
    /// progress keeps the storage until it returns. Idempotent.
    /// </summary>
    public void Dispose()
    {
        int state = Interlocked.Or(ref _state, Disposed);
        if (state == 0) ReleaseStorage(); // else a receive holds it (it releases) or Dispose already ran
        GC.SuppressFinalize(this);
    }

    /// <summary>A batch dropped undisposed: its storage goes with it, and leaves the gauge with it.</summary>
    ~DatagramBatch() => Dispose();

    private void ReleaseStorage()
    {
        Count = 0;
        // Null when the constructor refused its arguments (the finalizer still runs).
        if (Interlocked.Exchange(ref _storage, null) is byte[] storage) BatchStorage.Release(storage);
    }
}

/// <summary>The outcome of one batch receive.</summary>
/// <param name="Status">Received (at least one datagram), TimedOut, Error or Closed.</param>
/// <param name="Count">Datagrams now in the batch.</param>
/// <param name="Errno">The errno when <paramref name="Status"/> is Error, EBADF when Closed.</param>
public readonly record struct BatchReceiveResult(ReceiveStatus Status, int Count, int Errno)
{
    /// <summary>A receive on a closed socket: Closed with EBADF, as every closed operation reports.</summary>
    internal static BatchReceiveResult Closed => new(ReceiveStatus.Closed, 0, Native.Errno.EBADF);
}
