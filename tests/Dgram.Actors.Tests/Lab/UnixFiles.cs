using System.Runtime.InteropServices;
using System.Text;

namespace Dgram.Actors.Tests.Lab;

/// <summary>
/// The tests' own file-system calls, independent of the library's: what a racer does to a socket's path
/// (symlink, hard link, rename, chown) and what the tests read back without following a symlink.
/// </summary>
public static unsafe partial class UnixFiles
{
    public const int S_IFMT = 0xF000, S_IFSOCK = 0xC000, S_IFLNK = 0xA000, S_IFREG = 0x8000;

    /// <summary>What lstat (or fstat of an O_PATH descriptor) says about a file.</summary>
    public readonly record struct Status(int Type, int Mode, uint Uid, uint Links, ulong Inode)
    {
        public bool IsSocket => Type == S_IFSOCK;
    }

    /// <summary>A file pinned by an O_PATH descriptor: it can be read back wherever it was moved or unlinked.</summary>
    public sealed class Pinned(int fd) : IDisposable
    {
        public Status Status => StatFd(fd) ?? throw new InvalidOperationException($"fstat of pinned fd {fd}: {Errno()}");

        public void Dispose() => close(fd);
    }

    /// <summary>lstat: the file itself (a symlink is not followed); null when nothing is there.</summary>
    public static Status? Stat(string path)
    {
        StatxBuf st;
        return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) == 0 ? st.ToStatus() : null;
    }

    /// <summary>Opens the file at <paramref name="path"/> itself (O_PATH | O_NOFOLLOW), whatever it is.</summary>
    public static Pinned Pin(string path)
    {
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return fd >= 0 ? new Pinned(fd) : throw new InvalidOperationException($"open(O_PATH) {path}: {Errno()}");
    }

    /// <summary>
    /// A directory path that leads to <paramref name="directory"/> through a chain of <paramref name="links"/>
    /// symlinks made in it, each a ~4 KiB path of "./" components: every lookup through it walks thousands
    /// of components (around 0.1 ms per link), so the gap between a bind creating a file there and the
    /// next call finding it again is long enough for a racer thread to act in even on a loaded machine.
    /// </summary>
    public static string SlowAlias(string directory, string name, int links)
    {
        string filler = string.Concat(Enumerable.Repeat("./", 1900));
        for (int i = links - 1; i >= 0; i--)
        {
            string next = i == links - 1 ? "." : $"{name}{i + 1}";
            Symlink(filler + next, Path.Combine(directory, $"{name}{i}"));
        }
        return Path.Combine(directory, name + "0");
    }

    /// <summary>A socket file nobody is bound to any more: bound, then closed (the kernel never removes it).</summary>
    public static void MakeStaleSocket(string path)
    {
        byte[] sa = new byte[110];
        sa[0] = 1; // AF_UNIX, little-endian
        Encoding.UTF8.GetBytes(path).CopyTo(sa, 2);
        int fd = socket(1, 2, 0);
        if (fd < 0) throw new InvalidOperationException($"socket: {Errno()}");
        try
        {
            fixed (byte* p = sa)
            {
                if (bind(fd, p, (uint)sa.Length) != 0) throw new InvalidOperationException($"bind {path}: {Errno()}");
            }
        }
        finally
        {
            close(fd);
        }
    }

    public static void Symlink(string target, string path) => Check(symlink(target, path), "symlink", path);

    public static void HardLink(string existing, string path) => Check(link(existing, path), "link", path);

    /// <summary>rename(2): atomically replaces whatever is at <paramref name="to"/>.</summary>
    public static bool TryRename(string from, string to) => rename(from, to) == 0;

    /// <summary>renameat2(RENAME_EXCHANGE): atomically swaps two existing files; false when either is missing.</summary>
    public static bool TryExchange(string a, string b) => renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0;

    public static void Chown(string path, uint uid, uint gid) => Check(lchown(path, uid, gid), "lchown", path);

    /// <summary>unlink(2) without following a symlink; false when nothing was there.</summary>
    public static bool Unlink(string path) => unlink(path) == 0;

    private static Status? StatFd(int fd)
    {
        StatxBuf st;
        return statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) == 0 ? st.ToStatus() : null;
    }

    private static void Check(int rc, string call, string path)
    {
        if (rc != 0) throw new InvalidOperationException($"{call} {path}: {Errno()}");
    }

    private static string Errno() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7FF, RENAME_EXCHANGE = 2;
    private const int O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    // O_NOFOLLOW is one of the flags whose value differs between architectures.
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuf
    {
        [FieldOffset(16)] public uint Nlink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;

        public readonly Status ToStatus() => new(Mode & S_IFMT, Mode & 0xFFF, Uid, Nlink, Ino);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, StatxBuf* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int bind(int fd, byte* addr, uint len);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int symlink(string target, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string existing, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string from, string to);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int fromDir, string from, int toDir, string to, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lchown(string path, uint uid, uint gid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlink(string path);
}
