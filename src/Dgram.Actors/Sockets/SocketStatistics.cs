namespace Dgram.Actors.Sockets;

/// <summary>Counters of one socket; every datagram the library does not hand to the caller is counted here.</summary>
public sealed class SocketStatistics
{
    internal long _received, _truncated, _filteredByInterface, _controlTruncated, _sent, _sendCalls, _segmentationFallbacks, _sendErrors, _receiveErrors;

    /// <summary>Datagrams handed to callers.</summary>
    public long DatagramsReceived => Volatile.Read(ref _received);
    /// <summary>Datagrams whose tail was cut because the caller's buffer was too small.</summary>
    public long Truncated => Volatile.Read(ref _truncated);
    /// <summary>Multicast datagrams dropped because they arrived on an interface the socket did not join on.</summary>
    public long FilteredByInterface => Volatile.Read(ref _filteredByInterface);
    /// <summary>Datagrams whose ancillary data did not fit the control buffer (MSG_CTRUNC).</summary>
    public long ControlTruncated => Volatile.Read(ref _controlTruncated);
    /// <summary>Datagrams sent.</summary>
    public long DatagramsSent => Volatile.Read(ref _sent);
    /// <summary>Successful send system calls (sendto, or sendmmsg however many datagrams it took): sent / calls is the batching achieved.</summary>
    public long SendSystemCalls => Volatile.Read(ref _sendCalls);
    /// <summary>Segmented sends (<see cref="DatagramSocket.SendSegmented"/>) the kernel could not offload, sent one datagram at a time instead.</summary>
    public long SegmentationFallbacks => Volatile.Read(ref _segmentationFallbacks);
    /// <summary>Sends that failed with an errno.</summary>
    public long SendErrors => Volatile.Read(ref _sendErrors);
    /// <summary>Receives that failed with an errno.</summary>
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);
}
