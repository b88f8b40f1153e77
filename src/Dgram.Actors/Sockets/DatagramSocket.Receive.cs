using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>Flags for a receive.</summary>
[Flags]
public enum ReceiveFlags
{
    /// <summary>Consume the datagram.</summary>
    None = 0,
    /// <summary>MSG_PEEK: return the next datagram and leave it queued.</summary>
    Peek = Const.MSG_PEEK,
}

public sealed partial class DatagramSocket
{
    private ReceiveMetadata _metadata;
    private int _controlSize;

    /// <summary>The control buffer size each receive uses for the enabled metadata.</summary>
    internal int ControlSize => Volatile.Read(ref _controlSize);

    /// <summary>The ancillary data received with each datagram.</summary>
    public ReceiveMetadata ReceiveMetadata => _metadata;

    /// <summary>Turns per-datagram ancillary data on or off; returns the previous set. Unix sockets take only QueueOverflow and Timestamp.</summary>
    public ReceiveMetadata SetReceiveMetadata(ReceiveMetadata metadata)
    {
        const string op = nameof(SetReceiveMetadata);
        const ReceiveMetadata ipOnly = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit | ReceiveMetadata.TrafficClass;
        if (AddressFamily == AddressFamily.Unix && (metadata & ipOnly) != 0)
        {
            throw new DatagramSocketException(op, DatagramSocketError.NotSupportedForFamily, 0, metadata.ToString(), "packet info, hop limit and traffic class are IP options");
        }
        if (_options.FilterByJoinedInterface && !metadata.HasFlag(ReceiveMetadata.PacketInfo))
        {
            throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, metadata.ToString(), "FilterByJoinedInterface needs PacketInfo");
        }
        lock (_optionLock)
        {
            ReceiveMetadata previous = _metadata;
            string args = metadata.ToString();
            if (AddressFamily != AddressFamily.Unix)
            {
                int level = IpLevel;
                SetInt(op, level, IsIPv6 ? Const.IPV6_RECVPKTINFO : Const.IP_PKTINFO, metadata.HasFlag(ReceiveMetadata.PacketInfo) ? 1 : 0, args);
                SetInt(op, level, IsIPv6 ? Const.IPV6_RECVHOPLIMIT : Const.IP_RECVTTL, metadata.HasFlag(ReceiveMetadata.HopLimit) ? 1 : 0, args);
                SetInt(op, level, IsIPv6 ? Const.IPV6_RECVTCLASS : Const.IP_RECVTOS, metadata.HasFlag(ReceiveMetadata.TrafficClass) ? 1 : 0, args);
                if (IsIPv6 && _options.DualMode)
                {
                    // IPv4 datagrams on a dual-mode socket carry only the IPPROTO_IP cmsgs.
                    SetInt(op, Const.IPPROTO_IP, Const.IP_PKTINFO, metadata.HasFlag(ReceiveMetadata.PacketInfo) ? 1 : 0, args);
                    SetInt(op, Const.IPPROTO_IP, Const.IP_RECVTTL, metadata.HasFlag(ReceiveMetadata.HopLimit) ? 1 : 0, args);
                    SetInt(op, Const.IPPROTO_IP, Const.IP_RECVTOS, metadata.HasFlag(ReceiveMetadata.TrafficClass) ? 1 : 0, args);
                }
            }
            SetInt(op, Const.SOL_SOCKET, Const.SO_RXQ_OVFL, metadata.HasFlag(ReceiveMetadata.QueueOverflow) ? 1 : 0, args);
            SetInt(op, Const.SOL_SOCKET, Const.SO_TIMESTAMPNS, metadata.HasFlag(ReceiveMetadata.Timestamp) ? 1 : 0, args);
            _metadata = metadata;
            Volatile.Write(ref _controlSize, _options.ControlBufferSize > 0 ? _options.ControlBufferSize : ControlMessages.SpaceFor(metadata));
            return previous;
        }
    }

    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/> (seed: <c>recvfrom</c>), writing the sender's
    /// address into <paramref name="source"/> when given. Never throws for kernel errors and never allocates.
    /// </summary>
    /// <param name="buffer">Where the payload goes; a longer datagram is truncated and reported with its real length.</param>
    /// <param name="source">Receives the sender's raw address; reuse one per loop (see <see cref="CreateSocketAddress"/>). May be null.</param>
    /// <param name="timeout"><see cref="TimeSpan.Zero"/> polls, <see cref="Timeout.InfiniteTimeSpan"/> waits for ever.</param>
    /// <param name="flags">Receive flags (peek). With <see cref="DatagramSocketOptions.FilterByJoinedInterface"/> a peeked
    /// foreign datagram is discarded; with several concurrent readers that could discard another reader's datagram,
    /// so peek with one reader.</param>
    public unsafe ReceiveResult ReceiveFrom(Span<byte> buffer, SocketAddress? source, TimeSpan timeout, ReceiveFlags flags = ReceiveFlags.None)
    {
        int timeoutMs = TimeoutMs(nameof(ReceiveFrom), timeout);
        if (source is null)
        {
            uint none = 0;
            return ReceiveCore(buffer, null, &none, timeoutMs, (int)flags);
        }
        fixed (byte* name = source.Buffer.Span)
        {
            uint nameLength = (uint)source.Buffer.Length;
            ReceiveResult result = ReceiveCore(buffer, name, &nameLength, timeoutMs, (int)flags);
            if (result.Status == ReceiveStatus.Received)
            {
                source.Size = (int)Math.Min(nameLength, (uint)source.Buffer.Length);
            }
            return result;
        }
    }

    /// <summary>Receives one datagram and returns its sender as an endpoint (allocates the endpoint; null for an unnamed Unix sender).</summary>
    public unsafe ReceiveResult ReceiveFrom(Span<byte> buffer, out EndPoint? source, TimeSpan timeout, ReceiveFlags flags = ReceiveFlags.None)
    {
        int timeoutMs = TimeoutMs(nameof(ReceiveFrom), timeout);
        byte* name = stackalloc byte[Const.SockAddrStorage];
        uint nameLength = Const.SockAddrStorage;
        ReceiveResult result = ReceiveCore(buffer, name, &nameLength, timeoutMs, (int)flags);
        source = result.Status == ReceiveStatus.Received ? SockAddr.Read(new ReadOnlySpan<byte>(name, (int)nameLength)) : null;
        return result;
    }

    /// <summary>A <see cref="SocketAddress"/> big enough for this socket's family, to reuse across receives.</summary>
    public SocketAddress CreateSocketAddress() => AddressFamily switch
    {
        AddressFamily.InterNetwork => new SocketAddress(AddressFamily.InterNetwork, SockAddr.In4Size),
        AddressFamily.InterNetworkV6 => new SocketAddress(AddressFamily.InterNetworkV6, SockAddr.In6Size),
        _ => new SocketAddress(AddressFamily.Unix, SockAddr.UnSize),
    };

    /// <summary>
    /// recvmsg with MSG_DONTWAIT | MSG_TRUNC, and poll() for readiness within the timeout. MSG_TRUNC makes
    /// the kernel return the real length, so truncation is seen (plain recvfrom cuts silently).
    /// </summary>
    private unsafe ReceiveResult ReceiveCore(Span<byte> buffer, byte* name, uint* nameLength, int timeoutMs, int flags)
    {
        int controlSize = Volatile.Read(ref _controlSize);
        byte* control = stackalloc byte[controlSize == 0 ? 1 : controlSize];
        fixed (byte* data = buffer)
        {
            ReceiveOne one = new(this, data, buffer.Length, name, nameLength, controlSize == 0 ? null : control, controlSize, flags);
            return Retry<ReceiveOne, ReceiveResult>(ref one, Readable, new Deadline(timeoutMs));
        }
    }

    private readonly unsafe struct ReceiveOne(DatagramSocket socket, byte* data, int length, byte* name, uint* nameLength,
        byte* control, int controlSize, int flags) : IAttempt<ReceiveResult>
    {
        private readonly uint _nameCapacity = *nameLength;

        public int Try(int fd, out ReceiveResult result)
        {
            IoVec iov = new() { Base = data, Length = (nuint)length };
            MsgHdr msg = new()
            {
                Name = name, NameLength = _nameCapacity, Iov = &iov, IovLength = 1,
                Control = control, ControlLength = (nuint)controlSize,
            };
            nint n = Libc.RecvMsg(fd, &msg, flags | Const.MSG_DONTWAIT | Const.MSG_TRUNC);
            if (n < 0)
            {
                result = default;
                return Marshal.GetLastPInvokeError();
            }
            bool peek = (flags & Const.MSG_PEEK) != 0;
            if (!socket.Accept(in msg, (int)n, length, peek, out result))
            {
                if (peek) DiscardOne(fd); // a peeked datagram stays queued: drop it
                return Again;
            }
            *nameLength = msg.NameLength;
            return 0;
        }

        public ReceiveResult Closed() => ReceiveResult.Closed;

        public ReceiveResult TimedOut() => new(ReceiveStatus.TimedOut, 0);

        public ReceiveResult Failed(int errno)
        {
            Interlocked.Increment(ref socket.Statistics._receiveErrors);
            return new ReceiveResult(ReceiveStatus.Error, errno);
        }
    }

    /// <summary>
    /// Turns one received msghdr into a result: parses ancillary data, counts truncation and
    /// MSG_CTRUNC, and applies the joined-interface filter (false: filtered, counted, not for the caller).
    /// </summary>
    private unsafe bool Accept(in MsgHdr msg, int length, int capacity, bool peek, out ReceiveResult result)
    {
        ReceiveMetadataValues meta = default;
        meta.HopLimit = -1;
        meta.TrafficClass = -1;
        if (msg.ControlLength > 0) ControlMessages.Parse(msg.Control, msg.ControlLength, ref meta);
        // The kernel adds SO_RXQ_OVFL only once something was dropped.
        if (meta.KernelDropCount is null && (_metadata & ReceiveMetadata.QueueOverflow) != 0) meta.KernelDropCount = 0;
        if ((msg.Flags & Const.MSG_CTRUNC) != 0)
        {
            meta.ControlTruncated = true;
            Interlocked.Increment(ref Statistics._controlTruncated);
        }
        if (_options.FilterByJoinedInterface && IsForeignInterface(in meta))
        {
            Interlocked.Increment(ref Statistics._filteredByInterface);
            result = default;
            return false;
        }
        int copied = Math.Min(length, capacity);
        if (!peek)
        {
            Interlocked.Increment(ref Statistics._received);
            if (length > copied) Interlocked.Increment(ref Statistics._truncated);
        }
        result = new ReceiveResult(copied, length, in meta);
        return true;
    }

    /// <summary>
    /// Receives up to <see cref="DatagramBatch.Capacity"/> datagrams with one recvmmsg call, waiting up to
    /// <paramref name="timeout"/> for the first. Allocates nothing. Datagrams filtered by
    /// <see cref="DatagramSocketOptions.FilterByJoinedInterface"/> are counted and left out.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed before the call, or during it (the
    /// receive then stops at its next turn: a datagram, its timeout, or the socket's close; what it had
    /// received goes with the batch).</exception>
    /// <exception cref="InvalidOperationException">Another receive is using the batch.</exception>
    public BatchReceiveResult ReceiveBatch(DatagramBatch batch, TimeSpan timeout)
    {
        int timeoutMs = TimeoutMs(nameof(ReceiveBatch), timeout);
        ArgumentNullExceptionIfNull(nameof(ReceiveBatch), batch);
        if (_options.FilterByJoinedInterface && batch.ControlSize < Volatile.Read(ref _controlSize))
        {
            throw new DatagramSocketException(nameof(ReceiveBatch), DatagramSocketError.InvalidArgument, 0, batch.ControlSize.ToString(),
                $"the interface filter needs packet info: give the batch a control size of at least {_controlSize}");
        }
        return ReceiveBatch(batch, timeoutMs, null);
    }

    /// <summary>
    /// The batch receive a read loop uses: also returns (as <see cref="ReceiveStatus.TimedOut"/>) when
    /// <paramref name="waker"/> is woken. A socket shut down under the loop reports ESHUTDOWN, never spins.
    /// </summary>
    internal BatchReceiveResult ReceiveBatch(DatagramBatch batch, int timeoutMs, Waker? waker, int maxCount = int.MaxValue)
    {
        // The kernel writes into the batch through raw pointers: hold its storage so a Dispose on another
        // thread cannot free it under the call (measured: freed storage overwrote fresh pinned arrays,
        // then an access violation ended the process).
        Deadline deadline = new(timeoutMs);
        ReceiveMany many = new(this, batch, maxCount, deadline.TriesOnce);
        batch.Acquire();
        BatchReceiveResult result;
        bool kept;
        try
        {
            result = Retry<ReceiveMany, BatchReceiveResult>(ref many, Readable, deadline, waker);
        }
        finally
        {
            kept = batch.Release();
        }
        ObjectDisposedException.ThrowIf(!kept, batch);
        return result;
    }

    private readonly unsafe struct ReceiveMany(DatagramSocket socket, DatagramBatch batch, int maxCount, bool triesOnce)
        : IAttempt<BatchReceiveResult>
    {
        public int Try(int fd, out BatchReceiveResult result)
        {
            result = default;
            if (batch.IsDisposed) return 0; // the caller throws ObjectDisposedException
            MMsgHdr* headers = batch.Prepare(Volatile.Read(ref socket._controlSize));
            int n = Libc.RecvMMsg(fd, headers, (uint)Math.Min(batch.Capacity, maxCount), Const.MSG_DONTWAIT | Const.MSG_TRUNC, null);
            if (n <= 0) return n == 0 ? Errno.EAGAIN : Marshal.GetLastPInvokeError();
            for (int i = 0; i < n; i++)
            {
                // With MSG_TRUNC, msg_len is the datagram's real length.
                if (socket.Accept(in headers[i].Header, (int)headers[i].Length, (int)headers[i].Header.Iov->Length, peek: false, out ReceiveResult r))
                {
                    batch.Keep(i, in r);
                }
            }
            if (batch.Count > 0)
            {
                result = new BatchReceiveResult(ReceiveStatus.Received, batch.Count, 0);
                return 0;
            }
            // All filtered: a caller that must not wait (an engine thread serving other sockets) gets its
            // turn back rather than spin here under a flood of foreign datagrams.
            if (!triesOnce) return Again;
            result = TimedOut();
            return 0;
        }

        public BatchReceiveResult Closed() => BatchReceiveResult.Closed;

        public BatchReceiveResult TimedOut() => new(ReceiveStatus.TimedOut, 0, 0);

        public BatchReceiveResult Failed(int errno)
        {
            Interlocked.Increment(ref socket.Statistics._receiveErrors);
            return new BatchReceiveResult(ReceiveStatus.Error, 0, errno);
        }
    }

    private bool IsForeignInterface(in ReceiveMetadataValues meta)
    {
        // Without packet info (a control buffer too small) the arrival is unknown: not provably ours.
        if (meta.DestinationFamily == 0) return true;
        ReadOnlySpan<byte> dst = ((ReadOnlySpan<byte>)meta.Destination)[..(meta.DestinationFamily == Const.AF_INET ? 4 : 16)];
        bool multicast = dst.Length == 4 ? (dst[0] & 0xF0) == 0xE0 : dst[0] == 0xFF;
        return multicast && !ArrivedOnJoinedInterface(dst, meta.InterfaceIndex);
    }

    private static unsafe void DiscardOne(int fd)
    {
        MsgHdr msg = default;
        Libc.RecvMsg(fd, &msg, Const.MSG_DONTWAIT);
    }
}
