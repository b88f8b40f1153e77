using System.Buffers;
using System.Globalization;
using System.Text;

namespace Dgram.Cli;

/// <summary>
/// A datagram payload as one inert line of text. Anyone on the segment can send to a group, so nothing
/// that a terminal acts on reaches it raw: not a control (C0, DEL, C1: ESC and CSI start escape
/// sequences), not a format character (category Cf: bidi overrides and isolates reorder what is shown,
/// zero-width characters hide text), not a line or paragraph separator, not an unassigned code point
/// (a newer terminal may give it one of those meanings), and no byte that is not valid UTF-8 (a raw
/// 0x9B is CSI to a terminal in an 8-bit mode). The backslash is escaped too, so every backslash in the
/// output starts an escape and the line decodes back to the exact payload bytes:
/// <c>\\</c> a backslash; <c>\t</c>, <c>\n</c>, <c>\r</c>; <c>\xHH</c> one byte (other C0 controls, DEL,
/// and each byte of an invalid UTF-8 sequence); <c>\u{HHHH}</c> a code point, 4 to 6 hex digits (C1
/// controls, Cf, U+2028, U+2029, unassigned). Everything else, including non-ASCII letters and emoji,
/// is printed as itself.
/// </summary>
internal static class PayloadText
{
    // Printable ASCII except the backslash: copied in runs, the common case for text payloads.
    private static readonly SearchValues<byte> PlainAscii =
        SearchValues.Create(Enumerable.Range(' ', '~' - ' ' + 1).Where(b => b != '\\').Select(b => (byte)b).ToArray());

    // Every BMP character MustEscape names, and the surrogates (their pairs need a look at the code point).
    private static readonly SearchValues<char> EscapedOrSurrogate = SearchValues.Create(
        Enumerable.Range(0, 0x10000).Where(c => char.IsSurrogate((char)c) || MustEscape(new Rune(c))).Select(c => (char)c).ToArray());

    /// <summary>True for a code point that is never printed raw (see the class summary).</summary>
    public static bool MustEscape(Rune r) =>
        r.Value < 0x20
        || (r.Value >= 0x7F && Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.OtherNotAssigned);

    /// <summary>The index of the first character that <see cref="MustEscape"/> (or an unpaired surrogate), or -1.</summary>
    public static int IndexOfEscape(ReadOnlySpan<char> text)
    {
        int i = 0;
        while (true)
        {
            int next = text[i..].IndexOfAny(EscapedOrSurrogate);
            if (next < 0) return -1;
            i += next;
            if (!char.IsSurrogate(text[i])) return i;
            // A surrogate pair stands for a code point outside the BMP: judged by that code point.
            if (Rune.DecodeFromUtf16(text[i..], out Rune r, out int used) != OperationStatus.Done || MustEscape(r)) return i;
            i += used;
        }
    }

    /// <summary>Appends the payload bytes escaped (see the class summary).</summary>
    public static void AppendEscaped(StringBuilder line, ReadOnlySpan<byte> payload)
    {
        Span<char> chunk = stackalloc char[256];
        while (!payload.IsEmpty)
        {
            int plain = payload.IndexOfAnyExcept(PlainAscii);
            if (plain < 0) plain = payload.Length;
            for (ReadOnlySpan<byte> run = payload[..plain]; !run.IsEmpty;)
            {
                Ascii.ToUtf16(run[..Math.Min(run.Length, chunk.Length)], chunk, out int written);
                line.Append(chunk[..written]);
                run = run[written..];
            }
            payload = payload[plain..];
            if (payload.IsEmpty) break;

            if (Rune.DecodeFromUtf8(payload, out Rune rune, out int used) == OperationStatus.Done)
            {
                AppendRune(line, rune);
            }
            else
            {
                // The maximal invalid subsequence (or a sequence cut short at the end), byte by byte.
                foreach (byte b in payload[..used]) AppendByte(line, b);
            }
            payload = payload[used..];
        }
    }

    /// <summary>Appends text (an interface name) escaped like a payload; an unpaired surrogate shows as U+FFFD.</summary>
    public static void AppendEscaped(StringBuilder line, ReadOnlySpan<char> text)
    {
        foreach (Rune rune in text.EnumerateRunes()) AppendRune(line, rune);
    }

    private static void AppendRune(StringBuilder line, Rune rune)
    {
        switch (rune.Value)
        {
            case '\\': line.Append(@"\\"); return;
            case '\t': line.Append(@"\t"); return;
            case '\n': line.Append(@"\n"); return;
            case '\r': line.Append(@"\r"); return;
        }
        if (!MustEscape(rune))
        {
            if (rune.IsBmp)
            {
                line.Append((char)rune.Value);
            }
            else
            {
                line.Append((char)(((rune.Value - 0x10000) >> 10) + 0xD800)).Append((char)(((rune.Value - 0x10000) & 0x3FF) + 0xDC00));
            }
        }
        else if (rune.Value < 0x80)
        {
            AppendByte(line, (byte)rune.Value); // a C0 control or DEL is one byte
        }
        else
        {
            line.Append(CultureInfo.InvariantCulture, $"\\u{{{rune.Value:x4}}}");
        }
    }

    private static void AppendByte(StringBuilder line, byte b) => line.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
}
