using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Dgram.Actors.Sockets.Native;
using Microsoft.Extensions.Logging;

namespace Dgram.Actors.Sockets;

/// <summary>
/// The file a Unix socket bound to a path leaves in the file system: never wider than asked, its mode
/// set only on the very file the bind made, a stale one (no socket bound to it any more) replaced,
/// removed again on dispose; a directory every user may write without the sticky bit refused.
/// </summary>
public sealed partial class DatagramSocket
{
    /// <summary>Binds to a path take turns: a stale file's check, removal and re-bind must not interleave.</summary>
    private static readonly Lock s_unixBindLock = new();

    /// <summary>The file a bind made: its path and identity, so dispose removes that file and no other.</summary>
    private sealed record UnixFile(byte[] Path, uint DevMajor, uint DevMinor, ulong Inode);

    /// <summary>Set by the bind, taken by whichever of bind and dispose comes second, which removes the file.</summary>
    private UnixFile? _unixFile;

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
    /// Binds a Unix socket to a path and gives the file <see cref="DatagramSocketOptions.UnixSocketMode"/>.
    /// The socket's own mode is set first, so bind creates the file with it less the umask, never wider;
    /// bits the umask took are put back through a descriptor of the file the bind made (the umask itself is
    /// process-wide and left alone). On EADDRINUSE, a socket file nobody is bound to any more (its owner
    /// died without removing it) is replaced; a live socket or a file that is not a socket stays.
    /// Returns 0, or -1 with errno set and <paramref name="error"/> and <paramref name="detail"/> saying
    /// why; a failure after the file was made closes the socket (it cannot bind again).
    /// </summary>
    private unsafe int BindUnix(int fd, byte* sa, uint len, byte[] path, out DatagramSocketError error, out string? detail)
    {
        error = DatagramSocketError.Kernel;
        detail = null;
        uint mode = (uint)_options.UnixSocketMode & 0xFFF;
        if (UnsafeUnixDirectory(path) is { } directory)
        {
            error = DatagramSocketError.UnsafePath;
            detail = $"the directory {directory} may be written by every user and has no sticky bit, so anyone could replace "
                + "the socket file; use a directory others cannot write, or set its sticky bit (chmod +t)";
            return Fail(Errno.EPERM);
        }
        if (Libc.FChmod(fd, mode) != 0)
        {
            detail = "the socket's mode could not be set before the bind";
            return -1;
        }
        lock (s_unixBindLock)
        {
            int rc = Libc.Bind(fd, sa, len);
            if (rc != 0 && Marshal.GetLastPInvokeError() == Errno.EADDRINUSE)
            {
                if (!RemoveStaleUnixFile(path, sa, len, out detail)) return Fail(Errno.EADDRINUSE);
                rc = Libc.Bind(fd, sa, len);
            }
            if (rc != 0) return rc;
        }

        int errno = AdoptUnixFile(fd, path, mode, out UnixFile? made, out bool unsafePath, out detail);
        if (made is not null && !KeepUnixFile(made))
        {
            error = DatagramSocketError.Closed;
            detail = "the socket was closed while it bound; the file the bind made was removed";
            return Fail(Errno.EBADF);
        }
        if (errno == 0) return 0;
        if (unsafePath) error = DatagramSocketError.UnsafePath;
        Dispose(); // bound to a file it cannot vouch for; dispose removes the file if it is still this socket's
        return Fail(errno);
    }

    private static int Fail(int errno)
    {
        Marshal.SetLastPInvokeError(errno);
        return -1;
    }

    /// <summary>
    /// The directory of <paramref name="path"/> when every user may write it and it has no sticky bit
    /// (anyone may then rename or remove the socket file and put their own in its place, at any time),
    /// else null. Group-writable passes: a service's group sharing a socket directory is the usual set-up,
    /// and the group is trusted by whoever made it so. ACLs are not read. A directory that cannot be looked
    /// at is left for the bind to report.
    /// </summary>
    private static unsafe string? UnsafeUnixDirectory(byte[] path)
    {
        int slash = Array.LastIndexOf(path, (byte)'/');
        byte[] directory = slash < 0 ? ".\0"u8.ToArray() : slash == 0 ? "/\0"u8.ToArray() : [.. path.AsSpan(0, slash), 0];
        fixed (byte* d = directory)
        {
            StatxBuffer st;
            if (Libc.Statx(StatxBuffer.AT_FDCWD, d, 0, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_MODE, &st) != 0) return null;
            bool unsafeDirectory = (st.Mode & StatxBuffer.S_IWOTH) != 0 && (st.Mode & StatxBuffer.S_ISVTX) == 0;
            return unsafeDirectory ? Encoding.UTF8.GetString(directory, 0, directory.Length - 1) : null;
        }
    }

