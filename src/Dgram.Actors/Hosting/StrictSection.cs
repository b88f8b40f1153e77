using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Dgram.Actors.Hosting;

/// <summary>
/// A configuration section read key by key that remembers the keys it was asked for, so that afterwards
/// any other key is an error (<see cref="RejectUnknownKeys"/>): an ignored typo such as <c>Source</c> for
/// <c>Sources</c> would widen a source-specific join to any source. The keys a reader asks for are
/// the valid keys: there is no second list to keep in step.
/// </summary>
internal sealed class StrictSection(IConfigurationSection section)
{
    private readonly List<string> _known = [];

    /// <summary>The section's full configuration path.</summary>
    public string Path => section.Path;

    /// <summary>A scalar value, or null when the key is absent; a section where a value belongs is an error.</summary>
    public string? this[string key]
    {
        get
        {
            IConfigurationSection child = Child(key);
            if (child.GetChildren().Any())
            {
                throw new DgramConfigurationException(child.Path, $"expected a value, found a section (keys: {string.Join(", ", child.GetChildren().Select(c => c.Key))})");
            }
            return child.Value;
        }
    }

    /// <summary>The entries of a list of sections (e.g. <c>Groups</c>), each read strictly.</summary>
    public IEnumerable<StrictSection> Sections(string key) => Entries(key).Select(e =>
        e.Value is { Length: > 0 } && !e.GetChildren().Any()
            ? throw new DgramConfigurationException(e.Path, $"expected a section, found the value '{e.Value}'")
            : new StrictSection(e));

    /// <summary>A section whose keys are names the user chooses (e.g. peer sites): read as it is, its own keys unchecked.</summary>
    public IConfigurationSection Map(string key) => Child(key);

    /// <summary>The entries of a list of values (e.g. <c>Sources</c>).</summary>
    public IEnumerable<IConfigurationSection> Values(string key) => Entries(key).Select(e =>
        e.GetChildren().Any() ? throw new DgramConfigurationException(e.Path, "expected a value, found a section") : e);

    /// <summary>
    /// Throws for the first key of the section that no read asked for, naming its full path and the
    /// nearest valid key (or all of them when none is near).
    /// </summary>
    public void RejectUnknownKeys()
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            if (_known.Contains(child.Key, StringComparer.OrdinalIgnoreCase)) continue;
            string? nearest = Nearest(child.Key);
            throw new DgramConfigurationException(child.Path, nearest is not null
                ? $"unknown key; did you mean '{nearest}'?"
                : $"unknown key; the keys here are {string.Join(", ", _known)}");
        }
    }

    private IConfigurationSection Child(string key)
    {
        if (!_known.Contains(key, StringComparer.OrdinalIgnoreCase)) _known.Add(key);
        return section.GetSection(key);
    }

    /// <summary>A list's entries in order; a value where a list belongs, or a key that is not an index, is an error.</summary>
    private IEnumerable<IConfigurationSection> Entries(string key)
    {
        IConfigurationSection list = Child(key);
        IConfigurationSection[] entries = list.GetChildren().ToArray();
        // An empty JSON array reads as a null value; a non-empty value is a single item written without [ ].
        if (entries.Length == 0 && !string.IsNullOrEmpty(list.Value))
        {
            throw new DgramConfigurationException(list.Path, $"expected a list ([ ... ]), found the value '{list.Value}'");
        }
        foreach (IConfigurationSection e in entries)
        {
            if (!int.TryParse(e.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw new DgramConfigurationException(e.Path, $"'{e.Key}' is not a list index: {key} is a list");
            }
        }
        return entries;
    }

    /// <summary>The known key within a small edit distance of <paramref name="key"/> (case-insensitive, as configuration keys are).</summary>
    private string? Nearest(string key)
    {
        int threshold = Math.Max(2, key.Length / 3);
        return _known.Select(k => (Key: k, Distance: EditDistance(key.ToUpperInvariant(), k.ToUpperInvariant())))
            .Where(c => c.Distance <= threshold)
            .OrderBy(c => c.Distance)
            .Select(c => c.Key)
            .FirstOrDefault();
    }

    /// <summary>Levenshtein distance: insertions, deletions and substitutions.</summary>
    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
