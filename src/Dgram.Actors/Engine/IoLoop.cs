using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Engine;

/// <summary>
/// One engine thread: an epoll set, an eventfd to wake it, a queue of requests from other threads, and the
/// readers it owns. Every reader's state is touched only by its loop's thread, so nothing on the read path
/// takes a lock. A shared loop serves many sockets; a dedicated one serves one and ends with it.
/// </summary>
/// <remarks>
/// A consumer that blocks on a shared thread would stall every socket there. The engine's watchdog
/// (<see cref="CheckStall"/>) notices a dispatch running longer than <see cref="EngineSettings.BlockingBudget"/>:
/// the blocked socket leaves this epoll set for a dedicated loop, and a fresh thread takes over this loop at
/// once. The blocked thread, when the call returns, finishes that socket's read and becomes its dedicated
/// thread; the socket keeps it from then on.
/// </remarks>
internal sealed unsafe class IoLoop
{
    private const ulong WakeToken = 0;
    private readonly IoEngine _engine;
    private readonly Waker _waker = new();
    private readonly object _lock = new();
    private List<Action> _ops = [], _spare = [];
    private readonly ConcurrentDictionary<ulong, SocketReader> _readers = new();
    private readonly HashSet<SocketReader> _waiting = [];
    private Thread _thread;
    private long _busySince;
    private SocketReader? _current;
    private volatile bool _stopping, _trim;
    private ReadBuffers? _buffers;

    public IoLoop(IoEngine engine, string name, bool dedicated)
    {
        _engine = engine;
        Name = name;
        Dedicated = dedicated;
        EpollFd = Epoll.Create(Epoll.EPOLL_CLOEXEC);
        if (EpollFd < 0) throw new DatagramSocketException("epoll_create1", DatagramSocketError.Kernel, Marshal.GetLastPInvokeError(), name);
        Epoll.Control(EpollFd, Epoll.EPOLL_CTL_ADD, _waker.Fd, Epoll.EPOLLIN, WakeToken);
        _thread = NewThread();
    }

    public string Name { get; }

    public bool Dedicated { get; }

    public int EpollFd { get; }

    /// <summary>Sockets this loop reads.</summary>
    public int Count => _readers.Count;

    /// <summary>The running thread's receive batches (engine thread only).</summary>
    public ReadBuffers Buffers => _buffers ??= new ReadBuffers();

    public void Start() => _thread.Start();

    private Thread NewThread() => new(Run) { IsBackground = true, Name = Name };

    /// <summary>Adds a reader: from now on its requests queue here; it is attached on this loop's thread.</summary>
    public void Adopt(SocketReader reader)
    {
        reader.Loop = this;
        _readers[reader.Token] = reader;
        Post(reader, static r => r.Attach());
    }

    /// <summary>Watches a descriptor of the engine's own (the netlink socket) under <paramref name="token"/>.</summary>
    public void Watch(int fd, ulong token)
    {
        int errno = Epoll.Control(EpollFd, Epoll.EPOLL_CTL_ADD, fd, Epoll.EPOLLIN, token);
        if (errno != 0) throw new DatagramSocketException("epoll_ctl", DatagramSocketError.Kernel, errno, Name);
    }

    /// <summary>Queues <paramref name="op"/> for the loop that owns <paramref name="reader"/> when it runs (it may have moved since).</summary>
    public void Post(SocketReader reader, Action<SocketReader> op) => Post(() =>
    {
        if (reader.Loop is { } owner && owner != this)
        {
            owner.Post(reader, op);
            return;
        }
        lock (reader.Gate)
        {
            try
            {
                op(reader);
            }
            catch (Exception e)
            {
                reader.Fail(e); // that socket's incarnation fails, not the loop
            }
        }
    });

    public void Post(Action op)
    {
        lock (_lock) _ops.Add(op);
        _waker.Wake();
    }

    /// <summary>
    /// A reader let go of this loop (stopped or failed), on this loop's thread or its owner's. A dedicated loop
    /// ends with its socket. (The waiting set drops it at its next check: only this loop's thread touches that.)
    /// </summary>
    public void Forget(SocketReader reader)
    {
        _readers.TryRemove(reader.Token, out _);
        _trim = true;
        if (Dedicated && _readers.IsEmpty) _stopping = true;
        _waker.Wake(); // to trim (or end) on its own thread
    }

    /// <summary>
    /// Ends the loop after the requests queued so far (the readers still here are stopped) and waits, up to
    /// <paramref name="wait"/>, for its thread to close its descriptors: an actor system that has terminated leaves none open.
    /// </summary>
    public bool Shutdown(TimeSpan wait)
    {
        Post(() => _stopping = true);
        Thread thread = _thread;
        return thread == Thread.CurrentThread || !thread.IsAlive || thread.Join(wait);
    }

