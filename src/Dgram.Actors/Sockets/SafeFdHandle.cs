using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>Owns a socket file descriptor; the reference count keeps it open while a call uses it.</summary>
internal sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => Libc.Close(Fd) == 0;
}
