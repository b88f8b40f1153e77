using System.Diagnostics.Metrics;

namespace Dgram.Cluster.Internal;

/// <summary>The bridge's instruments, on the meter <c>Dgram.Cluster</c>; tags: <c>group</c>, <c>site</c> (and <c>reason</c> for drops).</summary>
internal static class BridgeMetrics
{
    public const string MeterName = "Dgram.Cluster";
    private static readonly Meter s_meter = new(MeterName);

    public static readonly Counter<long> Ingress = s_meter.CreateCounter<long>("dgram.bridge.datagrams.in", "{datagram}", "Datagrams a site's ingress took from its segment.");
    public static readonly Counter<long> Emitted = s_meter.CreateCounter<long>("dgram.bridge.datagrams.out", "{datagram}", "Datagrams re-emitted onto a site's segment.");
    public static readonly Counter<long> Drops = s_meter.CreateCounter<long>("dgram.bridge.drops", "{datagram}", "Datagrams dropped by the bridge (reason: queue, window, send, unrouted), or sent and never confirmed by the peer (written_off).");
    public static readonly Counter<long> Lost = s_meter.CreateCounter<long>("dgram.bridge.lost", "{datagram}", "Gaps in an origin's sequence seen by a re-emitter.");
    public static readonly Counter<long> Duplicates = s_meter.CreateCounter<long>("dgram.bridge.duplicates", "{datagram}", "Datagrams a re-emitter had seen before, dropped.");
}
