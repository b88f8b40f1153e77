using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>
/// An eventfd a blocked receive also polls, so another thread can wake it at once (to suspend or stop a
/// read loop) without closing the socket and without polling in time slices.
/// </summary>
internal sealed unsafe class Waker : IDisposable
{
    private readonly SafeFdHandle _fd;

    public Waker()
    {
        int fd = Libc.EventFd(0, Const.EFD_NONBLOCK | Const.EFD_CLOEXEC);
        if (fd < 0) throw new DatagramSocketException("EventFd", DatagramSocketError.Kernel, Marshal.GetLastPInvokeError());
        _fd = new SafeFdHandle(fd);
    }

    /// <summary>The descriptor to poll (valid until disposed).</summary>
    public int Fd => _fd.Fd;

    /// <summary>Takes a reference on the descriptor for the length of a wait (false once disposed).</summary>
    public bool TryAcquire()
    {
        bool added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
            return added;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public void Release() => _fd.DangerousRelease();

    /// <summary>Makes the descriptor readable: a receive polling it returns.</summary>
    public void Wake()
    {
        bool added = false;
        try
        {
            _fd.DangerousAddRef(ref added);
            ulong one = 1;
            Libc.Write(_fd.Fd, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (added) _fd.DangerousRelease();
        }
    }

    /// <summary>Resets the descriptor (reads the counter).</summary>
    public void Drain()
    {
        ulong value;
        Libc.Read(_fd.Fd, &value, sizeof(ulong));
    }

    public void Dispose() => _fd.Dispose();
}
