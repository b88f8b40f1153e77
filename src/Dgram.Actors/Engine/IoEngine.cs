using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Engine;

/// <summary>
/// The shared I/O engine of one actor system (an Akka extension): a few epoll threads serve every socket,
/// each socket belonging to one of them, instead of a thread per socket. A socket that asks for it
/// (<see cref="Protocol.SocketSettings.DedicatedReadThread"/>) gets a loop and thread of its own.
/// </summary>
internal sealed class IoEngine : IExtension, IDisposable
{
    /// <summary>The epoll token of the link table's netlink socket (readers' tokens start at 1).</summary>
    public const ulong LinkToken = ulong.MaxValue;

    private readonly IoLoop[] _shared;
    private readonly ConcurrentDictionary<IActorRef, byte> _linkWatchers = new();
    private readonly List<LinkChange> _changes = [];
    private readonly ILoggingAdapter _log;
    private readonly Timer _watchdog;
    private long _nextToken;
    private int _disposed;

    public IoEngine(ExtendedActorSystem system)
    {
        Settings = EngineSettings.From(system.Settings.Config);
        _log = Logging.GetLogger(system, "dgram.engine");
        Links = LinkTable.Open();
        _shared = new IoLoop[Settings.Threads];
        for (int i = 0; i < _shared.Length; i++)
        {
            _shared[i] = new IoLoop(this, $"dgram-io-{i}", dedicated: false);
            _shared[i].Start();
        }
        _shared[0].Watch(Links.Fd, LinkToken);
        TimeSpan period = Settings.BlockingBudget / 2;
        _watchdog = new Timer(_ => CheckStalls(), null, period, period);
        system.RegisterOnTermination(Dispose);
    }

    public static IoEngine Get(ActorSystem system) => system.WithExtension<IoEngine, IoEngineProvider>();

    public EngineSettings Settings { get; }

    /// <summary>Interfaces as rtnetlink last described them: one netlink socket per engine, no polling.</summary>
    public LinkTable Links { get; }

    /// <summary>Tells <paramref name="incarnation"/> <see cref="Actors.LinksChanged"/> whenever an interface changes.</summary>
    public void WatchLinks(IActorRef incarnation) => _linkWatchers[incarnation] = 0;

    public void UnwatchLinks(IActorRef incarnation) => _linkWatchers.TryRemove(incarnation, out _);

    /// <summary>On the first engine thread: the netlink socket is readable.</summary>
    internal void OnLinksReadable()
    {
        _changes.Clear();
        try
        {
            Links.Read(_changes);
        }
        catch (DatagramSocketException e)
        {
            // A resync dump the kernel refused (EMFILE, say): the table retries at its next read; until then
            // interfaces are as last seen. The watchdog's tick asks for that read, so it comes without an event.
            _log.Warning("Interface table: {0}; retrying", e.Message);
            _linksRetry = true;
        }
        if (_changes.Count == 0) return;
        var message = new Actors.LinksChanged(_changes.ToArray());
        foreach (IActorRef watcher in _linkWatchers.Keys) watcher.Tell(message, ActorRefs.NoSender);
    }

    /// <summary>Shared engine threads.</summary>
    public int Threads => _shared.Length;

    /// <summary>Hands a socket to the engine: to the least loaded shared thread, or to a new thread of its own.</summary>
    public void Register(SocketReader reader, bool dedicated)
    {
        reader.Token = (ulong)Interlocked.Increment(ref _nextToken);
        if (dedicated)
        {
            var own = new IoLoop(this, "dgram-read-" + reader.Name, dedicated: true);
            own.Adopt(reader);
            own.Start();
            return;
        }
        IoLoop least = _shared[0];
        foreach (IoLoop loop in _shared)
        {
            if (loop.Count < least.Count) least = loop;
        }
        least.Adopt(reader);
    }

    private volatile bool _linksRetry;

    private void CheckStalls()
    {
        if (_linksRetry)
        {
            _linksRetry = false;
            _shared[0].Post(OnLinksReadable);
        }
        long budget = (long)(Settings.BlockingBudget.TotalSeconds * Stopwatch.Frequency);
        foreach (IoLoop loop in _shared)
        {
            SocketReader? moved;
            try
            {
                moved = loop.CheckStall(budget);
            }
            catch (Exception e)
            {
                // No descriptor or thread for the hand-off (EMFILE, say): nothing changed; the next tick tries again.
                _log.Warning("Engine thread {0} is blocked by a consumer, and moving its socket failed: {1}", loop.Name, e.Message);
                continue;
            }
            if (moved is not null)
            {
                _log.Warning("Socket {0}: a consumer blocked shared read thread {1} for more than {2} ms; the socket moved to a thread of its own " +
                    "and the thread's other sockets to a new one (span handlers and inline subscribers must not block; set DedicatedReadThread for one that may)",
                    moved.Name, loop.Name, (int)Settings.BlockingBudget.TotalMilliseconds);
            }
        }
    }

    internal void LoopFailed(IoLoop loop, Exception e) => _log.Error(e, "Engine thread {0} failed; its sockets no longer read", loop.Name);

    internal void OpFailed(IoLoop loop, Exception e) => _log.Error(e, "Engine thread {0}: a request failed", loop.Name);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _watchdog.Dispose();
        // On the system's termination, not an actor's thread: a bounded wait for the threads to close their descriptors.
        foreach (IoLoop loop in _shared) loop.RequestShutdown();
        bool[] ended = [.. _shared.Select(loop => loop.AwaitShutdown(TimeSpan.FromSeconds(2)))];
        for (int i = 0; i < ended.Length; i++)
        {
            if (!ended[i]) _log.Warning("Engine thread {0} did not end within 2 s (a consumer is blocking it)", _shared[i].Name);
        }
        if (ended[0]) Links.Dispose(); // the first loop reads it: only once that loop has ended
    }
}

internal sealed class IoEngineProvider : ExtensionIdProvider<IoEngine>
{
    public override IoEngine CreateExtension(ExtendedActorSystem system) => new(system);
}
