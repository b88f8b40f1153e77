using System.Globalization;
using System.Text;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>One (receiver, stream) pair at the end.</summary>
public sealed record StreamFigures(string Receiver, string Stream, long Sent, long Received, long MissingInWindows, long MissingOutside, long Duplicates, long Reordered);

/// <summary>One receiver at the end: its losses, its drops counted over the whole run, and what no window explains.</summary>
public sealed record ReceiverFigures(string Receiver, long Missing, long MissingOutside, ReceiverDrops Drops, long Unexplained);

/// <summary>One closed window: what its receivers lost of what was sent inside, and the drops counted inside it.</summary>
/// <param name="Unexplained">For a counted window, its losses beyond its own drops, summed over receivers; 0 for a fault window.</param>
public sealed record WindowFigures(string Name, WindowKind Kind, TimeSpan Duration, long Lost, long ReceiverDrops, NetworkDrops Network, long Unexplained)
{
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Name} ({(Kind == WindowKind.Fault ? "fault" : "counted")}): {Duration.TotalMilliseconds:F0} ms, lost {Lost}, drops counted inside: receivers {ReceiverDrops}, network {Network.Total}{(Kind == WindowKind.Counted ? $", unexplained {Unexplained}" : "")}");
}

/// <summary>Everything the account found; <see cref="Describe"/> prints it.</summary>
public sealed record LossReport(IReadOnlyList<StreamFigures> Streams, IReadOnlyList<ReceiverFigures> Receivers, NetworkDrops Network,
    IReadOnlyList<WindowFigures> Windows, IReadOnlyList<string> OpenWindows, IReadOnlyList<string> OutsideExamples)
{
    public long Unexplained => Receivers.Sum(r => r.Unexplained);
    public long Duplicates => Streams.Sum(s => s.Duplicates);
    public long Reordered => Streams.Sum(s => s.Reordered);

    public string Describe()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"receiver",-12} {"stream",-24} {"sent",8} {"received",9} {"lost-in-window",15} {"lost-outside",13} {"dup",4} {"reorder",8}");
        foreach (var s in Streams)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{s.Receiver,-12} {s.Stream,-24} {s.Sent,8} {s.Received,9} {s.MissingInWindows,15} {s.MissingOutside,13} {s.Duplicates,4} {s.Reordered,8}");
        }
        foreach (var r in Receivers)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"receiver {r.Receiver}: missing {r.Missing} (outside windows {r.MissingOutside}); drops over the run: subscriber {r.Drops.Subscriber}, kernel {r.Drops.Kernel} (SO_RXQ_OVFL {r.Drops.KernelOverflow}, /proc drops {r.Drops.KernelQueue}), no-consumer {r.Drops.NoConsumer}; unexplained {r.Unexplained}");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"network drops over the run: backlog {Network.Backlog}, interfaces {Network.Interfaces}");
        foreach (WindowFigures w in Windows) sb.AppendLine("window " + w.Describe());
        foreach (string w in OpenWindows) sb.AppendLine("OPEN window " + w);
        foreach (string e in OutsideExamples) sb.AppendLine("lost outside windows: " + e);
        sb.Append(CultureInfo.InvariantCulture, $"unexplained loss {Unexplained}, duplicates {Duplicates}, reordered {Reordered}");
        return sb.ToString();
    }
}
