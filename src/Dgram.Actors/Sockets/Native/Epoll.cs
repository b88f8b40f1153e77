using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dgram.Actors.Sockets.Native;

/// <summary>epoll(7): the engine's readiness calls. Like <see cref="Libc"/>, nothing here throws.</summary>
/// <remarks>
/// struct epoll_event is packed on x86-64 (12 bytes: events, then the 8-byte data at offset 4) and naturally
/// aligned elsewhere (16 bytes, data at offset 8), so events are read and written by offset, not through a struct.
/// </remarks>
internal static unsafe partial class Epoll
{
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x1, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000;

    /// <summary>sizeof(struct epoll_event) on this architecture.</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = EventSize == 12 ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int Create(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int Ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int Wait(int epfd, byte* events, int maxEvents, int timeoutMs);

    /// <summary>epoll_ctl; returns 0 or the errno.</summary>
    public static int Control(int epfd, int op, int fd, uint events, ulong data)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        Unsafe.WriteUnaligned(ev + DataOffset, data);
        return Ctl(epfd, op, fd, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>The events of the <paramref name="i"/>-th entry epoll_wait returned.</summary>
    public static uint EventsAt(byte* events, int i) => Unsafe.ReadUnaligned<uint>(events + (i * EventSize));

    /// <summary>The data of the <paramref name="i"/>-th entry epoll_wait returned.</summary>
    public static ulong DataAt(byte* events, int i) => Unsafe.ReadUnaligned<ulong>(events + (i * EventSize) + DataOffset);
}
