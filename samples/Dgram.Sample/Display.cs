using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Dgram.Sample;

/// <summary>
/// A live table on a terminal, with the latest log lines in a panel under it (a line written to the terminal
/// while the table is live would tear it); plain periodic lines otherwise, the log on stderr.
/// </summary>
internal sealed class Display(bool plain, SampleLog log)
{
    private readonly bool _live = !plain && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public async Task Run(Func<Action<Snapshot>, Task> body)
    {
        if (!_live)
        {
            await body(s => Console.WriteLine(Line(s)));
            return;
        }
        var table = new Table().AddColumns("source", "rate/s", "lost (pipeline)");
        log.Live(true);
        try
        {
            await AnsiConsole.Live(Layout(table)).StartAsync(async ctx =>
            {
                await body(s =>
                {
                    table.Rows.Clear();
                    foreach (var (source, rate, lost) in s.Sources.OrderBy(x => x.Source.ToString())) table.AddRow(source.ToString(), rate.ToString("F0", CultureInfo.InvariantCulture), lost.ToString(CultureInfo.InvariantCulture));
                    table.Caption = new TableTitle(Line(s) + (s.Faults.Count > 0 ? "\n" + string.Join("\n", s.Faults) : ""));
                    ctx.UpdateTarget(Layout(table));
                });
                ctx.UpdateTarget(Layout(table)); // lines logged since the last snapshot
            });
        }
        finally
        {
            log.Live(false);
        }
    }

    public void Final(Snapshot s)
    {
        if (!_live) foreach (string f in s.Faults) Console.WriteLine("fault: " + f);
    }

    /// <summary>One line per snapshot (plain mode) and the table's caption; the summary line carries the same counts.</summary>
    public static string Counts(Snapshot s) =>
        $"sent={s.Sent} received={s.Received} lost={s.Lost} dropped={s.Dropped} restarts={s.Restarts} send-failures={s.SendFailures}";

    private IRenderable Layout(Table table)
    {
        IReadOnlyList<string> lines = log.Recent;
        if (lines.Count == 0) return table;
        return new Rows(table, new Panel(new Text(string.Join('\n', lines))) { Header = new PanelHeader("log"), Expand = true });
    }

    private static string Line(Snapshot s) =>
        Counts(s) + " | " + string.Join(" ", s.Sources.OrderBy(x => x.Source.ToString()).Select(x => $"{x.Source}:{x.Rate:F0}/s"));
}