    /// <summary>
    /// Checks that the file now at <paramref name="path"/> is the one the bind made and gives it
    /// <paramref name="mode"/>. The path is opened without following a symlink (O_PATH | O_NOFOLLOW) and
    /// the descriptor must be a socket owned by this user with one link and the device and inode the
    /// kernel bound the socket to (sock_diag); the mode is then set through that descriptor, so a file
    /// swapped in after the check is not touched either. A symlink alone would not do: fchmodat2 with
    /// AT_SYMLINK_NOFOLLOW follows a hard link. Returns 0, or an errno with <paramref name="detail"/>:
    /// ELOOP (a symlink is there), EPERM (another file) or ENOENT (the file is gone) with
    /// <paramref name="unsafePath"/> set, else the failing call's. <paramref name="made"/> is the bind's own file when it is still at the path.
    /// </summary>
    private unsafe int AdoptUnixFile(int fd, byte[] path, uint mode, out UnixFile? made, out bool unsafePath, out string? detail)
    {
        made = null;
        unsafePath = false;
        detail = null;
        int diag = UnixSocketDiag.BoundFile(fd, out uint boundDevice, out uint boundInode);
        int file;
        fixed (byte* p = path) file = Libc.Open(p, Const.O_PATH | Const.O_NOFOLLOW | Const.O_CLOEXEC);
        if (file < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            unsafePath = errno == Errno.ENOENT;
            detail = "the socket file the bind made could not be opened again: " + (unsafePath ? "it is no longer at the path" : Errno.Name(errno));
            return errno;
        }
        try
        {
            StatxBuffer st;
            fixed (byte* empty = "\0"u8)
            {
                if (Libc.Statx(file, empty, StatxBuffer.AT_EMPTY_PATH, StatxBuffer.STATX_BASIC_STATS, &st) != 0)
                {
                    detail = "the socket file the bind made could not be read back";
                    return Marshal.GetLastPInvokeError();
                }
            }
            // sock_diag gives the low 32 bits of the inode and the kernel's device number (major << 20 | minor).
            bool bound = diag == 0 && (st.Mode & StatxBuffer.S_IFMT) == StatxBuffer.S_IFSOCK && (uint)st.Inode == boundInode
                && (st.DevMajor << 20 | st.DevMinor) == boundDevice;
            var wrong = NotTheBoundFile(st, identityKnown: diag == 0, bound);
            if (diag == 0 ? bound : wrong is null) made = new UnixFile(path, st.DevMajor, st.DevMinor, st.Inode);
            if (wrong is { } w)
            {
                unsafePath = true;
                detail = $"after the bind, {w.What}: someone who can write the directory changed it; no mode was set and the socket is closed";
                return w.Errno;
            }
            if ((st.Mode & 0xFFF) == mode) return 0;
            if (diag != 0)
            {
                // Without the kernel's word, another socket file of this user could have been moved in.
                detail = $"the umask took bits of UnixSocketMode, and they are not put back: which file the bind made is unknown "
                    + $"(sock_diag for Unix sockets: {Errno.Name(diag)}); ask for a mode the umask leaves as it is";
                return diag;
            }
            return SetModeThrough(file, mode, out detail);
        }
        finally
        {
            Libc.Close(file);
        }
    }

    /// <summary>
    /// What is wrong with the file the path led to after the bind, with the errno to report, or null when
    /// it is the bind's own file: a socket owned by this user, one link, the bound inode. Each check has
    /// its own message; the inode (when the kernel told it) is what makes the others safe to rely on.
    /// </summary>
    private static (int Errno, string What)? NotTheBoundFile(in StatxBuffer st, bool identityKnown, bool bound)
    {
        int type = st.Mode & StatxBuffer.S_IFMT;
        uint euid = Libc.GetEUid();
        return type == StatxBuffer.S_IFLNK ? (Errno.ELOOP, "a symlink is at the path")
            : type != StatxBuffer.S_IFSOCK ? (Errno.EPERM, "a file that is not a socket is at the path")
            : st.Nlink == 0 ? (Errno.ENOENT, "the socket file was removed from the path")
            : st.Uid != euid ? (Errno.EPERM, $"the socket file at the path belongs to uid {st.Uid}, not {euid}")
            : st.Nlink != 1 ? (Errno.EPERM, $"the socket file at the path has {st.Nlink} links")
            : identityKnown && !bound ? (Errno.EPERM, "another socket file is at the path")
            : null;
    }

    /// <summary>
    /// chmod through an O_PATH descriptor: by its /proc/self/fd link, which leads to the file itself, as
    /// glibc's fchmodat does (fchmod refuses O_PATH; fchmodat2 with AT_EMPTY_PATH needs Linux 6.6 and is
    /// refused by seccomp profiles older than it).
    /// </summary>
    private static unsafe int SetModeThrough(int file, uint mode, out string? detail)
    {
        detail = null;
        Span<byte> link = stackalloc byte[32];
        "/proc/self/fd/"u8.CopyTo(link);
        file.TryFormat(link[14..], out int digits);
        link[14 + digits] = 0;
        fixed (byte* l = link)
        {
            if (Libc.Chmod(l, mode) == 0) return 0;
        }
        detail = "the socket file's mode could not be set";
        return Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// True when the socket was open once <paramref name="file"/> was handed to dispose. Bind and dispose
    /// may race: each writes (this the file, dispose the closed flag) before it reads the other's, both
    /// with full fences, so at least one sees both and the file is removed exactly once.
    /// </summary>
    private bool KeepUnixFile(UnixFile file)
    {
        Interlocked.Exchange(ref _unixFile, file);
        if (!IsClosed) return true;
        RemoveUnixFile();
        return false;
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

    /// <summary>Removes the socket file this socket created, if it is still that file; once, whoever calls first.</summary>
    private unsafe void RemoveUnixFile()
    {
        if (Interlocked.Exchange(ref _unixFile, null) is not { } f) return;
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
