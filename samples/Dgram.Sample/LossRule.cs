using System.Globalization;

namespace Dgram.Sample;

/// <summary>
/// A fault window in sequence numbers. When the fault begins, each publisher's next datagram is the
/// window's first; when its recovery is observed, each publisher's last sent datagram is the window's
/// last. No time and no margin: a datagram is inside exactly when its number lies between the two.
/// </summary>
internal sealed class FaultWindow(string name, string? socket, long[] sentBefore)
{
    private long[]? _sentByEnd;

    public string Name { get; } = name;
    /// <summary>The socket the fault can disturb; null for every socket.</summary>
    public string? Socket { get; } = socket;
    public long StartedAt { get; } = Environment.TickCount64;
    public long EndedAt { get; private set; }
    public bool Closed => _sentByEnd is not null;

    public (long First, long Last) Range(int publisher) => (sentBefore[publisher] + 1, _sentByEnd is null ? long.MaxValue : _sentByEnd[publisher]);

    /// <summary>Whether the window explains a loss of this datagram at this socket (an open window explains nothing).</summary>
    public bool Covers(string socket, int publisher, long sequence)
    {
        var (first, last) = Range(publisher);
        return Closed && (Socket is null || Socket == socket) && sequence >= first && sequence <= last;
    }

    public void Close(long[] sentByEnd)
    {
        if (Closed) throw new InvalidOperationException($"fault window '{Name}' closed twice");
        EndedAt = Environment.TickCount64;
        _sentByEnd = sentByEnd;
    }

    public string Describe(IReadOnlyList<string> publishers) => Closed
        ? string.Create(CultureInfo.InvariantCulture, $"{Name}: recovered in {EndedAt - StartedAt} ms ({string.Join(", ", publishers.Select((p, i) => $"{p} #{Range(i).First}-#{Range(i).Last}"))})")
        : $"{Name}: recovering";
}

/// <summary>The datagrams of one publisher that arrived at one socket: a bit per sequence number, and the repeats.</summary>
internal sealed class Arrivals
{
    private readonly object _lock = new();
    private ulong[] _bits = new ulong[256];
    private long _count, _duplicates, _highest;

    public long Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>The highest sequence number that arrived.</summary>
    public long Highest
    {
        get { lock (_lock) return _highest; }
    }

    /// <summary>Datagrams that arrived again after their first arrival (counted, not added).</summary>
    public long Duplicates
    {
        get { lock (_lock) return _duplicates; }
    }

    public void Add(long sequence)
    {
        if (sequence <= 0) return;
        lock (_lock)
        {
            long word = sequence >> 6;
            if (word >= _bits.Length) Array.Resize(ref _bits, (int)Math.Max(_bits.Length * 2, word + 1));
            ulong bit = 1UL << (int)(sequence & 63);
            if ((_bits[word] & bit) != 0)
            {
                _duplicates++;
                return;
            }
            _bits[word] |= bit;
            _count++;
            _highest = Math.Max(_highest, sequence);
        }
    }

    /// <summary>
    /// Whether <paramref name="run"/> consecutive sequence numbers after <paramref name="after"/> have all arrived:
    /// the stream is steady again after a fault (a first datagram alone may still be followed by a loss).
    /// </summary>
    public bool SteadyAfter(long after, int run)
    {
        lock (_lock)
        {
            int length = 0;
            for (long seq = after + 1; seq <= _highest; seq++)
            {
                length = Has(seq) ? length + 1 : 0;
                if (length >= run) return true;
            }
            return false;
        }
    }

    public bool Has(long sequence)
    {
        lock (_lock)
        {
            long word = sequence >> 6;
            return word < _bits.Length && (_bits[word] & (1UL << (int)(sequence & 63))) != 0;
        }
    }
}

/// <summary>What a socket should have got of one publisher: every sequence number up to its last sent.</summary>
internal sealed record Expected(string Socket, int Publisher, string PublisherName, long LastSent, Arrivals Arrivals);

/// <summary>The verdict: datagrams lost, those a window explains, the rest, and a few of the rest.</summary>
internal sealed record Tally(long Lost, long Explained, long Unexplained, IReadOnlyList<string> Examples);

/// <summary>
/// The sample's pass rule: a lost datagram is explained only when its own sequence number lies inside a
/// closed fault window that applies to the socket that lost it. Counted drops explain nothing here (the
/// sample opens no window for a condition whose drops are counted), and a loss at the tail, after the
/// last datagram that arrived, counts like any other.
/// </summary>
internal static class LossRule
{
    public static Tally Count(IEnumerable<Expected> expected, IReadOnlyList<FaultWindow> windows)
    {
        long lost = 0, explained = 0;
        var examples = new List<string>();
        foreach (Expected e in expected)
        {
            for (long seq = 1; seq <= e.LastSent; seq++)
            {
                if (e.Arrivals.Has(seq)) continue;
                lost++;
                if (windows.Any(w => w.Covers(e.Socket, e.Publisher, seq))) explained++;
                else if (examples.Count < 10) examples.Add($"{e.Socket} {e.PublisherName} #{seq}: {Nearest(windows, e, seq)}");
            }
        }
        return new Tally(lost, explained, lost - explained, examples);
    }

    private static string Nearest(IReadOnlyList<FaultWindow> windows, Expected e, long seq)
    {
        FaultWindow? w = windows.Where(w => w.Closed && (w.Socket is null || w.Socket == e.Socket))
            .MinBy(w => Math.Min(Math.Abs(seq - w.Range(e.Publisher).First), Math.Abs(seq - w.Range(e.Publisher).Last)));
        if (w is null) return "no fault window applies to this socket";
        var (first, last) = w.Range(e.Publisher);
        return seq < first ? $"{first - seq} before window '{w.Name}' (#{first}-#{last})" : $"{seq - last} after window '{w.Name}' (#{first}-#{last})";
    }
}
