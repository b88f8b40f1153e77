using System.Globalization;

namespace Dgram.Sample;

/// <summary>
/// Command line: --duration SECONDS (15; 30 with --sites 2), --rate PER_SECOND per publisher (200), --plain, --loopback,
/// --config FILE (instead of appsettings.lab.json or appsettings.loopback.json), --metrics-console (the
/// <c>Dgram.Actors</c> meter on stdout through OpenTelemetry's console exporter; implies --plain, whose
/// lines it shares stdout with), --otlp ENDPOINT (the meter to an OTLP collector, e.g. http://localhost:4317) and
/// --sites 1|2 (2: publishers on site A, receivers on site B, the groups bridged by the cluster; only as lab/sites.sh
/// runs it, which names the sites' directory in DGRAM_SITES).
/// </summary>
internal sealed record SampleOptions(TimeSpan Duration, int Rate, bool Plain, bool Lab, string? Config, bool MetricsConsole, Uri? Otlp, int Sites = 1, string? SitesDirectory = null)
{
    private const string Usage = "use --duration SECONDS>=3, --rate N, --plain, --loopback, --config FILE, --metrics-console, --otlp ENDPOINT, --sites 1|2";

    public static SampleOptions? Parse(string[] args)
    {
        var o = new SampleOptions(TimeSpan.FromSeconds(15), 200, false, Environment.GetEnvironmentVariable("DGRAM_LAB") == "1", null, false, null);
        bool durationGiven = false;
        for (int i = 0; i < args.Length; i++)
        {
            string? next = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--duration" when double.TryParse(next, CultureInfo.InvariantCulture, out double s) && s >= 3:
                    o = o with { Duration = TimeSpan.FromSeconds(s) };
                    durationGiven = true;
                    i++;
                    break;
                case "--sites" when next is "1" or "2":
                    o = o with { Sites = int.Parse(next, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--rate" when int.TryParse(next, CultureInfo.InvariantCulture, out int r) && r is > 0 and <= 100_000:
                    o = o with { Rate = r };
                    i++;
                    break;
                case "--config" when next is not null:
                    if (!File.Exists(next)) return Fail($"--config {next}: no such file");
                    o = o with { Config = Path.GetFullPath(next) };
                    i++;
                    break;
                case "--otlp" when Uri.TryCreate(next, UriKind.Absolute, out Uri? endpoint) && endpoint.Scheme is "http" or "https":
                    o = o with { Otlp = endpoint };
                    i++;
                    break;
                case "--metrics-console":
                    o = o with { MetricsConsole = true, Plain = true };
                    break;
                case "--plain":
                    o = o with { Plain = true };
                    break;
                case "--loopback":
                    o = o with { Lab = false };
                    break;
                default:
                    return Fail($"unknown or malformed argument '{args[i]}' ({Usage})");
            }
        }
        if (o.Sites == 2)
        {
            // The sites (namespaces, bridge nodes) exist only as lab/sites.sh builds them around this process.
            string? dir = Environment.GetEnvironmentVariable("DGRAM_SITES");
            if (!o.Lab || string.IsNullOrEmpty(dir) || !File.Exists(Path.Combine(dir, "sites.env")))
            {
                return Fail("--sites 2: no sites here (DGRAM_SITES names no directory with sites.env); run ./run.sh --sites 2");
            }
            o = o with { SitesDirectory = dir, Duration = durationGiven ? o.Duration : TimeSpan.FromSeconds(30) };
        }
        return o;
    }

    /// <summary>The sockets' and publishers' configuration: --config, else the one for the lab or for loopback.</summary>
    public string ConfigFile => Config ?? Path.Combine(AppContext.BaseDirectory, Sites == 2 ? "appsettings.sites.json" : Lab ? "appsettings.lab.json" : "appsettings.loopback.json");

    private static SampleOptions? Fail(string problem)
    {
        Console.Error.WriteLine("dgram sample: " + problem);
        return null;
    }
}
