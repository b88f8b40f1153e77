using ScottPlot;

namespace Dgram.Bench;

/// <summary>Charts people would rather look at than read: receive rate and allocation per path, and round trips.</summary>
internal static class Chart
{
    public static void Write(string directory, List<Result> results, List<(string Name, double P50, double P99)> rtt, List<(string Name, int Size, double Rate)> sends)
    {
        Directory.CreateDirectory(directory);
        string[] paths = results.Select(r => r.Name).Distinct().ToArray();
        int[] sizes = results.Select(r => r.Size).Distinct().ToArray();

        var throughput = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < sizes.Length; s++)
        {
            var bars = paths.Select((p, i) => new Bar
            {
                Position = i * (sizes.Length + 1) + s,
                Value = results.Single(r => r.Name == p && r.Size == sizes[s]).Rate / 1000,
                FillColor = palette.GetColor(s),
            }).ToList();
            throughput.Add.Bars(bars).LegendText = $"{sizes[s]} B";
        }
        throughput.Axes.Bottom.SetTicks(paths.Select((_, i) => i * (sizes.Length + 1) + (sizes.Length - 1) / 2.0).ToArray(), paths);
        throughput.Axes.Bottom.TickLabelStyle.Rotation = 45;
        throughput.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        throughput.Axes.Bottom.MinimumSize = 190;
        throughput.Axes.Left.Label.Text = "thousand datagrams/s received";
        throughput.Title("Receive rate per path (loopback, C sendmmsg sender)");
        throughput.ShowLegend(Alignment.UpperRight);
        throughput.Axes.Margins(bottom: 0);
        throughput.SavePng(Path.Combine(directory, "throughput.png"), 1100, 650);

        var alloc = new Plot();
        string[] managed = paths.Where(p => !p.StartsWith("c_", StringComparison.Ordinal)).ToArray();
        alloc.Add.Bars(managed.Select((p, i) => new Bar { Position = i, Value = results.Single(r => r.Name == p && r.Size == 64).BytesPerDatagram, FillColor = palette.GetColor(2) }).ToList());
        alloc.Axes.Bottom.SetTicks(managed.Select((_, i) => (double)i).ToArray(), managed);
        alloc.Axes.Bottom.TickLabelStyle.Rotation = 45;
        alloc.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        alloc.Axes.Bottom.MinimumSize = 190;
        alloc.Axes.Left.Label.Text = "bytes allocated per datagram (64 B)";
        alloc.Title("Allocation per datagram");
        alloc.Axes.Margins(bottom: 0);
        alloc.SavePng(Path.Combine(directory, "allocation.png"), 1100, 650);

        var latency = new Plot();
        latency.Add.Bars(rtt.SelectMany((r, i) => new[]
        {
            new Bar { Position = i * 3, Value = r.P50, FillColor = palette.GetColor(0) },
            new Bar { Position = i * 3 + 1, Value = r.P99, FillColor = palette.GetColor(3) },
        }).ToList());
        latency.Axes.Bottom.SetTicks(rtt.Select((_, i) => i * 3 + 0.5).ToArray(), rtt.Select(r => r.Name + " (p50, p99)").ToArray());
        latency.Axes.Left.Label.Text = "round trip, microseconds";
        latency.Title("Round-trip latency (ping-pong, loopback)");
        latency.Axes.Margins(bottom: 0);
        latency.SavePng(Path.Combine(directory, "latency.png"), 1000, 500);
    }
}
