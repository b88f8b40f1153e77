using System.Net;
using System.Runtime.CompilerServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>How a receive ended.</summary>
public enum ReceiveStatus : byte
{
    /// <summary>A datagram was received (possibly empty, possibly truncated).</summary>
    Received,
    /// <summary>No datagram arrived within the timeout (the seed's <c>timeout</c> flag).</summary>
    TimedOut,
    /// <summary>The kernel reported an error; see <see cref="ReceiveResult.Errno"/>.</summary>
    Error,
    /// <summary>The socket was closed before or during the wait.</summary>
    Closed,
}

/// <summary>
/// The outcome of one receive, as a value: the hot path never throws and never allocates.
/// Metadata fields are filled only when the matching <see cref="ReceiveMetadata"/> is enabled.
/// </summary>
[SkipLocalsInit]
public readonly struct ReceiveResult
{
    private readonly Address16 _destination;

    internal ReceiveResult(ReceiveStatus status, int errno) : this() { Status = status; Errno = errno; HopLimit = -1; TrafficClass = -1; }

    /// <summary>A receive on a closed socket: Closed with EBADF, as every closed operation reports.</summary>
    internal static ReceiveResult Closed => new(ReceiveStatus.Closed, Native.Errno.EBADF);

    internal ReceiveResult(int length, int datagramLength, in ReceiveMetadataValues meta) : this()
    {
        Status = ReceiveStatus.Received;
        BytesReceived = length;
        DatagramLength = datagramLength;
        InterfaceIndex = meta.InterfaceIndex;
        _destination = meta.Destination;
        DestinationFamily = meta.DestinationFamily;
        HopLimit = meta.HopLimit;
        TrafficClass = meta.TrafficClass;
        KernelDropCount = meta.KernelDropCount;
        TimestampNanoseconds = meta.TimestampNanoseconds;
        ControlTruncated = meta.ControlTruncated;
    }

    /// <summary>How the receive ended.</summary>
    public ReceiveStatus Status { get; }
    /// <summary>Bytes written into the caller's buffer.</summary>
    public int BytesReceived { get; }
    /// <summary>The datagram's real length (MSG_TRUNC); larger than <see cref="BytesReceived"/> when truncated.</summary>
    public int DatagramLength { get; }
    /// <summary>True when the datagram did not fit the buffer and its tail was discarded.</summary>
    public bool Truncated => DatagramLength > BytesReceived;
    /// <summary>The errno when <see cref="Status"/> is <see cref="ReceiveStatus.Error"/>, EBADF when <see cref="ReceiveStatus.Closed"/>, else 0.</summary>
    public int Errno { get; }
    /// <summary>The errno's name (<c>ECONNREFUSED</c>), or null.</summary>
    public string? ErrorName => Errno == 0 ? null : Native.Errno.Name(Errno);
    /// <summary>True when no datagram arrived within the timeout.</summary>
    public bool TimedOut => Status == ReceiveStatus.TimedOut;
    /// <summary>Arrival interface index (IP_PKTINFO / IPV6_PKTINFO), 0 when unknown.</summary>
    public int InterfaceIndex { get; }
    /// <summary>2 (IPv4) or 10 (IPv6) when the destination address is known (packet info), else 0.</summary>
    internal int DestinationFamily { get; }
    /// <summary>True when <see cref="GetDestinationAddress"/> has a value.</summary>
    public bool HasDestination => DestinationFamily != 0;
    /// <summary>TTL / hop limit of the datagram (IP_RECVTTL / IPV6_RECVHOPLIMIT), -1 when unknown.</summary>
    public int HopLimit { get; }
    /// <summary>TOS / traffic class of the datagram (IP_RECVTOS / IPV6_RECVTCLASS), -1 when unknown.</summary>
    public int TrafficClass { get; }
    /// <summary>
    /// The kernel's cumulative count of datagrams dropped on this socket's full queue (SO_RXQ_OVFL), as it
    /// stood when this datagram was queued (not when it was read), so drops show on the next datagram
    /// queued after them. Null when <see cref="ReceiveMetadata.QueueOverflow"/> is off.
    /// </summary>
    public uint? KernelDropCount { get; }
    /// <summary>Kernel receive time (SO_TIMESTAMPNS) in nanoseconds since the Unix epoch, 0 when unknown.</summary>
    public long TimestampNanoseconds { get; }
    /// <summary>The control buffer was too small for all ancillary data (MSG_CTRUNC); some metadata is missing.</summary>
    public bool ControlTruncated { get; }

    /// <summary>The datagram's destination address (which group or unicast address it was sent to); allocates.</summary>
    public IPAddress? GetDestinationAddress() => DestinationFamily switch
    {
        Const.AF_INET => new IPAddress(((ReadOnlySpan<byte>)_destination)[..4]),
        Const.AF_INET6 => new IPAddress((ReadOnlySpan<byte>)_destination),
        _ => null,
    };

    /// <summary>Compares the destination with <paramref name="address"/> without allocating.</summary>
    public bool DestinationEquals(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        return DestinationFamily != 0 && address.TryWriteBytes(bytes, out int n)
            && n == (DestinationFamily == Const.AF_INET ? 4 : 16)
            && bytes[..n].SequenceEqual(((ReadOnlySpan<byte>)_destination)[..n]);
    }

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        ReceiveStatus.Received => $"Received {BytesReceived}/{DatagramLength} B if={InterfaceIndex} hops={HopLimit}",
        ReceiveStatus.Error => $"Error {ErrorName}",
        _ => Status.ToString(),
    };
}

/// <summary>Sixteen bytes inline: an IPv4 or IPv6 address without a heap object.</summary>
[InlineArray(16)]
internal struct Address16
{
    private byte _element0;
}

/// <summary>Ancillary data parsed from one recvmsg.</summary>
internal struct ReceiveMetadataValues
{
    public int InterfaceIndex;
    public Address16 Destination;
    public int DestinationFamily;
    public int HopLimit;
    public int TrafficClass;
    public uint? KernelDropCount;
    public long TimestampNanoseconds;
    public bool ControlTruncated;
}
