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
/// <remarks>
/// Its counts are kept in arrays indexed by stream and by receiver (the order they were added to the
/// account), made before the account's first window (<see cref="LossAccount"/> preallocates windows), so a
/// soak's heap trend does not count the windows it keeps as growth of the library.
/// </remarks>
public sealed class FaultWindow
{
    private readonly Func<string, int> _receiverIndex;
    private long[] _sentBefore, _sentByEnd;
    private ReceiverDrops[] _dropsAtStart, _dropsDuring;
    private NetworkDrops _networkAtStart;
    private Func<string, int, bool> _applies = (_, _) => false;

    /// <summary>An unused window sized for <paramref name="streams"/> streams and <paramref name="receivers"/> receivers, whose indices <paramref name="receiverIndex"/> gives (-1: unknown).</summary>
    internal FaultWindow(int streams, int receivers, Func<string, int> receiverIndex)
    {
        _receiverIndex = receiverIndex;
        _sentBefore = new long[streams];
        _sentByEnd = new long[streams];
        _dropsAtStart = new ReceiverDrops[receivers];
        _dropsDuring = new ReceiverDrops[receivers];
    }

    public string Name { get; private set; } = "";
    public WindowKind Kind { get; private set; }
    public long Start { get; private set; }
    public long End { get; private set; }
    public bool Closed => End != 0;
    public NetworkDrops NetworkDuring { get; private set; }
    public TimeSpan Duration => Closed ? Stopwatch.GetElapsedTime(Start, End) : Stopwatch.GetElapsedTime(Start);

    public bool Applies(string receiver, int stream) => _applies(receiver, stream);

    /// <summary>The first and last sequence number of a stream sent inside the window (last below first: none).</summary>
    public (long First, long Last) Range(int stream) => (At(_sentBefore, stream) + 1, Closed ? At(_sentByEnd, stream) : 0);

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
    public ReceiverDrops DropsDuring(string receiver)
    {
        int i = _receiverIndex(receiver);
        return Closed && i >= 0 && i < _dropsDuring.Length ? _dropsDuring[i] : default;
    }

    /// <summary>The drops counted inside the window that may explain a receiver's losses in it: its own and the network's.</summary>
    public long CountedFor(string receiver) => DropsDuring(receiver).Total + Math.Max(0, NetworkDuring.Total);

    /// <summary>Opens the window: what each stream had sent (<paramref name="sentBefore"/>) and each receiver had counted.</summary>
    internal void Open(string name, WindowKind kind, Func<string, int, bool> applies, ReadOnlySpan<long> sentBefore,
        ReadOnlySpan<ReceiverDrops> dropsAtStart, NetworkDrops networkAtStart)
    {
        if (Start != 0) throw new InvalidOperationException($"window {Name} opened twice");
        Name = name;
        Kind = kind;
        _applies = applies;
        Copy(sentBefore, ref _sentBefore);
        Copy(dropsAtStart, ref _dropsAtStart);
        _networkAtStart = networkAtStart;
        Start = LossAccount.Now();
    }

    /// <summary>
    /// Closes the window. A receiver added after the window began counted all its drops inside it (its
    /// start counts are zero).
    /// </summary>
    internal void Close(long end, ReadOnlySpan<long> sentByEnd, ReadOnlySpan<ReceiverDrops> dropsAtEnd, NetworkDrops networkAtEnd)
    {
        if (Closed) throw new InvalidOperationException($"window {Name} closed twice");
        Copy(sentByEnd, ref _sentByEnd);
        if (_dropsDuring.Length < dropsAtEnd.Length) Array.Resize(ref _dropsDuring, dropsAtEnd.Length);
        for (int i = 0; i < dropsAtEnd.Length; i++) _dropsDuring[i] = dropsAtEnd[i].Since(i < _dropsAtStart.Length ? _dropsAtStart[i] : default);
        NetworkDuring = networkAtEnd - _networkAtStart;
        End = end;
    }

    /// <summary>Copies into the window's own array, growing it only when streams or receivers were added after it was made.</summary>
    private static void Copy<T>(ReadOnlySpan<T> from, ref T[] to)
    {
        if (to.Length < from.Length) Array.Resize(ref to, from.Length);
        from.CopyTo(to);
    }

    private static long At(long[] counts, int stream) => stream < counts.Length ? counts[stream] : 0;
}
