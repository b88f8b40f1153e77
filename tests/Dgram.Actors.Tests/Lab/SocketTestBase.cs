using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dgram.Actors.Tests.Lab;

/// <summary>Sockets a test makes, closed when it ends, and helpers that move real datagrams.</summary>
public abstract class SocketTestBase : IDisposable
{
    /// <summary>How long a datagram that must arrive may take: an upper bound for an event, never a sleep.</summary>
    protected static readonly TimeSpan Arrival = TimeSpan.FromSeconds(5);

    private readonly List<IDisposable> _owned = [];

    protected T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    protected DatagramSocket Create(AddressFamily family, DatagramSocketOptions? options = null) =>
        Own(DatagramSocket.Create(family, options));

    /// <summary>A receiver bound to the wildcard on a fresh port, with packet info and hop limit.</summary>
    protected DatagramSocket Receiver(LabFamily f, out int port, DatagramSocketOptions? options = null, AddressReuse reuse = AddressReuse.None, int? atPort = null)
    {
        var s = Create(f.Family, options ?? new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit });
        port = atPort ?? LabNet.NextPort();
        s.Bind(new IPEndPoint(f.Any, port), reuse);
        return s;
    }

    /// <summary>A sender bound to <paramref name="source"/> sending multicast out of <paramref name="ifname"/>.</summary>
    protected DatagramSocket Sender(LabFamily f, IPAddress source, string ifname) => Own(LabNet.OpenSender(f, source, ifname));

    protected static void Send(DatagramSocket s, IPAddress to, int port, string text) => LabNet.SendText(s, to, port, text);

    /// <summary>The next datagram as text with its source and metadata; fails when none arrives in time.</summary>
    protected static (string Text, IPEndPoint Source, ReceiveResult Result) Next(DatagramSocket s, TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[2048];
        ReceiveResult r = s.ReceiveFrom(buffer, out EndPoint? source, timeout ?? Arrival);
        Assert.True(r.Status == ReceiveStatus.Received, $"expected a datagram, got {r}");
        return (Encoding.UTF8.GetString(buffer, 0, r.BytesReceived), (IPEndPoint)source!, r);
    }

    /// <summary>True when a datagram is queued right now (poll, no wait).</summary>
    protected static bool HasQueued(DatagramSocket s) =>
        s.ReceiveFrom(new byte[1], (SocketAddress?)null, TimeSpan.Zero, ReceiveFlags.Peek).Status == ReceiveStatus.Received;

    /// <summary>Proves the socket still sends and receives: a unicast datagram to itself over loopback.</summary>
    public static void AssertStillWorks(DatagramSocket s, LabFamily f)
    {
        if (s.LocalEndPoint is null) s.Bind(new IPEndPoint(f.Loopback, 0));
        var local = (IPEndPoint)s.LocalEndPoint!;
        string token = "alive-" + Guid.NewGuid().ToString("N");
        Send(s, f.Loopback, local.Port, token);
        // Skip anything queued before (group traffic of the test); the token must come.
        for (int i = 0; i < 1000; i++)
        {
            if (Next(s).Text == token) return;
        }
        Assert.Fail("the socket did not round-trip a datagram");
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>An ILogger that keeps what it is told, to assert on warnings.</summary>
public sealed class CapturingLogger : ILogger
{
    private readonly List<(LogLevel Level, EventId Id, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message)> Entries
    {
        get { lock (_entries) return _entries.ToArray(); }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, eventId, formatter(state, exception)));
    }
}
