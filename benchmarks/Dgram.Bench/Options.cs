using System.Globalization;

namespace Dgram.Bench;

/// <summary>
/// Strict <c>--key value</c> arguments (and bare <c>--flag</c>s): every key must be read, so a misspelt
/// option fails the run instead of being ignored.
/// </summary>
internal sealed class Options
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public Options(IEnumerable<string> args, params string[] flags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string key = e.Current;
            if (!key.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{key}'");
            if (flags.Contains(key)) _values[key] = null;
            else if (e.MoveNext()) _values[key] = e.Current;
            else throw new ArgumentException($"{key} needs a value");
        }
    }

    public bool Flag(string key)
    {
        _read.Add(key);
        return _values.ContainsKey(key);
    }

    public string? Get(string key)
    {
        _read.Add(key);
        return _values.GetValueOrDefault(key);
    }

    public string Required(string key) => Get(key) ?? throw new ArgumentException($"{key} is required");

    public int Int(string key, int fallback) => Get(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string key, double fallback) => Get(key) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    /// <summary>Throws if an argument was given that nothing read.</summary>
    public void End()
    {
        string[] unknown = _values.Keys.Where(k => !_read.Contains(k)).ToArray();
        if (unknown.Length > 0) throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown)}");
    }
}
