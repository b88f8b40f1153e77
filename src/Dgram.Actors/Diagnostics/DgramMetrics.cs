using System.Diagnostics.Metrics;

namespace Dgram.Actors.Diagnostics;

/// <summary>
/// The <c>Dgram.Actors</c> meter: datagrams and bytes received and sent, drops, send failures, restarts
/// and restored memberships, each tagged <c>socket</c> = the socket's name. The read loop adds once
/// per batch, not per datagram. One gauge for the whole process, untagged: <c>dgram.buffers.bytes</c>,
/// the batch storage the library holds.
/// </summary>
public static class DgramMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Dgram.Actors";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    internal static readonly Counter<long> DatagramsReceived = s_meter.CreateCounter<long>("dgram.datagrams.received", "{datagram}");
    internal static readonly Counter<long> BytesReceived = s_meter.CreateCounter<long>("dgram.bytes.received", "By");
    internal static readonly Counter<long> DatagramsSent = s_meter.CreateCounter<long>("dgram.datagrams.sent", "{datagram}");
    internal static readonly Counter<long> BytesSent = s_meter.CreateCounter<long>("dgram.bytes.sent", "By");
    internal static readonly Counter<long> SendFailures = s_meter.CreateCounter<long>("dgram.send.failures", "{datagram}");
    internal static readonly Counter<long> ReceiveErrors = s_meter.CreateCounter<long>("dgram.receive.errors", "{error}");
    internal static readonly Counter<long> KernelDrops = s_meter.CreateCounter<long>("dgram.drops.kernel", "{datagram}", "Dropped by the kernel on a full receive queue (SO_RXQ_OVFL)");
    internal static readonly Counter<long> NoConsumerDrops = s_meter.CreateCounter<long>("dgram.drops.no_consumer", "{datagram}", "Read while nobody consumed");
    internal static readonly Counter<long> Restarts = s_meter.CreateCounter<long>("dgram.restarts", "{restart}");
    internal static readonly Counter<long> MembershipsRestored = s_meter.CreateCounter<long>("dgram.memberships.restored", "{membership}");
    internal static readonly Counter<long> SubscriberDrops = s_meter.CreateCounter<long>("dgram.drops.subscriber", "{datagram}", "Dropped by an actor subscriber's mailbox bound (Rx subscribers count in the Dgram.Rx meter)");
    internal static readonly Counter<long> CommandsRefused = s_meter.CreateCounter<long>("dgram.commands.refused", "{command}", "Refused at once because the socket's queue was full");

    internal static readonly ObservableGauge<long> BufferBytes = s_meter.CreateObservableGauge("dgram.buffers.bytes", () => Sockets.BatchStorage.Bytes, "By",
        "Receive and send batch storage the library holds, pinned outside the moving heap");

    internal static KeyValuePair<string, object?> Tag(string socket) => new("socket", socket);
}
