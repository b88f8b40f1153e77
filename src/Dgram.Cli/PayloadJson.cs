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

    /// <summary>The most bytes <see cref="WriteEscaped"/> writes for <paramref name="length"/> payload bytes.</summary>
    // An escaped byte is \u00XX or \uFFFD (6); a 4-byte code point two \uXXXX (12).
    public static int MaxEscapedLength(int length) => 6 * length;

    /// <summary>Writes the escaped string contents (no quotes) into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int WriteEscaped(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        int written = 0;
        while (!payload.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(payload, out Rune rune, out int used) != OperationStatus.Done) rune = Rune.ReplacementChar;
            bool escape = rune.IsBmp ? Escaped[rune.Value] : PayloadJsonEncoder.Instance.WillEncode(rune.Value);
            if (!escape)
            {
                written += rune.EncodeToUtf8(destination[written..]);
            }
            else
            {
                written += rune.Value switch
                {
                    '"' => Put("\\\""u8, destination[written..]),
                    '\\' => Put("\\\\"u8, destination[written..]),
                    '\b' => Put("\\b"u8, destination[written..]),
                    '\f' => Put("\\f"u8, destination[written..]),
                    '\n' => Put("\\n"u8, destination[written..]),
                    '\r' => Put("\\r"u8, destination[written..]),
                    '\t' => Put("\\t"u8, destination[written..]),
                    _ => Units(rune, destination[written..]),
                };
            }
            payload = payload[used..];
        }
        return written;
    }

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