    private void Run()
    {
        const int MaxEvents = 64;
        byte* events = stackalloc byte[MaxEvents * 16];
        try
        {
            while (!_stopping)
            {
                RunOps();
                if (_stopping) break;
                int n = Epoll.Wait(EpollFd, events, MaxEvents, _waiting.Count > 0 ? 1 : -1);
                for (int i = 0; i < n; i++)
                {
                    ulong token = Epoll.DataAt(events, i);
                    if (token == WakeToken)
                    {
                        _waker.Drain();
                        continue;
                    }
                    if (token == IoEngine.LinkToken)
                    {
                        _engine.OnLinksReadable();
                        continue;
                    }
                    if (!_readers.TryGetValue(token, out SocketReader? reader)) continue;
                    ReadBuffers buffers = Buffers;
                    if (!Serve(reader, Epoll.EventsAt(events, i), buffers))
                    {
                        ContinueAsDedicated(reader, buffers);
                        return;
                    }
                }
                if (_waiting.Count > 0) CheckWaiting();
                if (_trim)
                {
                    _trim = false;
                    _buffers?.Retain(_readers.Values); // a shape no socket here reads with any more is freed
                }
            }
            foreach (SocketReader left in _readers.Values) left.Stop(Buffers);
        }
        catch (Exception e)
        {
            // A bug in the loop itself (not in one socket's read, which fails only that socket): say so loudly,
            // and fail its sockets so their incarnations are rebuilt on a working thread.
            _engine.LoopFailed(this, e);
            foreach (SocketReader left in _readers.Values) left.Fail(e);
        }
        finally
        {
            if (Thread.CurrentThread == _thread) Close();
        }
    }

    /// <summary>Reads one ready socket; false when the watchdog handed this loop to a new thread meanwhile.</summary>
    private bool Serve(SocketReader reader, uint events, ReadBuffers buffers)
    {
        lock (_lock)
        {
            _current = reader;
            _busySince = Stopwatch.GetTimestamp();
        }
        lock (reader.Gate)
        {
            try
            {
                reader.OnReady(events, buffers, _engine.Settings.ReadsPerWakeup);
                if (reader.WaitsForRoom) _waiting.Add(reader);
            }
            catch (Exception e)
            {
                reader.Fail(e);
            }
        }
        lock (_lock)
        {
            _current = null;
            _busySince = 0;
            return _thread == Thread.CurrentThread;
        }
    }

    private void CheckWaiting()
    {
        foreach (SocketReader r in _waiting.ToArray())
        {
            lock (r.Gate)
            {
                try
                {
                    if (r.WaitsForRoom) r.CheckRoom();
                }
                catch (Exception e)
                {
                    r.Fail(e);
                }
            }
            if (!r.WaitsForRoom) _waiting.Remove(r);
        }
    }

    private void RunOps()
    {
        List<Action> ops;
        lock (_lock)
        {
            if (_ops.Count == 0) return;
            ops = _ops;
            _ops = _spare;
            _spare = ops;
        }
        foreach (Action op in ops)
        {
            try
            {
                op();
            }
            catch (Exception e)
            {
                _engine.OpFailed(this, e);
            }
        }
        ops.Clear();
    }

    /// <summary>
    /// Called by the engine's watchdog: when one dispatch has run longer than <paramref name="budget"/>, the
    /// blocked socket moves to a dedicated loop and a new thread takes this loop over. Returns the socket moved.
    /// </summary>
    public SocketReader? CheckStall(long budget)
    {
        lock (_lock)
        {
            if (_current is not { } blocked || _busySince == 0 || Stopwatch.GetTimestamp() - _busySince < budget) return null;
            // Out of this epoll set now (safe from any thread); its fields stay with the blocked thread.
            Epoll.Control(EpollFd, Epoll.EPOLL_CTL_DEL, blocked.Fd, 0, 0);
            _readers.TryRemove(blocked.Token, out _);
            var own = new IoLoop(_engine, "dgram-read-" + blocked.Name, dedicated: true);
            own._readers[blocked.Token] = blocked;
            blocked.Loop = own; // its requests queue there until the blocked thread runs that loop
            _current = null;
            _busySince = 0;
            _buffers = null; // the blocked thread keeps its batches; the new one makes its own
            _thread = NewThread();
            _thread.Start();
            return blocked;
        }
    }

    /// <summary>On the thread the watchdog replaced: this socket's loop is now its own, and this thread runs it.</summary>
    private static void ContinueAsDedicated(SocketReader reader, ReadBuffers buffers)
    {
        var own = reader.Loop!;
        own._buffers = buffers;
        own._thread = Thread.CurrentThread;
        Thread.CurrentThread.Name = own.Name; // dgram-read-NAME from now on: its old name goes with the loop to the thread that replaced it
        own.Post(reader, static r => r.Rehome());
        own.Run();
    }

    private void Close()
    {
        _buffers?.Dispose();
        _waker.Dispose();
        Libc.Close(EpollFd);
    }
}
