using System.Buffers.Binary;
using System.Net;

namespace Dgram.Cluster.Internal;

/// <summary>
/// One envelope: datagrams of one group, in order, from one origin (a site's ingress incarnation), numbered from
/// <see cref="FirstSequence"/>. The body holds records <c>[u8 address length 4|16][address][u16 port][u16 length][payload]</c>
/// (big-endian), so the original source travels with each datagram and the body is serialized as it is.
/// <see cref="Confirmed"/> is the last sequence number the receiving site had acknowledged when the envelope left
/// (-1: none): a re-emitter that has just taken over counts everything after it and before this envelope as lost.
/// </summary>
internal sealed class BridgeBatch(string group, string site, long origin, long firstSequence, int count, byte[] body, long confirmed = -1)
{
    /// <summary>Record bytes besides the payload, at most (an IPv6 source).</summary>
    public const int RecordOverhead = 1 + 16 + 2 + 2;

    /// <summary>The largest record: a 65,535-byte datagram from an IPv6 source.</summary>
    public const int MaxRecordBytes = RecordOverhead + 65_535;

    public string Group { get; } = group;
    public string Site { get; } = site;
    public long Origin { get; } = origin;
    public long FirstSequence { get; } = firstSequence;
    public int Count { get; } = count;
    public byte[] Body { get; } = body;
    public long Confirmed { get; } = confirmed;

    /// <summary>The same envelope (the same body) for a peer that has acknowledged up to <paramref name="confirmed"/>.</summary>
    public BridgeBatch For(long confirmed) => confirmed == Confirmed ? this : new(Group, Site, Origin, FirstSequence, Count, Body, confirmed);

    /// <summary>The sequence number of the last datagram.</summary>
    public long LastSequence => FirstSequence + Count - 1;

    /// <summary>Writes one record at the start of <paramref name="to"/>; returns its size. The caller made room (<see cref="RecordOverhead"/> + payload).</summary>
    public static int Write(Span<byte> to, ReadOnlySpan<byte> address, int port, ReadOnlySpan<byte> payload)
    {
        to[0] = (byte)address.Length;
        address.CopyTo(to[1..]);
        int at = 1 + address.Length;
        BinaryPrimitives.WriteUInt16BigEndian(to[at..], (ushort)port);
        BinaryPrimitives.WriteUInt16BigEndian(to[(at + 2)..], (ushort)payload.Length);
        payload.CopyTo(to[(at + 4)..]);
        return at + 4 + payload.Length;
    }

    /// <summary>
    /// Checks that <paramref name="body"/> holds exactly <paramref name="count"/> well-formed records; null when it
    /// does, else what is wrong (a peer's envelope is input like any datagram).
    /// </summary>
    public static string? Check(ReadOnlySpan<byte> body, int count)
    {
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            if (at >= body.Length) return $"record {i} of {count} is missing";
            int a = body[at];
            if (a is not (4 or 16)) return $"record {i}: address length {a}";
            if (at + 1 + a + 4 > body.Length) return $"record {i}: header past the end";
            int length = BinaryPrimitives.ReadUInt16BigEndian(body[(at + 1 + a + 2)..]);
            at += 1 + a + 4 + length;
            if (at > body.Length) return $"record {i}: payload past the end";
        }
        return at == body.Length ? null : $"{body.Length - at} bytes after the last record";
    }

    /// <summary>The records in order (the body was checked when it was made or deserialized).</summary>
    public RecordReader Records() => new(Body, Count);

    /// <summary>Reads records one by one without allocating.</summary>
    internal struct RecordReader(byte[] body, int count)
    {
        private int _at, _index;

        /// <summary>The next record's source and payload (a slice of the body); false after the last.</summary>
        public bool Next(out ReadOnlySpan<byte> address, out int port, out ReadOnlyMemory<byte> payload)
        {
            if (_index == count)
            {
                address = default;
                port = 0;
                payload = default;
                return false;
            }
            int a = body[_at];
            address = body.AsSpan(_at + 1, a);
            port = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(_at + 1 + a));
            int length = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(_at + 1 + a + 2));
            payload = body.AsMemory(_at + 1 + a + 4, length);
            _at += 1 + a + 4 + length;
            _index++;
            return true;
        }
    }

    /// <summary>A record's source as an endpoint (for Rx subscribers and logs; re-emission does not need it).</summary>
    public static IPEndPoint Source(ReadOnlySpan<byte> address, int port) => new(new IPAddress(address), port);

    public override string ToString() => $"BridgeBatch(group={Group}, site={Site}, origin={Origin:x16}, seq={FirstSequence}..{LastSequence}, confirmed={Confirmed}, {Body.Length} B)";
}

/// <summary>A re-emitter's acknowledgement to an ingress: every datagram of <see cref="Origin"/> up to <see cref="Sequence"/> was handled at <see cref="Site"/>.</summary>
internal sealed record BridgeAck(string Site, long Origin, long Sequence);
