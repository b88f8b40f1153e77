using System.Globalization;

namespace Dgram.Bench;

/// <summary>This process as /proc/self shows it: status fields, descriptors, and its threads with their names and CPU.</summary>
internal static class ProcSelf
{
    /// <summary>One thread: its id, its name (comm, at most 15 characters) and its CPU time so far in clock ticks (USER_HZ, 10 ms).</summary>
    internal readonly record struct TaskTime(int Id, string Name, long Ticks);

    /// <summary>The number after <paramref name="key"/> in /proc/self/status (VmRSS is in kB).</summary>
    public static long Status(string key)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key, StringComparison.Ordinal));
        return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>The soft descriptor limit (ulimit -n), from /proc/self/limits ("Max open files  SOFT  HARD  files").</summary>
    public static long OpenFilesLimit()
    {
        string soft = File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
    }

    public static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>
    /// Every thread now. /proc/self/task/TID/stat is "TID (COMM) STATE …" with utime and stime the 12th and
    /// 13th fields after the closing parenthesis (the name may hold spaces and parentheses: the last one ends it).
    /// A thread that ended between the listing and the read is left out.
    /// </summary>
    public static IReadOnlyList<TaskTime> Tasks()
    {
        var tasks = new List<TaskTime>();
        foreach (string dir in Directory.GetDirectories("/proc/self/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            int open = stat.IndexOf('(', StringComparison.Ordinal), close = stat.LastIndexOf(')');
            string[] f = stat[(close + 2)..].Split(' ');
            tasks.Add(new TaskTime(int.Parse(stat[..open], CultureInfo.InvariantCulture), stat[(open + 1)..close],
                long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)));
        }
        return tasks;
    }

    /// <summary>A thread's name without its number ("dgram-io-0" → "dgram-io-", ".NET TP Worker" unchanged): threads of one kind, grouped.</summary>
    public static string Kind(string name) => name.TrimEnd("0123456789".ToCharArray());
}
