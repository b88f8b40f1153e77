using System.Runtime.InteropServices;

namespace Dgram.Bench.Child;

/// <summary>This process's CPU time (user + system, all threads) from getrusage: µs resolution, as the C programs report it.</summary>
internal static partial class ProcessClock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        private unsafe fixed long _rest[14];
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRusage(int who, out Rusage usage);

    public static double CpuMicroseconds()
    {
        GetRusage(0 /* RUSAGE_SELF */, out Rusage u);
        return (u.UserSeconds + u.SystemSeconds) * 1e6 + u.UserMicroseconds + u.SystemMicroseconds;
    }
}
