using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

public sealed partial class DatagramSocket
{
    /// <summary>
    /// One non-blocking system call of a receive or send, and the results its operation can end with.
    /// Implemented by structs, so <see cref="Retry"/> is compiled once per operation with these calls
    /// inlined: no delegate, no allocation.
    /// </summary>
    private interface IAttempt<TResult>
    {
        /// <summary>Makes the call once: 0 with <paramref name="result"/> when the operation is over, else
        /// an errno (<see cref="Again"/> to call again at once, EAGAIN to wait for readiness).</summary>
        int Try(int fd, out TResult result);

        /// <summary>The result for a socket closed before or during the operation.</summary>
        TResult Closed();

        /// <summary>The result when the deadline passed (or a waker woke the wait).</summary>
        TResult TimedOut();

        /// <summary>The result for a kernel error, counted where the operation counts it.</summary>
        TResult Failed(int errno);
    }

    /// <summary>What <see cref="IAttempt{TResult}.Try"/> returns to be called again without waiting (a
    /// signal, a filtered datagram, a partial batch): EINTR, which the loop retries in any case.</summary>
    private const int Again = Errno.EINTR;

    /// <summary>What a receive waits for: POLLRDHUP too, so a shutdown() ends the wait (see <see cref="Retry"/>).</summary>
    private const short Readable = Const.POLLIN | Const.POLLRDHUP;

    private const short Writable = Const.POLLOUT;

    /// <summary>A call's timeout in poll() terms, counted from when it starts: -1 waits for ever, 0 tries once.</summary>
    private readonly struct Deadline(int timeoutMs)
    {
        private readonly long _end = timeoutMs > 0 ? Environment.TickCount64 + timeoutMs : 0;

        public bool TriesOnce => timeoutMs == 0;

        /// <summary>Milliseconds left: -1 for ever, 0 when due.</summary>
        public int Remaining => timeoutMs <= 0 ? timeoutMs : (int)Math.Max(0, _end - Environment.TickCount64);
    }

    /// <summary>
    /// The loop every receive and send runs: holds the descriptor, retries EINTR, and on EAGAIN polls for
    /// <paramref name="events"/> until the deadline. A receive may also wake on <paramref name="waker"/>
    /// (then it times out at once). A closed socket ends it as Closed, whatever errno closing caused.
    /// </summary>
    private TResult Retry<TAttempt, TResult>(ref TAttempt attempt, short events, Deadline deadline, Waker? waker = null)
        where TAttempt : struct, IAttempt<TResult>
    {
        if (!TryEnter(out int fd)) return attempt.Closed();
        bool wakerHeld = false;
        try
        {
            if (waker is not null && !(wakerHeld = waker.TryAcquire())) return attempt.Closed();
            bool shutDown = false, pollSaidReady = false;
            int backoffMs = 1;
            while (true)
            {
                int errno = attempt.Try(fd, out TResult result);
                if (errno == 0) return result;
                if (errno == Again) continue;
                if (Volatile.Read(ref _closed) != 0) return attempt.Closed();
                // After shutdown() a non-blocking recvmsg says EAGAIN while poll keeps reporting readable:
                // the hang-up poll saw ends the operation instead of spinning.
                if (errno == Errno.EAGAIN && shutDown) errno = Errno.ESHUTDOWN;
                if (errno != Errno.EAGAIN) return attempt.Failed(errno);
                int wait = deadline.Remaining;
                if (wait == 0) return attempt.TimedOut();
                if (pollSaidReady && events == Writable)
                {
                    // poll() said writable yet the send would block: an unconnected Unix socket whose
                    // peer's queue is full (poll only tracks a connected peer). Back off instead of spinning.
                    Thread.Sleep(wait < 0 ? backoffMs : Math.Min(wait, backoffMs));
                    backoffMs = Math.Min(backoffMs * 2, 16);
                    pollSaidReady = false;
                    continue;
                }
                switch (Wait(fd, events, wait, wakerHeld ? waker!.Fd : -1))
                {
                    case Readiness.Ready: pollSaidReady = true; break;
                    case Readiness.ShutDown: shutDown = true; break;
                    case Readiness.Woken: waker!.Drain(); return attempt.TimedOut();
                }
            }
        }
        finally
        {
            if (wakerHeld) waker!.Release();
            Exit();
        }
    }

    private enum Readiness { NotReady, Ready, ShutDown, Woken }

    /// <summary>poll() for <paramref name="events"/> and the waker; reports a hang-up (POLLHUP, POLLRDHUP) as ShutDown.</summary>
    private static unsafe Readiness Wait(int fd, short events, int waitMs, int wakeFd)
    {
        PollFd* p = stackalloc PollFd[2];
        p[0] = new PollFd { Fd = fd, Events = events };
        p[1] = new PollFd { Fd = wakeFd, Events = Const.POLLIN };
        if (Libc.Poll(p, wakeFd >= 0 ? 2u : 1u, waitMs) <= 0) return Readiness.NotReady; // timeout or EINTR: try again
        if (wakeFd >= 0 && (p[1].Revents & (Const.POLLIN | Const.POLLERR | Const.POLLNVAL)) != 0) return Readiness.Woken;
        if ((p[0].Revents & (Const.POLLHUP | Const.POLLRDHUP)) != 0) return Readiness.ShutDown;
        return (p[0].Revents & events) != 0 ? Readiness.Ready : Readiness.NotReady;
    }
}
