using System.Diagnostics.Metrics;

namespace Dgram.Rx;

/// <summary>
/// The <c>Dgram.Rx</c> meter: what the Rx layer drops and detaches, each tagged with the socket (<c>socket</c>)
/// or the target actor (<c>pipe</c>). The sockets' own instruments are in the <c>Dgram.Actors</c> meter
/// (<see cref="Dgram.Actors.Diagnostics.DgramMetrics"/>); <c>AddMeter("Dgram.*")</c> exports both.
/// </summary>
public static class DgramRxMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Dgram.Rx";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    internal static readonly Counter<long> SubscriberDrops = s_meter.CreateCounter<long>("dgram.rx.drops.subscriber", "{datagram}",
        "Dropped by an Rx subscriber's buffer or a PipeTo target's mailbox bound");
    internal static readonly Counter<long> ObserverFaults = s_meter.CreateCounter<long>("dgram.rx.observer.faults", "{fault}", "OnNext threw; the subscription was ended");
}
