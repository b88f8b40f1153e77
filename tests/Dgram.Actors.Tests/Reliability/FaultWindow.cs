using System.Diagnostics;

namespace Dgram.Actors.Tests.Reliability;

/// <summary>What explains a datagram lost inside a window (see <see cref="LossAccount"/>).</summary>
public enum WindowKind
{
    /// <summary>
    /// A fault that loses datagrams no counter sees (an interface away, a socket closed under its reader):
    /// it explains whatever its receivers lost of what was sent inside it.
    /// </summary>
    Fault,

    /// <summary>
    /// A condition whose losses are counted (a receive buffer overrun): only the drops counted inside the
    /// window, per receiver, explain what was lost of what was sent inside it.
    /// </summary>
    Counted,
}

/// <summary>
/// From just before a fault is injected until the kernel or the socket's events show recovery and a datagram
/// sent after that has arrived (delivery resumed), bounded by sequence markers: per stream, the datagrams sent between the two boundaries. Holds the drops each
/// receiver and the network counted between them.
/// </summary>
public sealed class FaultWindow
{
    private static readonly ReceiverDrops None = new(0, 0, 0, 0);
    private readonly Func<string, int, bool> _applies;
    private readonly long[] _sentBefore;
    private IReadOnlyDictionary<string, ReceiverDrops> _dropsAtStart; // released at the end: only the difference is kept
    private readonly NetworkDrops _networkAtStart;
    private readonly Dictionary<string, ReceiverDrops> _dropsDuring = [];
    private long[] _sentByEnd = [];

    internal FaultWindow(string name, WindowKind kind, Func<string, int, bool> applies, long[] sentBefore,
        IReadOnlyDictionary<string, ReceiverDrops> dropsAtStart, NetworkDrops networkAtStart)
    {
        Name = name;
        Kind = kind;
        _applies = applies;
        _sentBefore = sentBefore;
        _dropsAtStart = dropsAtStart;
        _networkAtStart = networkAtStart;
        Start = LossAccount.Now();
    }

    public string Name { get; }
    public WindowKind Kind { get; }
    public long Start { get; }
    public long End { get; private set; }
    public bool Closed => End != 0;
    public NetworkDrops NetworkDuring { get; private set; }
    public TimeSpan Duration => Closed ? Stopwatch.GetElapsedTime(Start, End) : Stopwatch.GetElapsedTime(Start);

    public bool Applies(string receiver, int stream) => _applies(receiver, stream);

    /// <summary>The first and last sequence number of a stream sent inside the window (last below first: none).</summary>
    public (long First, long Last) Range(int stream) => (At(_sentBefore, stream) + 1, At(_sentByEnd, stream));

    /// <summary>Whether the datagram was sent inside the (closed) window.</summary>
    public bool Covers(int stream, long sequence)
    {
        var (first, last) = Range(stream);
        return Closed && sequence >= first && sequence <= last;
    }

    /// <summary>How many sequence numbers the datagram lies outside the window (0 inside).</summary>
    public long Distance(int stream, long sequence)
    {
        var (first, last) = Range(stream);
        return sequence < first ? first - sequence : sequence > last ? sequence - last : 0;
    }

    /// <summary>The drops a receiver counted between the window's boundaries.</summary>
    public ReceiverDrops DropsDuring(string receiver) => _dropsDuring.GetValueOrDefault(receiver) ?? None;

    /// <summary>The drops counted inside the window that may explain a receiver's losses in it: its own and the network's.</summary>
    public long CountedFor(string receiver) => DropsDuring(receiver).Total + Math.Max(0, NetworkDuring.Total);

    internal void Close(long end, long[] sentByEnd, IReadOnlyDictionary<string, ReceiverDrops> dropsAtEnd, NetworkDrops networkAtEnd)
    {
        if (Closed) throw new InvalidOperationException($"window {Name} closed twice");
        _sentByEnd = sentByEnd;
        // A receiver added after the window began counted all its drops inside it.
        foreach (var (receiver, drops) in dropsAtEnd) _dropsDuring[receiver] = _dropsAtStart.TryGetValue(receiver, out var start) ? drops.Since(start) : drops;
        _dropsAtStart = new Dictionary<string, ReceiverDrops>();
        NetworkDuring = networkAtEnd - _networkAtStart;
        End = end;
    }

    private static long At(long[] counts, int stream) => stream < counts.Length ? counts[stream] : 0;
}
