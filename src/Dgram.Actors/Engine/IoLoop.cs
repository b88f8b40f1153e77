using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Engine;

/// <summary>
/// One engine thread: an epoll set, an eventfd to wake it, a queue of requests from other threads, and the
/// readers it owns. Every reader's state is touched only by the thread working on it (under its gate), so
/// nothing on the read path contends. A shared loop serves many sockets; a dedicated one serves one and ends with it.
/// </summary>
/// <remarks>
/// A consumer that blocks on a shared thread would stall every socket there. The engine's watchdog
/// (<see cref="CheckStall"/>) notices work on one reader (a read or a request) running longer than
/// <see cref="EngineSettings.BlockingBudget"/>: that socket leaves this epoll set for a dedicated loop, and a
/// fresh thread takes over this loop at once. The blocked thread, when the call returns, finishes that
/// socket's work and becomes its dedicated thread; the socket keeps it from then on.
/// </remarks>
internal sealed unsafe class IoLoop
{
    private const ulong WakeToken = 0;
    private readonly IoEngine _engine;
    private readonly Waker _waker = new();
    private readonly object _lock = new();
    private List<Op> _ops = [], _spare = [];
    private readonly ConcurrentDictionary<ulong, SocketReader> _readers = new();
    private readonly HashSet<SocketReader> _waiting = [];
    private Thread _thread;
    private long _busySince;
    private SocketReader? _current;
    private volatile bool _stopping, _trim;
    private bool _ended;
    private ReadBuffers? _buffers;

    /// <summary>A request: for a reader (run under its gate, on the loop that owns it then), or for the loop itself.</summary>
    private readonly record struct Op(SocketReader? Reader, Action<SocketReader>? ForReader, Action? ForLoop);

