using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Dgram.Actors.Sockets.Native;
using Microsoft.Extensions.Logging;

namespace Dgram.Actors.Sockets;

/// <summary>
/// The file a Unix socket bound to a path leaves in the file system: given the mode asked for, a stale
/// one (no socket bound to it any more) replaced, removed again on dispose.
/// </summary>
public sealed partial class DatagramSocket
{
    /// <summary>Binds to a path take turns: a stale file's check, removal and re-bind must not interleave.</summary>
    private static readonly Lock s_unixBindLock = new();

    /// <summary>The path this socket created and its identity (device, inode), to remove on dispose.</summary>
    private (byte[] Path, uint DevMajor, uint DevMinor, ulong Inode)? _unixFile;

    /// <summary>The NUL-terminated path of a path-bound Unix address, or null for an abstract or unnamed one.</summary>
    private static byte[]? UnixPath(ReadOnlySpan<byte> sockaddr)
    {
        ReadOnlySpan<byte> path = sockaddr[2..];
        if (path.Length == 0 || path[0] == 0) return null;
        int nul = path.IndexOf((byte)0);
        if (nul >= 0) path = path[..nul];
        byte[] z = new byte[path.Length + 1];
        path.CopyTo(z);
        return z;
    }

    /// <summary>
    /// Binds a Unix socket to a path and gives the file <see cref="DatagramSocketOptions.UnixSocketMode"/>
    /// (chmod after bind: changing the umask instead would change it for every thread of the process).
    /// On EADDRINUSE, a socket file nobody is bound to any more (its owner died without removing it) is
    /// replaced; a live socket or a file that is not a socket stays, and <paramref name="detail"/> says
    /// which. Returns 0, or -1 with errno set.
    /// </summary>
    private unsafe int BindUnix(int fd, byte* sa, uint len, byte[] path, out string? detail)
    {
        detail = null;
        lock (s_unixBindLock)
        {
            int rc = Libc.Bind(fd, sa, len);
            if (rc != 0 && Marshal.GetLastPInvokeError() == Errno.EADDRINUSE)
            {
                if (!RemoveStaleUnixFile(path, sa, len, out detail))
                {
                    Marshal.SetLastPInvokeError(Errno.EADDRINUSE);
                    return -1;
                }
                rc = Libc.Bind(fd, sa, len);
            }
            if (rc != 0) return rc;
            fixed (byte* p = path)
            {
                if (Libc.Chmod(p, (uint)_options.UnixSocketMode & 0xFFF) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    Libc.Unlink(p); // not left reachable with the umask's mode
                    detail = "the socket file's mode could not be set";
                    Marshal.SetLastPInvokeError(errno);
                    return -1;
                }
            }
            return 0;
        }
    }

    /// <summary>
    /// True when the file at <paramref name="path"/> is a socket nobody is bound to (a probe connect is
    /// refused), which is then removed, provided it is still the same file (device and inode) just before.
    /// </summary>
    private unsafe bool RemoveStaleUnixFile(byte[] path, byte* sa, uint len, out string why)
    {
        fixed (byte* p = path)
        {
            StatxBuffer st;
            if (Libc.Statx(StatxBuffer.AT_FDCWD, p, StatxBuffer.AT_SYMLINK_NOFOLLOW, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_INO, &st) != 0)
            {
                // Gone meanwhile: the bind may be retried.
                why = "the path is in use";
                return Marshal.GetLastPInvokeError() == Errno.ENOENT;
            }
            if ((st.Mode & StatxBuffer.S_IFMT) != StatxBuffer.S_IFSOCK)
            {
                why = "a file that is not a socket is at that path; it is left alone";
                return false;
            }
            int probe = Libc.Socket(Const.AF_UNIX, Const.SOCK_DGRAM | Const.SOCK_CLOEXEC, 0);
            if (probe < 0)
            {
                why = "the path is in use";
                return false;
            }
            int connected = Libc.Connect(probe, sa, len);
            int errno = connected == 0 ? 0 : Marshal.GetLastPInvokeError();
            Libc.Close(probe);
            if (errno != Errno.ECONNREFUSED)
            {
                why = "another socket is bound to it";
                return false;
            }
            StatxBuffer again;
            if (Libc.Statx(StatxBuffer.AT_FDCWD, p, StatxBuffer.AT_SYMLINK_NOFOLLOW, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_INO, &again) == 0
                && (again.Inode != st.Inode || again.DevMajor != st.DevMajor || again.DevMinor != st.DevMinor))
            {
                why = "the file at that path changed while it was checked";
                return false;
            }
            if (Libc.Unlink(p) != 0 && Marshal.GetLastPInvokeError() != Errno.ENOENT)
            {
                why = "a stale socket file is there and cannot be removed (" + Errno.Name(Marshal.GetLastPInvokeError()) + ")";
                return false;
            }
        }
        why = "";
        _options.Logger?.LogInformation("Removed the stale Unix socket file {Path} (no socket was bound to it)", Encoding.UTF8.GetString(path, 0, path.Length - 1));
        return true;
    }

    /// <summary>Remembers the file a bind made, so dispose removes that file and no other.</summary>
    private unsafe void RecordUnixFile(byte[] path)
    {
        fixed (byte* p = path)
        {
            StatxBuffer st;
            if (Libc.Statx(StatxBuffer.AT_FDCWD, p, StatxBuffer.AT_SYMLINK_NOFOLLOW, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_INO, &st) == 0)
            {
                _unixFile = (path, st.DevMajor, st.DevMinor, st.Inode);
            }
        }
    }

    /// <summary>Removes the socket file this socket created, if it is still that file.</summary>
    private unsafe void RemoveUnixFile()
    {
        if (_unixFile is not { } f) return;
        fixed (byte* p = f.Path)
        {
            StatxBuffer st;
            if (Libc.Statx(StatxBuffer.AT_FDCWD, p, StatxBuffer.AT_SYMLINK_NOFOLLOW, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_INO, &st) == 0
                && (st.Mode & StatxBuffer.S_IFMT) == StatxBuffer.S_IFSOCK && st.Inode == f.Inode && st.DevMajor == f.DevMajor && st.DevMinor == f.DevMinor)
            {
                Libc.Unlink(p);
            }
        }
    }
}
