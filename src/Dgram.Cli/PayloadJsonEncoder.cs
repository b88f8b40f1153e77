using System.Text;
using System.Text.Encodings.Web;

namespace Dgram.Cli;

/// <summary>
/// JSON string escaping for <c>listen --format json</c>: System.Text.Json's relaxed escaping (no
/// <c>\u003C</c> for <c>&lt;</c>, non-ASCII letters as themselves) plus <c>\uXXXX</c> for every code
/// point <see cref="PayloadText.MustEscape"/> names. The relaxed encoder alone already escapes controls
/// (C0, DEL, C1), U+2028/U+2029, unassigned code points and everything outside the BMP, but writes the
/// format characters (category Cf: U+202E, U+2066–U+2069, U+200B–U+200F, U+00AD, U+FEFF ...) raw, and
/// a terminal showing the line acts on them.
/// </summary>
internal sealed class PayloadJsonEncoder : JavaScriptEncoder
{
    public static readonly PayloadJsonEncoder Instance = new();

    private static readonly JavaScriptEncoder Relaxed = UnsafeRelaxedJsonEscaping;

    private PayloadJsonEncoder()
    {
    }

    /// <inheritdoc/>
    public override int MaxOutputCharactersPerInputCharacter => Math.Max(Relaxed.MaxOutputCharactersPerInputCharacter, 6);

    /// <inheritdoc/>
    public override bool WillEncode(int unicodeScalar) =>
        Relaxed.WillEncode(unicodeScalar) || (Rune.IsValid(unicodeScalar) && PayloadText.MustEscape(new Rune(unicodeScalar)));

    /// <inheritdoc/>
    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        // The relaxed encoder's vectorised scan first; ours only over what it would pass through.
        int relaxed = Relaxed.FindFirstCharacterToEncode(text, textLength);
        int ours = PayloadText.IndexOfEscape(new ReadOnlySpan<char>(text, relaxed < 0 ? textLength : relaxed));
        return ours >= 0 ? ours : relaxed;
    }

    /// <inheritdoc/>
    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        if (Relaxed.WillEncode(unicodeScalar) || !Rune.IsValid(unicodeScalar))
        {
            return Relaxed.TryEncodeUnicodeScalar(unicodeScalar, buffer, bufferLength, out numberOfCharactersWritten);
        }
        var rune = new Rune(unicodeScalar);
        var destination = new Span<char>(buffer, bufferLength);
        if (!PayloadText.MustEscape(rune)) return rune.TryEncodeToUtf16(destination, out numberOfCharactersWritten);

        // \uXXXX per UTF-16 unit, upper-case hex as System.Text.Json writes its own escapes.
        Span<char> units = stackalloc char[2];
        int count = rune.EncodeToUtf16(units);
        numberOfCharactersWritten = 0;
        if (bufferLength < 6 * count) return false;
        for (int i = 0; i < count; i++)
        {
            Span<char> escape = destination.Slice(6 * i, 6);
            escape[0] = '\\';
            escape[1] = 'u';
            ((int)units[i]).TryFormat(escape[2..], out _, "X4", System.Globalization.CultureInfo.InvariantCulture);
        }
        numberOfCharactersWritten = 6 * count;
        return true;
    }
}
