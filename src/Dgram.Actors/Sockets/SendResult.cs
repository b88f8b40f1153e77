namespace Dgram.Actors.Sockets;

/// <summary>How a send ended.</summary>
public enum SendStatus : byte
{
    /// <summary>The whole datagram was handed to the kernel.</summary>
    Sent,
    /// <summary>The send buffer stayed full for the whole timeout (the seed's <c>timeout</c> flag).</summary>
    TimedOut,
    /// <summary>The kernel reported an error; see <see cref="SendResult.Errno"/>.</summary>
    Error,
    /// <summary>The socket was closed.</summary>
    Closed,
}

/// <summary>The outcome of one send, as a value: the hot path never throws and never allocates.</summary>
public readonly struct SendResult
{
    internal SendResult(SendStatus status, int bytesSent, int errno) { Status = status; BytesSent = bytesSent; Errno = errno; }

    /// <summary>A send on a closed socket: Closed with EBADF, as every closed operation reports.</summary>
    internal static SendResult Closed => new(SendStatus.Closed, 0, Native.Errno.EBADF);

    /// <summary>How the send ended.</summary>
    public SendStatus Status { get; }
    /// <summary>Bytes sent (the whole datagram, or 0).</summary>
    public int BytesSent { get; }
    /// <summary>The errno when <see cref="Status"/> is <see cref="SendStatus.Error"/>, EBADF when <see cref="SendStatus.Closed"/>, else 0.</summary>
    public int Errno { get; }
    /// <summary>The errno's name (<c>EACCES</c>), or null.</summary>
    public string? ErrorName => Errno == 0 ? null : Native.Errno.Name(Errno);
    /// <summary>True when the send buffer stayed full for the whole timeout.</summary>
    public bool TimedOut => Status == SendStatus.TimedOut;

    /// <inheritdoc />
    public override string ToString() => Status == SendStatus.Error ? $"Error {ErrorName}" : $"{Status} {BytesSent} B";
}
