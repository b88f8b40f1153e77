using System.Globalization;
using System.Net.Sockets;

namespace Dgram.Actors.Sockets;

/// <summary>Reads a socket's row in /proc/net/udp or udp6 (matched by inode) for the kernel's own counters.</summary>
internal static class KernelSocketTable
{
    /// <summary>The socket's <c>drops</c> column (datagrams the kernel dropped for it), or -1 when not found.</summary>
    public static long Drops(DatagramSocket socket)
    {
        if (socket.AddressFamily == AddressFamily.Unix || socket.IsClosed) return -1;
        string? inode = Inode(socket);
        if (inode is null) return -1;
        string table = socket.AddressFamily == AddressFamily.InterNetworkV6 ? "/proc/net/udp6" : "/proc/net/udp";
        try
        {
            foreach (string line in File.ReadLines(table).Skip(1))
            {
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
                string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length >= 13 && f[9] == inode) return long.Parse(f[12], CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
        }
        return -1;
    }

    private static string? Inode(DatagramSocket socket)
    {
        bool added = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref added);
            // "socket:[12345]"
            string? target = new FileInfo($"/proc/self/fd/{socket.SafeHandle.DangerousGetHandle()}").LinkTarget;
            return target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) ? target[8..^1] : null;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added) socket.SafeHandle.DangerousRelease();
        }
    }
}
