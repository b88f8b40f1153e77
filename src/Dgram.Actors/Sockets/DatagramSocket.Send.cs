using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

public sealed partial class DatagramSocket
{
    /// <summary>
    /// Sends one datagram to <paramref name="destination"/> (seed: <c>sendto</c>). A full send buffer waits
    /// up to <paramref name="timeout"/>, then reports <see cref="SendStatus.TimedOut"/>. Never throws for
    /// kernel errors and never allocates.
    /// </summary>
    /// <param name="datagram">The payload; may be empty (a zero-length datagram is legal).</param>
    /// <param name="destination">The destination's raw address; cache one per destination.</param>
    /// <param name="timeout"><see cref="TimeSpan.Zero"/> fails at once when the buffer is full; <see cref="Timeout.InfiniteTimeSpan"/> waits.</param>
    public unsafe SendResult SendTo(ReadOnlySpan<byte> datagram, SocketAddress destination, TimeSpan timeout)
    {
        int timeoutMs = TimeoutMs(nameof(SendTo), timeout);
        ArgumentNullExceptionIfNull(nameof(SendTo), destination);
        fixed (byte* name = destination.Buffer.Span)
        {
            return SendCore(datagram, name, (uint)destination.Size, new Deadline(timeoutMs));
        }
    }

    /// <summary>Sends one datagram to an endpoint; an <see cref="IPEndPoint"/> is encoded without allocating.</summary>
    public unsafe SendResult SendTo(ReadOnlySpan<byte> datagram, EndPoint destination, TimeSpan timeout)
    {
        int timeoutMs = TimeoutMs(nameof(SendTo), timeout);
        destination = ValidateEndPoint(nameof(SendTo), destination);
        byte* name = stackalloc byte[Const.SockAddrStorage];
        int length = SockAddr.Write(new Span<byte>(name, Const.SockAddrStorage), destination);
        return SendCore(datagram, name, (uint)length, new Deadline(timeoutMs));
    }

    /// <summary>Sends one datagram to the connected peer.</summary>
    public unsafe SendResult Send(ReadOnlySpan<byte> datagram, TimeSpan timeout) =>
        SendCore(datagram, null, 0, new Deadline(TimeoutMs(nameof(Send), timeout)));

    /// <summary>
    /// Sends one datagram with its own TTL / hop limit (1–255), carried by an IP_TTL or IPV6_HOPLIMIT control
    /// message: the socket's options are not touched. Setting IP_TTL and restoring what getsockopt read instead
    /// would pin a socket that follows the system default (-1, read back as 64) to that number.
    /// </summary>
    internal unsafe SendResult SendTo(ReadOnlySpan<byte> datagram, EndPoint destination, TimeSpan timeout, int ttl)
    {
        const string op = nameof(SendTo);
        RequireIp(op);
        int timeoutMs = TimeoutMs(op, timeout);
        destination = ValidateEndPoint(op, destination);
        RequireUnicastTtl(op, ttl, allowDefault: false); // the IPv4 cmsg takes 1–255 only
        byte* name = stackalloc byte[Const.SockAddrStorage];
        int nameLength = SockAddr.Write(new Span<byte>(name, Const.SockAddrStorage), destination);
        byte* control = stackalloc byte[ControlMessages.Space(sizeof(int))];
        // An IPv4-mapped destination of a dual-mode socket leaves through the IPv4 path, which reads IP_TTL only.
        int controlLength = SendsAsIPv4(destination)
            ? ControlMessages.Write(control, Const.IPPROTO_IP, Const.IP_TTL, ttl)
            : ControlMessages.Write(control, Const.IPPROTO_IPV6, Const.IPV6_HOPLIMIT, ttl);
        return SendCore(datagram, name, (uint)nameLength, new Deadline(timeoutMs), control, controlLength);
    }

    /// <summary>One datagram: sendto, or sendmsg when it carries a control message.</summary>
    private unsafe SendResult SendCore(ReadOnlySpan<byte> datagram, byte* name, uint nameLength, Deadline deadline, byte* control = null, int controlLength = 0)
    {
        fixed (byte* data = datagram)
        {
            // A non-null pointer even for an empty span: the kernel accepts a zero-length datagram.
            byte empty = 0;
            byte* p = data == null ? &empty : data;
            IoVec iov = new() { Base = p, Length = (nuint)datagram.Length };
            MsgHdr msg = new() { Name = name, NameLength = nameLength, Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlLength };
            SendOne one = new(this, p, datagram.Length, name, nameLength, control == null ? null : &msg);
            return Retry<SendOne, SendResult>(ref one, Writable, deadline);
        }
    }

