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

    /// <summary>The most bytes <see cref="WriteEscaped(ReadOnlySpan{byte}, Span{byte})"/> writes for a payload of <paramref name="length"/> bytes.</summary>
    // An escaped byte is 4 (\xHH); a 2-byte C1 control 8 (\u{0080}); a 3- or 4-byte code point at most 10.
    public static int MaxEscapedLength(int length) => 4 * length;

    /// <summary>
    /// Writes the payload escaped (see the class summary) as UTF-8 into <paramref name="destination"/>, which
    /// holds at least <see cref="MaxEscapedLength"/> bytes; returns the bytes written. Allocates nothing.
    /// </summary>
    public static int WriteEscaped(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        int written = 0;
        while (!payload.IsEmpty)
        {
            written += CopyRun(ref payload, PlainAscii, destination[written..]);
            if (payload.IsEmpty) break;

            if (Rune.DecodeFromUtf8(payload, out Rune rune, out int used) == OperationStatus.Done)
            {
                written += WriteRune(rune, payload[..used], destination[written..]);
            }
            else
            {
                // The maximal invalid subsequence (or a sequence cut short at the end), byte by byte.
                foreach (byte b in payload[..used]) written += WriteByte(b, destination[written..]);
            }
            payload = payload[used..];
        }
        return written;
    }

    /// <summary>Copies the leading run of bytes in <paramref name="plain"/> and moves <paramref name="payload"/> past it; returns its length.</summary>
    internal static int CopyRun(ref ReadOnlySpan<byte> payload, SearchValues<byte> plain, Span<byte> destination)
    {
        int run = payload.IndexOfAnyExcept(plain);
        if (run < 0) run = payload.Length;
        payload[..run].CopyTo(destination);
        payload = payload[run..];
        return run;
    }

    /// <summary>Text (an interface name) escaped like a payload, as UTF-8; an unpaired surrogate shows as U+FFFD.</summary>
    public static byte[] EscapedUtf8(ReadOnlySpan<char> text)
    {
        byte[] buffer = new byte[10 * text.Length];
        int written = 0;
        Span<byte> raw = stackalloc byte[4];
        foreach (Rune rune in text.EnumerateRunes())
        {
            written += WriteRune(rune, raw[..rune.EncodeToUtf8(raw)], buffer.AsSpan(written));
        }
        return buffer[..written];
    }

    /// <summary>Writes one valid code point, <paramref name="utf8"/> its encoding: as itself or as an escape.</summary>
    private static int WriteRune(Rune rune, ReadOnlySpan<byte> utf8, Span<byte> destination)
    {
        switch (rune.Value)
        {
            case '\\': return Write(@"\\"u8, destination);
            case '\t': return Write(@"\t"u8, destination);
            case '\n': return Write(@"\n"u8, destination);
            case '\r': return Write(@"\r"u8, destination);
        }
        if (!MustEscape(rune)) return Write(utf8, destination);
        if (rune.Value < 0x80) return WriteByte((byte)rune.Value, destination); // a C0 control or DEL is one byte
        "\\u{"u8.CopyTo(destination);
        rune.Value.TryFormat(destination[3..], out int digits, "x4", CultureInfo.InvariantCulture);
        destination[3 + digits] = (byte)'}';
        return 4 + digits;
    }

    private static int WriteByte(byte b, Span<byte> destination)
    {
        destination[0] = (byte)'\\';
        destination[1] = (byte)'x';
        destination[2] = Hex.Lower[b >> 4];
        destination[3] = Hex.Lower[b & 0xF];
        return 4;
    }

    private static int Write(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        bytes.CopyTo(destination);
        return bytes.Length;
    }
}

/// <summary>Lower-case hex of bytes, written as UTF-8 without allocating.</summary>
internal static class Hex
{
    public static ReadOnlySpan<byte> Lower => "0123456789abcdef"u8;

    /// <summary>Writes two hex digits per byte of <paramref name="bytes"/>; returns the bytes written.</summary>
    public static int Write(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        destination = destination[..(2 * bytes.Length)];
        for (int i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = Lower[bytes[i] >> 4];
            destination[2 * i + 1] = Lower[bytes[i] & 0xF];
        }
        return 2 * bytes.Length;
    }
}
