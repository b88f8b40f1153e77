using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// <c>listen --seq</c>: reads the big-endian 32-bit sequence number at the start of each payload (iperf2's
/// UDP datagram id, the counter <c>dgram send --seq</c> writes) and counts per source (address and port)
/// what was lost, what came out of order and what came twice. Memory is bounded: a window of the last
/// <see cref="Window"/> numbers per source, at most <see cref="MaxSources"/> sources (datagrams from
/// further sources are counted as untracked). A negative number (top bit set) is an end marker: iperf2's
/// client sends its last datagram, repeated, with the id negated.
/// </summary>
internal sealed class SequenceTracker
{
    public const int MaxSources = 1024;
    public const int Window = 4096; // numbers per source; a datagram older than that is "late"

    private readonly Dictionary<SourceKey, SourceSequence> _sources = [];

    /// <summary>Datagrams from sources beyond the first <see cref="MaxSources"/>.</summary>
    public long Untracked { get; private set; }

    /// <summary>Datagrams too short to hold a sequence number.</summary>
    public long Short { get; private set; }

    /// <summary>Counts datagram <paramref name="index"/> of <paramref name="batch"/>.</summary>
    public void Add(DatagramBatch batch, int index)
    {
        ReadOnlySpan<byte> payload = batch.Payload(index);
        if (payload.Length < 4)
        {
            Short++;
            return;
        }
        ReadOnlySpan<byte> sockaddr = batch.SourceAddress(index);
        var key = SourceKey.From(sockaddr);
        if (!_sources.TryGetValue(key, out SourceSequence? source))
        {
            if (_sources.Count >= MaxSources)
            {
                Untracked++;
                return;
            }
            source = new SourceSequence(batch.GetSource(index)?.ToString() ?? "?");
            _sources.Add(key, source);
        }
        source.Add(BinaryPrimitives.ReadUInt32BigEndian(payload));
    }

    /// <summary>One summary line per source, in order of first arrival, then the untracked and short counts.</summary>
    public IEnumerable<string> SummaryLines()
    {
        foreach (SourceSequence s in _sources.Values) yield return s.Summary();
        if (Untracked > 0) yield return $"seq untracked: {Untracked} datagram(s) from sources beyond the first {MaxSources}";
        if (Short > 0) yield return $"seq short: {Short} datagram(s) shorter than the 4-byte sequence number";
    }

    /// <summary>Lost datagrams over all tracked sources so far.</summary>
    public long Lost => _sources.Values.Sum(s => s.Lost);

    /// <summary>A sender's address and port, from its raw sockaddr, as a dictionary key that allocates nothing.</summary>
    private readonly record struct SourceKey(UInt128 Address, uint FamilyAndPort, uint Scope)
    {
        public static SourceKey From(ReadOnlySpan<byte> sockaddr)
        {
            // sockaddr_in: family (2), port (2), address (4); sockaddr_in6: family, port, flowinfo (4), address (16), scope (4).
            uint familyAndPort = sockaddr.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(sockaddr) : 0;
            if (sockaddr.Length >= 28)
            {
                return new SourceKey(BinaryPrimitives.ReadUInt128LittleEndian(sockaddr[8..]), familyAndPort, BinaryPrimitives.ReadUInt32LittleEndian(sockaddr[24..]));
            }
            return new SourceKey(sockaddr.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(sockaddr[4..]) : 0, familyAndPort, 0);
        }
    }
}

/// <summary>One source's sequence: the highest number seen and a bitmap of the <see cref="SequenceTracker.Window"/> below it.</summary>
internal sealed class SourceSequence(string name)
{
    private const int W = SequenceTracker.Window;
    private readonly ulong[] _seen = new ulong[W / 64];
    private bool _started;
    private long _first, _highest;
    private long _distinct;

    public long Received { get; private set; }
    public long OutOfOrder { get; private set; }
    public long Duplicates { get; private set; }
    /// <summary>Below the window: too old to tell a late arrival from a duplicate (counted as neither, nor as lost).</summary>
    public long Late { get; private set; }
    public long EndMarkers { get; private set; }

    /// <summary>Numbers from the first to the highest seen that never arrived (a late one, beyond the window, counts as arrived).</summary>
    public long Lost => _started ? Math.Max(0, _highest - _first + 1 - _distinct - Late) : 0;

    public void Add(uint raw)
    {
        if ((int)raw < 0)
        {
            EndMarkers++;
            return;
        }
        long n = raw;
        Received++;
        if (!_started)
        {
            _started = true;
            _first = _highest = n;
            Mark(n);
            _distinct++;
            return;
        }
        if (n > _highest)
        {
            // The numbers skipped over leave the window's bitmap unset (their slots may hold older marks).
            for (long k = _highest + 1; k < n && k <= _highest + W; k++) Clear(k);
            _highest = n;
            Mark(n);
            _distinct++;
        }
        else if (_highest - n >= W)
        {
            Late++;
        }
        else if (IsMarked(n) && n >= _first)
        {
            Duplicates++;
        }
        else
        {
            OutOfOrder++;
            _first = Math.Min(_first, n); // a number below the first one seen, overtaken by its successors
            Mark(n);
            _distinct++;
        }
    }

    private void Mark(long n) => _seen[(n % W) >> 6] |= 1UL << (int)(n & 63);

    private void Clear(long n) => _seen[(n % W) >> 6] &= ~(1UL << (int)(n & 63));

    private bool IsMarked(long n) => (_seen[(n % W) >> 6] & (1UL << (int)(n & 63))) != 0;

    public string Summary()
    {
        long expected = _started ? _highest - _first + 1 : 0;
        double percent = expected > 0 ? 100.0 * Lost / expected : 0;
        string range = _started ? $"{_first}-{_highest}" : "none";
        return string.Create(CultureInfo.InvariantCulture,
            $"seq {name}: received {Received}, numbers {range}, lost {Lost} ({percent:0.000}%), out of order {OutOfOrder}, duplicates {Duplicates}, late {Late}, end markers {EndMarkers}");
    }
}