    public IoLoop(IoEngine engine, string name, bool dedicated)
    {
        _engine = engine;
        Name = name;
        Dedicated = dedicated;
        EpollFd = Epoll.Create(Epoll.EPOLL_CLOEXEC);
        if (EpollFd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _waker.Dispose();
            throw new DatagramSocketException("epoll_create1", DatagramSocketError.Kernel, errno, name);
        }
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
    public void Post(SocketReader reader, Action<SocketReader> op) => Enqueue(new Op(reader, op, null));

    public void Post(Action op) => Enqueue(new Op(null, null, op));

    private void Enqueue(Op op)
    {
        lock (_lock)
        {
            if (!_ended)
            {
                _ops.Add(op);
                _waker.Wake();
                return;
            }
        }
        // The loop has ended (its socket failed or stopped): nothing reads any more, so the request runs here,
        // and its answer (Subscribed, ReadingSuspended, ...) still goes out.
        if (op.Reader is { } reader) RunFor(reader, op.ForReader!, static (r, work) => work(r));
        else op.ForLoop!();
    }

    /// <summary>The reader's waits for room are checked every millisecond (this loop's thread only).</summary>
    public void AddWaiting(SocketReader reader) => _waiting.Add(reader);

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

    /// <summary>Ends the loop after the requests queued so far (the readers still here are stopped).</summary>
    public void RequestShutdown() => Post(() => _stopping = true);

    /// <summary>Waits, up to <paramref name="wait"/>, for the loop's thread to close its descriptors.</summary>
    public bool AwaitShutdown(TimeSpan wait)
    {
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
                if (RunOps() is { } movedByOp)
                {
                    ContinueAsDedicated(movedByOp);
                    return;
                }
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
                    if (!Work(reader, (Epoll.EventsAt(events, i), this), static (r, s) => r.OnReady(s.Item1, s.Item2.Buffers, s.Item2._engine.Settings.ReadsPerWakeup)))
                    {
                        ContinueAsDedicated(reader);
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
            foreach (SocketReader left in _readers.Values) Work(left, this, static (r, loop) => r.Stop(loop.Buffers));
        }
        catch (Exception e)
        {
            // A bug in the loop itself (not in one socket's work, which fails only that socket): say so loudly,
            // and fail its sockets so their incarnations are rebuilt on a working thread.
            _engine.LoopFailed(this, e);
            foreach (SocketReader left in _readers.Values) RunFor(left, e, static (r, e) => r.Fail(e));
            lock (_lock)
            {
                // The engine keeps serving: the sockets it gives this loop later need a thread that reads them.
                if (!_stopping && _thread == Thread.CurrentThread)
                {
                    _thread = NewThread();
                    _thread.Start();
                    return;
                }
            }
        }
        if (Thread.CurrentThread == _thread) Close();
    }

    /// <summary>
    /// Does <paramref name="work"/> on a reader under its gate, visible to the watchdog; an exception fails that
    /// socket only. False when the watchdog handed this loop to a new thread meanwhile (the reader moved).
    /// </summary>
    private bool Work<T>(SocketReader reader, T state, Action<SocketReader, T> work)
    {
        lock (_lock)
        {
            _current = reader;
            _busySince = Stopwatch.GetTimestamp();
        }
        RunFor(reader, state, work);
        lock (_lock)
        {
            _current = null;
            _busySince = 0;
            return _thread == Thread.CurrentThread;
        }
    }

    private static void RunFor<T>(SocketReader reader, T state, Action<SocketReader, T> work)
    {
        lock (reader.Gate)
        {
            try
            {
                work(reader, state);
            }
            catch (Exception e)
            {
                reader.Fail(e);
            }
        }
    }

    private void CheckWaiting()
    {
        foreach (SocketReader r in _waiting.ToArray())
        {
            if (r.Loop != this || !r.WaitsForRoom)
            {
                _waiting.Remove(r); // moved, stopped, suspended (a resume adds it back) or free to read
                continue;
            }
            RunFor(r, 0, static (r, _) => r.CheckRoom());
            if (!r.WaitsForRoom) _waiting.Remove(r);
        }
    }

    /// <summary>Runs the queued requests; returns the reader the watchdog moved while one of its requests ran (the rest go back to the loop).</summary>
    private SocketReader? RunOps()
    {
        List<Op> ops;
        lock (_lock)
        {
            if (_ops.Count == 0) return null;
            ops = _ops;
            _ops = _spare;
            _spare = ops;
        }
        try
        {
            for (int i = 0; i < ops.Count; i++)
            {
                Op op = ops[i];
                if (op.Reader is not { } reader)
                {
                    try
                    {
                        op.ForLoop!();
                    }
                    catch (Exception e)
                    {
                        _engine.OpFailed(this, e);
                    }
                    continue;
                }
                if (reader.Loop is { } owner && owner != this)
                {
                    owner.Post(reader, op.ForReader!);
                    continue;
                }
                if (!Work(reader, op.ForReader!, static (r, work) => work(r)))
                {
                    for (int k = i + 1; k < ops.Count; k++) Enqueue(ops[k]); // the new thread runs them
                    return reader;
                }
            }
            return null;
        }
        finally
        {
            ops.Clear();
        }
    }

    /// <summary>
    /// Called by the engine's watchdog: when work on one reader has run longer than <paramref name="budget"/>,
    /// the blocked socket moves to a dedicated loop and a new thread takes this loop over. Returns the socket
    /// moved. The new loop and thread exist before anything changes: a failure leaves everything as it was.
    /// </summary>
    public SocketReader? CheckStall(long budget)
    {
        lock (_lock)
        {
            if (_current is not { Detached: false } blocked || _busySince == 0 || Stopwatch.GetTimestamp() - _busySince < budget) return null;
            var own = new IoLoop(_engine, "dgram-read-" + blocked.Name, dedicated: true);
            Thread replacement = NewThread();
            // Out of this epoll set now (safe from any thread; the blocked thread holds the descriptor's
            // reference, so the number is still the socket's); its fields stay with the blocked thread.
            Epoll.Control(EpollFd, Epoll.EPOLL_CTL_DEL, blocked.Fd, 0, 0);
            _readers.TryRemove(blocked.Token, out _);
            own._readers[blocked.Token] = blocked;
            blocked.Loop = own; // its requests queue there until the blocked thread runs that loop
            _current = null;
            _busySince = 0;
            own._buffers = _buffers; // the blocked thread keeps its batches; the new one makes its own
            _buffers = null;
            _thread = replacement;
            replacement.Start();
            return blocked;
        }
    }

    /// <summary>On the thread the watchdog replaced: the reader's loop is now its own, and this thread runs it.</summary>
    private void ContinueAsDedicated(SocketReader reader)
    {
        IoLoop own = reader.Loop!;
        own._thread = Thread.CurrentThread;
        Thread.CurrentThread.Name = own.Name; // dgram-read-NAME from now on: its old name goes with the loop to the thread that replaced it
        // Armed in its own epoll set before any request queued there runs.
        RunFor(reader, 0, static (r, _) => r.Rehome());
        own.Run();
    }

    private void Close()
    {
        List<Op> left;
        lock (_lock)
        {
            _ended = true;
            left = [.. _ops];
            _ops.Clear();
        }
        foreach (Op op in left) Enqueue(op); // run here, now that the loop has ended
        _buffers?.Dispose();
        _waker.Dispose();
        Libc.Close(EpollFd);
    }
}
