using System.Globalization;
using System.Text.RegularExpressions;

namespace Dgram.Cli;

/// <summary>
/// A <c>dgram send --rate</c>: datagrams per second (a plain number, <c>2000</c>) or, with a unit, bits per second of
/// payload as iperf's <c>-b</c> takes them (<c>64k</c>, <c>100M</c>, <c>1.5G</c>; decimal: k = 10^3, M = 10^6,
/// G = 10^9; <c>bit/s</c> may follow the unit, <c>100Mbit/s</c>, or stand alone, <c>64000bit/s</c>).
/// </summary>
internal readonly partial record struct SendRate(double Value, bool Bits)
{
    /// <summary>Datagrams per second for datagrams of <paramref name="size"/> bytes.</summary>
    public double DatagramsPerSecond(int size) => Bits ? Value / (8.0 * size) : Value;

    /// <summary>Parses <paramref name="text"/>; anything else is one bad-input error that says what is accepted.</summary>
    public static SendRate Parse(string text)
    {
        Match m = Syntax().Match(text);
        if (!m.Success || !double.TryParse(m.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n)
            || !(n > 0) || double.IsInfinity(n))
        {
            throw CliException.BadInput($"--rate \"{text}\" is not a rate: give datagrams/s as a positive number (2000) "
                + "or bits/s with a unit k, M or G (64k, 100M, 1.5G; optionally followed by bit/s)");
        }
        string unit = m.Groups["unit"].Value;
        if (unit.Length == 0 && !m.Groups["bits"].Success) return new SendRate(n, Bits: false);
        double scale = unit switch { "k" or "K" => 1e3, "M" => 1e6, "G" => 1e9, _ => 1 };
        return new SendRate(n * scale, Bits: true);
    }

    /// <summary>As the operator would write it back.</summary>
    public override string ToString() =>
        Bits ? string.Create(CultureInfo.InvariantCulture, $"{Value / 1e6:0.###} Mbit/s") : string.Create(CultureInfo.InvariantCulture, $"{Value:0.###} datagrams/s");

    // No exponent, sign or thousands separator: "1e6" or "1,000" is a typo more often than a rate.
    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?)(?<unit>[kKMG]?)(?<bits>bit/s)?$")]
    private static partial Regex Syntax();
}
