using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Engine;

/// <summary>
/// What the engine tests share: an actor system of their own with one engine thread (so every socket is on
/// it), stamped datagrams (a 4-byte sequence number; <see cref="Marker"/> ends a stream) and the handler
/// that counts them.
/// </summary>
internal static class EngineRig
{
    /// <summary>The stamp of the datagram that ends a stream: seen, everything sent before it has arrived or was dropped (lo keeps order).</summary>
    public const int Marker = -1;

    /// <summary>Size of every stamped datagram.</summary>
    public const int Size = 64;

    /// <summary>A system whose engine has one shared thread, logging to the test's output; <paramref name="config"/> adds to (or overrides) it. Dispose it in finally.</summary>
    public static ActorSystem OneThread(string name, ITestOutputHelper output, string config = "") =>
        TestLog.CreateSystem(name, output, config + "\ndgram.engine.threads = 1\nakka.loglevel = WARNING");

    /// <summary>A socket actor on 127.0.0.1 at a fresh port with <paramref name="handler"/> added (the push consumer that arms it).</summary>
    public static async Task<(SocketClient Client, IPEndPoint At)> Start(ActorSystem system, string name, IDatagramHandler handler,
        Func<SocketSettings, SocketSettings>? configure = null)
    {
        var at = new IPEndPoint(IPAddress.Loopback, Lab.LabNet.NextPort());
        var settings = new SocketSettings { Name = name + "-" + at.Port, Family = at.AddressFamily, LocalEndPoint = at };
        SocketClient client = await SocketClient.StartAsync(system, configure is null ? settings : configure(settings));
        await client.AddHandlerAsync(handler);
        return (client, at);
    }

    /// <summary>A plain IPv4 sender on 127.0.0.1.</summary>
    public static DatagramSocket Sender()
    {
        var tx = DatagramSocket.Create(System.Net.Sockets.AddressFamily.InterNetwork);
        tx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return tx;
    }

    public static byte[] Stamped(int stamp)
    {
        byte[] payload = new byte[Size];
        BinaryPrimitives.WriteInt32LittleEndian(payload, stamp);
        return payload;
    }

    public static int StampOf(ReadOnlySpan<byte> payload) => BinaryPrimitives.ReadInt32LittleEndian(payload);

    /// <summary>Sends one stamped datagram and asserts the kernel took it.</summary>
    public static void Send(DatagramSocket tx, EndPoint to, int stamp)
    {
        SendResult r = tx.SendTo(Stamped(stamp), to, TimeSpan.FromSeconds(5));
        Assert.True(r.Status == SendStatus.Sent, $"send of stamp {stamp} to {to}: {r}");
    }

    /// <summary>
    /// Sends stamps 0, 1, 2, … to every target at <paramref name="perSecond"/> per target for <paramref name="duration"/>
    /// (one sendmmsg per round of targets), on the calling thread; returns how many each got. After a late wake-up it
    /// catches up by at most <see cref="MaxBurst"/> rounds and lets the rest go unsent: on a busy machine a starved
    /// sender would otherwise send a burst longer than a receiver's queue, a loss the receiver could do nothing about.
    /// </summary>
    public static int Paced(DatagramSocket tx, IReadOnlyList<IPEndPoint> targets, int perSecond, TimeSpan duration)
    {
        var batch = new DatagramSendBatch(Math.Min(1024, targets.Count), Size);
        byte[] payload = new byte[Size];
        var clock = Stopwatch.StartNew();
        int rounds = 0, skipped = 0;
        while (clock.Elapsed < duration)
        {
            int due = (int)(clock.Elapsed.TotalSeconds * perSecond) - skipped;
            if (due - rounds > MaxBurst)
            {
                skipped += due - rounds - MaxBurst;
                due = rounds + MaxBurst;
            }
            for (; rounds < due; rounds++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(payload, rounds);
                foreach (IPEndPoint to in targets)
                {
                    if (!batch.TryAdd(payload, to))
                    {
                        Flush(tx, batch);
                        batch.TryAdd(payload, to);
                    }
                }
            }
            Flush(tx, batch);
            Thread.Sleep(1);
        }
        return rounds;
    }

    /// <summary>Rounds a late <see cref="Paced"/> sender sends at once at most (32 ms at 1,000/s; a receiver's default queue holds about 256 small datagrams).</summary>
    public const int MaxBurst = 32;

    /// <summary>
    /// Sends <see cref="Size"/>-byte datagrams to <paramref name="to"/> as fast as it can for <paramref name="duration"/>,
    /// 64 per system call through UDP GSO: on loopback the kernel's receive work runs in the sender's context, and
    /// sendmmsg from one thread offers fewer than one reader takes (LAB-FACTS), so its queue would never stay full
    /// while the reader runs. Returns how many went.
    /// </summary>
    public static long Flood(DatagramSocket tx, IPEndPoint to, TimeSpan duration)
    {
        byte[] data = new byte[Size * DatagramSocket.MaxSegments];
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            BatchSendResult r = tx.SendSegmented(data, Size, to, TimeSpan.FromSeconds(5));
            Assert.True(r.Status == SendStatus.Sent, $"GSO send of {DatagramSocket.MaxSegments} × {Size} B: {r}");
            sent += r.Sent;
        }
        return sent;
    }

    private static int Flush(DatagramSocket tx, DatagramSendBatch batch)
    {
        if (batch.Count == 0) return 0;
        BatchSendResult r = tx.SendBatch(batch, TimeSpan.FromSeconds(5));
        Assert.True(r.Status == SendStatus.Sent, $"sendmmsg of {batch.Count}: {r}");
        batch.Clear();
        return r.Sent;
    }

    /// <summary>Runs <paramref name="send"/> on a thread of its own (a sender must not share the test's thread pool).</summary>
    public static Task<T> OnOwnThread<T>(Func<T> send) => Task.Factory.StartNew(send, TaskCreationOptions.LongRunning);
}

/// <summary>
/// Counts a socket's stamped datagrams: how many, how many broke the order (a gap or a repeat), the thread that
/// delivered the last one, and the <see cref="EngineRig.Marker"/>s that came. Called by one engine thread at a time.
/// </summary>
internal sealed class StampCounter : IDatagramHandler
{
    private readonly SemaphoreSlim _markers = new(0);
    private long _count, _outOfOrder;
    private int _next, _threadId;
    private volatile string? _thread;

    public long Count => Interlocked.Read(ref _count);

    public long OutOfOrder => Interlocked.Read(ref _outOfOrder);

    /// <summary>The name of the thread that delivered the last datagram.</summary>
    public string? Thread => _thread;

    /// <summary>The managed id of the thread that delivered the last datagram.</summary>
    public int ThreadId => Volatile.Read(ref _threadId);

    /// <summary>Waits for the next marker not waited for yet.</summary>
    public bool WaitForMarker(TimeSpan timeout) => _markers.Wait(timeout);

    public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
    {
        _thread = System.Threading.Thread.CurrentThread.Name;
        Volatile.Write(ref _threadId, Environment.CurrentManagedThreadId);
        int stamp = EngineRig.StampOf(payload);
        if (stamp == EngineRig.Marker)
        {
            _markers.Release();
            return true;
        }
        if (stamp != _next) Interlocked.Increment(ref _outOfOrder);
        _next = stamp + 1;
        Interlocked.Increment(ref _count);
        return true;
    }

    public void OnStatus(SocketStatus status)
    {
    }
}
