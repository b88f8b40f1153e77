namespace Dgram.Bench.Run;

/// <summary>Interface recovery: a deleted and re-created interface, timed from the kernel's link event to the membership back in the kernel.</summary>
internal sealed partial class Bench
{
    private const int RecoveryCycles = 50;

    private async Task RecoveryAsync()
    {
        Line($"# recovery: a veth pair (lab2a/lab2b, no addresses) deleted and re-created {RecoveryCycles} times, one socket actor joined to 239.255.202.1 on lab2a; " +
             "from the RTM_NEWLINK of lab2a's new index (the bench's own netlink socket) to the group on that index in /proc/net/igmp (polled every ~0.2 ms); " +
             "after one unmeasured cycle (cold_ms); late_starts: cycles whose start the bench read after the library had already reported the join (process not pinned)");
        int port = ++_port;
        await Guarded("recovery", async () =>
        {
            await using ChildProcess recovery = ChildProcess.Managed(null, "recovery", "--iface", "lab2a", "--peer", "lab2b", "--group", "239.255.202.1",
                "--port", F(port), "--cycles", F(RecoveryCycles));
            foreach (string line in (await recovery.OutputAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Line(line);
                if (line.StartsWith("recovery ", StringComparison.Ordinal)) Goal("recovery_p99_ms", Fields.Parse(line)["p99_ms"], "F2", 5);
            }
        });
    }
}