    private readonly unsafe struct SendOne(DatagramSocket socket, byte* data, int length, byte* name, uint nameLength, MsgHdr* message) : IAttempt<SendResult>
    {
        public int Try(int fd, out SendResult result)
        {
            nint n = message == null
                ? Libc.SendTo(fd, data, (nuint)length, Const.MSG_DONTWAIT | Const.MSG_NOSIGNAL, name, nameLength)
                : Libc.SendMsg(fd, message, Const.MSG_DONTWAIT | Const.MSG_NOSIGNAL);
            if (n < 0)
            {
                result = default;
                return Marshal.GetLastPInvokeError();
            }
            Interlocked.Increment(ref socket.Statistics._sent);
            Interlocked.Increment(ref socket.Statistics._sendCalls);
            result = new SendResult(SendStatus.Sent, (int)n, 0);
            return 0;
        }

        public SendResult Closed() => SendResult.Closed;

        public SendResult TimedOut() => new(SendStatus.TimedOut, 0, 0);

        public SendResult Failed(int errno)
        {
            Interlocked.Increment(ref socket.Statistics._sendErrors);
            return new SendResult(SendStatus.Error, 0, errno);
        }
    }

    /// <summary>Most segments one <see cref="SendSegmented"/> call takes (the kernel's UDP_MAX_SEGMENTS before Linux 6.9).</summary>
    public const int MaxSegments = 64;

