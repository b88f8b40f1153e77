using System.Runtime.InteropServices;

namespace Dgram.Actors.Sockets;

/// <summary>
/// The one platform check. The library speaks Linux's socket options, struct layouts, epoll and rtnetlink, so on
/// another system it stops at the first socket with one clear error, not with a missing entry point deep inside.
/// </summary>
internal static class LinuxOnly
{
    /// <summary>
    /// A system description to act as if running there (tests drive the check with it). Per async flow, so a test
    /// that sets it affects no other test.
    /// </summary>
    internal static readonly AsyncLocal<string?> Simulated = new();

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> naming <paramref name="operation"/> unless this is Linux.</summary>
    public static void Require(string operation)
    {
        string? simulated = Simulated.Value;
        if (simulated is null && OperatingSystem.IsLinux()) return;
        throw new PlatformNotSupportedException(
            $"{operation}: Dgram.Actors runs on Linux only (it uses Linux socket options, epoll and rtnetlink); this system is {simulated ?? RuntimeInformation.OSDescription}");
    }
}
