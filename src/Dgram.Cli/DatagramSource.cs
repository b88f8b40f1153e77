using System.Buffers.Binary;
using System.Globalization;

namespace Dgram.Cli;

/// <summary>
/// The datagrams of a <c>dgram send</c> run, by index (0, 1, …): with <c>--seq</c> a 4-byte big-endian sequence number
/// first, then the payload with each "{n}" replaced by index + 1, padded with zero bytes to <c>--size</c>.
/// </summary>
internal sealed class DatagramSource
{
    /// <summary>Bytes of the sequence number.</summary>
    public const int SequenceBytes = 4;

    /// <summary>
    /// The first sequence number: 1, as iperf2's client numbers its datagrams (2.1.8 starts <c>packetID</c> at 1), so
    /// iperf2's server counts a <c>dgram send --seq</c> feed without a spurious out-of-order first datagram.
    /// </summary>
    public const uint FirstSequence = 1;

    private static readonly byte[] Token = "{n}"u8.ToArray();
    private readonly byte[] _template; // the whole datagram when every one is alike (sequence bytes left to write)
    private readonly byte[] _payload;
    private readonly bool _seq, _numbered;
    private readonly int? _size;

    /// <summary>Checks that a fixed payload fits <paramref name="size"/> (bad input if not).</summary>
    public DatagramSource(byte[] payload, bool seq, int? size)
    {
        _payload = payload;
        _seq = seq;
        _size = size;
        _numbered = payload.AsSpan().IndexOf(Token) >= 0;
        int header = seq ? SequenceBytes : 0;
        if (size is { } fixedSize && !_numbered && header + payload.Length > fixedSize)
        {
            throw CliException.BadInput($"the payload of {payload.Length} bytes{(seq ? " after the 4-byte sequence number" : "")} does not fit --size {fixedSize}");
        }
        Size = size ?? header + payload.Length;
        _template = new byte[_numbered ? 0 : Size];
        if (!_numbered) payload.CopyTo(_template, header);
        MaxLength = _numbered ? size ?? header + payload.Length + payload.AsSpan().Count(Token) * 20 : Size;
    }

    /// <summary>Every datagram has the same length, <see cref="Size"/> (no "{n}" in the payload).</summary>
    public bool Uniform => !_numbered;

    /// <summary>The datagram length (with "{n}" in the payload and no --size: the payload's, for turning bits/s into datagrams/s).</summary>
    public int Size { get; }

    /// <summary>The longest datagram this source writes.</summary>
    public int MaxLength { get; }

    /// <summary>Writes datagram <paramref name="index"/> into <paramref name="into"/>; returns its length.</summary>
    public int Write(long index, Span<byte> into)
    {
        int length;
        if (!_numbered)
        {
            _template.CopyTo(into);
            length = _template.Length;
        }
        else
        {
            length = Substitute(index + 1, into[(_seq ? SequenceBytes : 0)..]) + (_seq ? SequenceBytes : 0);
            if (_size is { } size)
            {
                if (length > size)
                {
                    throw CliException.BadInput($"datagram {index + 1} is {length} bytes with its number in place of {{n}}: more than --size {size}");
                }
                into[length..size].Clear();
                length = size;
            }
        }
        // Wraps after 2^32 datagrams, as iperf2's 32-bit id does.
        if (_seq) BinaryPrimitives.WriteUInt32BigEndian(into, unchecked(FirstSequence + (uint)index));
        return length;
    }

    /// <summary>The payload with every "{n}" replaced by <paramref name="n"/>.</summary>
    private int Substitute(long n, Span<byte> into)
    {
        Span<byte> number = stackalloc byte[20];
        n.TryFormat(number, out int digits, provider: CultureInfo.InvariantCulture);
        number = number[..digits];
        int written = 0;
        ReadOnlySpan<byte> rest = _payload;
        int at;
        while ((at = rest.IndexOf(Token)) >= 0)
        {
            rest[..at].CopyTo(into[written..]);
            written += at;
            number.CopyTo(into[written..]);
            written += digits;
            rest = rest[(at + Token.Length)..];
        }
        rest.CopyTo(into[written..]);
        return written + rest.Length;
    }
}