    /// <summary>
    /// Sends <paramref name="data"/> as datagrams of <paramref name="segmentSize"/> bytes each (the last
    /// may be shorter), in order, to one destination, with one system call: UDP generic segmentation
    /// offload (a UDP_SEGMENT cmsg), so the stack is traversed once for the lot. Where the kernel or the
    /// route cannot segment (no GSO, or a segment longer than the path MTU), it falls back to one sendto
    /// per segment, which the receiver cannot tell apart. Waits up to <paramref name="timeout"/> while the
    /// send buffer is full. Allocates nothing for an <see cref="IPEndPoint"/>.
    /// </summary>
    /// <returns>How many datagrams went (all, or none with GSO; with the fallback, those before a failure).</returns>
    public unsafe BatchSendResult SendSegmented(ReadOnlySpan<byte> data, int segmentSize, EndPoint destination, TimeSpan timeout)
    {
        const string op = nameof(SendSegmented);
        RequireIp(op);
        int timeoutMs = TimeoutMs(op, timeout);
        destination = ValidateEndPoint(op, destination);
        RequireRange(op, segmentSize, 1, 65507);
        int segments = data.Length == 0 ? 1 : (data.Length + segmentSize - 1) / segmentSize;
        if (segments > MaxSegments || data.Length > 65507)
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, $"{data.Length} bytes in {segments} segments",
                $"at most {MaxSegments} segments and 65507 bytes per call");
        }
        Deadline deadline = new(timeoutMs); // one timeout for the whole call, the fallback's sends included
        byte* name = stackalloc byte[Const.SockAddrStorage];
        int nameLength = SockAddr.Write(new Span<byte>(name, Const.SockAddrStorage), destination);
        if (segments == 1) return ToBatch(SendCore(data, name, (uint)nameLength, deadline), 1);

        byte* control = stackalloc byte[ControlMessages.Space(sizeof(ushort))];
        int controlSpace = ControlMessages.Write(control, Const.SOL_UDP, Const.UDP_SEGMENT, (ushort)segmentSize);
        BatchSendResult gso;
        fixed (byte* p = data)
        {
            IoVec iov = new() { Base = p, Length = (nuint)data.Length };
            MsgHdr msg = new() { Name = name, NameLength = (uint)nameLength, Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSpace };
            SendSegments all = new(this, &msg, segments);
            gso = Retry<SendSegments, BatchSendResult>(ref all, Writable, deadline);
        }
        if (gso.Status != SendStatus.Error) return gso;
        int errno = gso.Errno;
        // Input is checked above, so EMSGSIZE or EINVAL mean a segment longer than the path MTU (which
        // GSO cannot fragment; the kernel has answered both) or no GSO; EIO: the device cannot checksum;
        // ENOPROTOOPT: an old kernel. Segment by hand: each datagram then goes as a plain send would.
        if (errno is not (Errno.EMSGSIZE or Errno.EINVAL or Errno.EIO or Errno.ENOPROTOOPT))
        {
            Interlocked.Increment(ref Statistics._sendErrors);
            return new BatchSendResult(SendStatus.Error, 0, errno);
        }
        Interlocked.Increment(ref Statistics._segmentationFallbacks);
        int sent = 0;
        for (int offset = 0; offset < data.Length; offset += segmentSize, sent++)
        {
            SendResult r = SendCore(data.Slice(offset, Math.Min(segmentSize, data.Length - offset)), name, (uint)nameLength, deadline);
            if (r.Status != SendStatus.Sent) return new BatchSendResult(r.Status, sent, r.Errno);
        }
        return new BatchSendResult(SendStatus.Sent, sent, 0);

        static BatchSendResult ToBatch(SendResult r, int n) => new(r.Status, r.Status == SendStatus.Sent ? n : 0, r.Errno);
    }

    /// <summary>One UDP GSO sendmsg; its errors are not counted here (the caller may fall back).</summary>
    private readonly unsafe struct SendSegments(DatagramSocket socket, MsgHdr* msg, int segments) : IAttempt<BatchSendResult>
    {
        public int Try(int fd, out BatchSendResult result)
        {
            result = default;
            if (Libc.SendMsg(fd, msg, Const.MSG_DONTWAIT | Const.MSG_NOSIGNAL) < 0) return Marshal.GetLastPInvokeError();
            Interlocked.Add(ref socket.Statistics._sent, segments);
            Interlocked.Increment(ref socket.Statistics._sendCalls);
            result = new BatchSendResult(SendStatus.Sent, segments, 0);
            return 0;
        }

        public BatchSendResult Closed() => BatchSendResult.Closed;

        public BatchSendResult TimedOut() => new(SendStatus.TimedOut, 0, 0);

        public BatchSendResult Failed(int errno) => new(SendStatus.Error, 0, errno);
    }

    /// <summary>
    /// Sends every datagram of <paramref name="batch"/> with sendmmsg, in order, as few system calls as
    /// the kernel allows; waits up to <paramref name="timeout"/> while the send buffer is full. A datagram
    /// the kernel refuses stops the batch there: the result says how many went and why the next did not.
    /// Allocates nothing. The batch is left as it was (clear it to reuse).
    /// </summary>
    public BatchSendResult SendBatch(DatagramSendBatch batch, TimeSpan timeout)
    {
        int timeoutMs = TimeoutMs(nameof(SendBatch), timeout);
        ArgumentNullExceptionIfNull(nameof(SendBatch), batch);
        SendMany many = new(this, batch);
        BatchSendResult result = Retry<SendMany, BatchSendResult>(ref many, Writable, new Deadline(timeoutMs));
        batch.KeepAlive();
        return result;
    }

    /// <summary>sendmmsg from where the last call stopped; each result adds what went to the statistics.</summary>
    private unsafe struct SendMany(DatagramSocket socket, DatagramSendBatch batch) : IAttempt<BatchSendResult>
    {
        private readonly int _count = batch.Count;
        private int _sent;

        public int Try(int fd, out BatchSendResult result)
        {
            result = default;
            if (_sent == _count)
            {
                result = Done(SendStatus.Sent, 0);
                return 0;
            }
            int n = Libc.SendMMsg(fd, batch.Headers + _sent, (uint)(_count - _sent), Const.MSG_DONTWAIT | Const.MSG_NOSIGNAL);
            if (n <= 0) return Marshal.GetLastPInvokeError();
            _sent += n;
            Interlocked.Increment(ref socket.Statistics._sendCalls);
            return Again;
        }

        public readonly BatchSendResult Closed() => Done(SendStatus.Closed, Errno.EBADF);

        public readonly BatchSendResult TimedOut() => Done(SendStatus.TimedOut, 0);

        public readonly BatchSendResult Failed(int errno)
        {
            Interlocked.Increment(ref socket.Statistics._sendErrors);
            return Done(SendStatus.Error, errno);
        }

        private readonly BatchSendResult Done(SendStatus status, int errno)
        {
            Interlocked.Add(ref socket.Statistics._sent, _sent);
            return new BatchSendResult(status, _sent, errno);
        }
    }
}
