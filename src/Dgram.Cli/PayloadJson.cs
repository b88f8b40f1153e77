using System.Buffers;
using System.Globalization;
using System.Text;

namespace Dgram.Cli;

/// <summary>
/// A payload as the contents of a JSON string, written as UTF-8 straight into a buffer: byte for byte what
/// <see cref="System.Text.Json.Utf8JsonWriter"/> with <see cref="PayloadJsonEncoder"/> writes for the
/// payload decoded with <see cref="Encoding.UTF8"/> (each invalid sequence one U+FFFD), without the decoded
/// string, the encoder's per-character calls or the writer (at 65k datagrams/s of 200 B those cost a third
/// of the feed in kernel drops). Which code points are escaped is read off the encoder itself once.
/// </summary>
internal static class PayloadJson
{
    // Every BMP code point the encoder escapes (surrogates never reach the table: runes are scalars).
    private static readonly bool[] Escaped = BuildTable();

    // The ASCII bytes written as themselves: copied in runs, the common case.
    private static readonly SearchValues<byte> PlainAscii =
        SearchValues.Create(Enumerable.Range(0, 0x80).Where(c => !Escaped[c]).Select(c => (byte)c).ToArray());

    // The escape of each ASCII byte that has one, ready to copy (binary payloads are full of NULs).
    private static readonly byte[][] AsciiEscapes = Enumerable.Range(0, 0x80).Select(c =>
    {
        Span<byte> escape = stackalloc byte[12];
        return escape[..Escape(new Rune(c), escape)].ToArray();
    }).ToArray();

    /// <summary>The most bytes <see cref="WriteEscaped"/> writes for <paramref name="length"/> payload bytes.</summary>
    // An escaped byte is \u00XX or \uFFFD (6); a 4-byte code point two \uXXXX (12).
    public static int MaxEscapedLength(int length) => 6 * length;

    /// <summary>Writes the escaped string contents (no quotes) into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int WriteEscaped(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        int written = 0;
        while (!payload.IsEmpty)
        {
            written += PayloadText.CopyRun(ref payload, PlainAscii, destination[written..]);
            if (payload.IsEmpty) break;

            if (payload[0] < 0x80)
            {
                written += Put(AsciiEscapes[payload[0]], destination[written..]);
                payload = payload[1..];
                continue;
            }
            if (Rune.DecodeFromUtf8(payload, out Rune rune, out int used) != OperationStatus.Done) rune = Rune.ReplacementChar;
            bool escape = rune.IsBmp ? Escaped[rune.Value] : PayloadJsonEncoder.Instance.WillEncode(rune.Value);
            written += escape ? Escape(rune, destination[written..]) : rune.EncodeToUtf8(destination[written..]);
            payload = payload[used..];
        }
        return written;
    }

    /// <summary>Writes the escape of a code point the encoder escapes: the short forms JSON has, else \uXXXX per UTF-16 unit.</summary>
    private static int Escape(Rune rune, Span<byte> destination) => rune.Value switch
    {
        '"' => Put("\\\""u8, destination),
        '\\' => Put("\\\\"u8, destination),
        '\b' => Put("\\b"u8, destination),
        '\f' => Put("\\f"u8, destination),
        '\n' => Put("\\n"u8, destination),
        '\r' => Put("\\r"u8, destination),
        '\t' => Put("\\t"u8, destination),
        _ => Units(rune, destination),
    };

    private static int Units(Rune rune, Span<byte> destination)
    {
        Span<char> units = stackalloc char[2];
        int count = rune.EncodeToUtf16(units);
        for (int i = 0; i < count; i++)
        {
            "\\u"u8.CopyTo(destination[(6 * i)..]);
            ((int)units[i]).TryFormat(destination[(6 * i + 2)..], out _, "X4", CultureInfo.InvariantCulture);
        }
        return 6 * count;
    }

    private static int Put(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        bytes.CopyTo(destination);
        return bytes.Length;
    }

    private static bool[] BuildTable()
    {
        var table = new bool[0x10000];
        for (int c = 0; c < table.Length; c++) table[c] = !char.IsSurrogate((char)c) && PayloadJsonEncoder.Instance.WillEncode(c);
        return table;
    }
}
