using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// Unix datagram sockets (AF_UNIX, SOCK_DGRAM): bound to a path or an abstract name, or unbound;
/// send timeouts against a peer that does not read; IP-only options refused. No network needed.
/// </summary>
[Trait("Area", "SocketCore")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnixDatagramTests : SocketTestBase
{
    private readonly string _dir;

    public UnixDatagramTests()
    {
        _dir = Directory.CreateTempSubdirectory("dgram-unix-").FullName;
        Own(new TempDirectory(_dir)); // first owned, so deleted after every socket in it is closed
    }

    private UnixDomainSocketEndPoint PathEndPoint(string name) => new(Path.Combine(_dir, name));

    private static UnixDomainSocketEndPoint AbstractEndPoint() => new("\0dgram-test-" + Guid.NewGuid().ToString("N"));

    private DatagramSocket BoundUnix(EndPoint endPoint)
    {
        var s = Create(AddressFamily.Unix);
        s.Bind(endPoint);
        return s;
    }

    private static void AssertSent(SendResult r) => Assert.True(r.Status == SendStatus.Sent, $"expected Sent, got {r}");

    private static (string Text, EndPoint? Source, ReceiveResult Result) NextUnix(DatagramSocket s, int bufferSize = 256)
    {
        var buffer = new byte[bufferSize];
        ReceiveResult r = s.ReceiveFrom(buffer, out EndPoint? source, Arrival);
        Assert.True(r.Status == ReceiveStatus.Received, $"expected a datagram, got {r}");
        return (Encoding.UTF8.GetString(buffer, 0, r.BytesReceived), source, r);
    }

    [Fact]
    public void Bind_Path_RoundTripsFromABoundSender_WithTheSendersPathAsSource()
    {
        UnixDomainSocketEndPoint rxEp = PathEndPoint("rx.sock"), txEp = PathEndPoint("tx.sock");
        var rx = BoundUnix(rxEp);
        var tx = BoundUnix(txEp);
        Assert.True(File.Exists(rxEp.ToString()));
        Assert.Equal(rxEp.ToString(), rx.LocalEndPoint?.ToString());

        AssertSent(tx.SendTo("hello-path"u8, rxEp, Arrival));
        var (text, source, r) = NextUnix(rx);

        Assert.Equal("hello-path", text);
        Assert.Equal(10, r.DatagramLength);
        Assert.IsType<UnixDomainSocketEndPoint>(source);
        Assert.Equal(txEp.ToString(), source!.ToString());
    }

    [Fact]
    public void Bind_AbstractName_RoundTripsFromABoundSender_WithTheSendersNameAsSource()
    {
        UnixDomainSocketEndPoint rxEp = AbstractEndPoint(), txEp = AbstractEndPoint();
        var rx = BoundUnix(rxEp);
        var tx = BoundUnix(txEp);
        Assert.Equal(rxEp.ToString(), rx.LocalEndPoint?.ToString());

        AssertSent(tx.SendTo("hello-abstract"u8, rxEp, Arrival));
        var (text, source, _) = NextUnix(rx);

        Assert.Equal("hello-abstract", text);
        Assert.IsType<UnixDomainSocketEndPoint>(source);
        Assert.Equal(txEp.ToString(), source!.ToString());
        Assert.StartsWith("@dgram-test-", source.ToString()); // an abstract name, not a path
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SendTo_FromAnUnboundSender_HasNoSource(bool abstractName)
    {
        UnixDomainSocketEndPoint rxEp = abstractName ? AbstractEndPoint() : PathEndPoint("rx.sock");
        var rx = BoundUnix(rxEp);
        var tx = Create(AddressFamily.Unix);

        AssertSent(tx.SendTo("anonymous"u8, rxEp, Arrival));
        var (text, source, _) = NextUnix(rx);

        Assert.Equal("anonymous", text);
        Assert.Null(source);
        Assert.Null(tx.LocalEndPoint);
    }

    [Fact]
    public void SendTo_ZeroLengthDatagram_RoundTrips()
    {
        UnixDomainSocketEndPoint rxEp = PathEndPoint("rx.sock"), txEp = PathEndPoint("tx.sock");
        var rx = BoundUnix(rxEp);
        var tx = BoundUnix(txEp);

        SendResult sent = tx.SendTo(ReadOnlySpan<byte>.Empty, rxEp, Arrival);
        AssertSent(sent);
        Assert.Equal(0, sent.BytesSent);
        var (_, source, r) = NextUnix(rx);

        Assert.Equal(0, r.BytesReceived);
        Assert.Equal(0, r.DatagramLength);
        Assert.False(r.Truncated);
        Assert.Equal(txEp.ToString(), source?.ToString());
    }

    [Fact]
    public void ReceiveFrom_BufferTooSmall_ReportsTruncationWithTheRealLength()
    {
        UnixDomainSocketEndPoint rxEp = AbstractEndPoint();
        var rx = BoundUnix(rxEp);
        var tx = Create(AddressFamily.Unix);
        byte[] payload = Enumerable.Range(1, 100).Select(i => (byte)i).ToArray();
        AssertSent(tx.SendTo(payload, rxEp, Arrival));
        AssertSent(tx.SendTo("next"u8, rxEp, Arrival));

        var small = new byte[10];
        ReceiveResult r = rx.ReceiveFrom(small, (SocketAddress?)null, Arrival);

        Assert.Equal(ReceiveStatus.Received, r.Status);
        Assert.Equal(10, r.BytesReceived);
        Assert.Equal(100, r.DatagramLength);
        Assert.True(r.Truncated);
        Assert.Equal(payload[..10], small);
        Assert.Equal(1, rx.Statistics.Truncated);
        Assert.Equal("next", NextUnix(rx).Text); // the tail was discarded with the datagram
    }

    [Fact]
    public void Send_ToAPeerThatDoesNotRead_TimesOut_AndRecoversOnceItReads()
    {
        UnixDomainSocketEndPoint rxEp = PathEndPoint("slow.sock");
        var rx = BoundUnix(rxEp);
        var tx = Create(AddressFamily.Unix);
        tx.Connect(rxEp);
        byte[] payload = new byte[64];

        // Fill the peer's queue (net.unix.max_dgram_qlen datagrams, or the send buffer): bounded.
        int queued = 0;
        SendResult last = default;
        for (int i = 0; i < 10_000; i++)
        {
            last = tx.Send(payload, TimeSpan.Zero);
            if (last.Status != SendStatus.Sent) break;
            queued++;
        }
        Assert.Equal(SendStatus.TimedOut, last.Status);
        Assert.True(last.TimedOut);
        Assert.Equal(0, last.Errno);
        Assert.True(queued > 0);

        var clock = Stopwatch.StartNew();
        SendResult waited = tx.SendTo(payload, rxEp, TimeSpan.FromMilliseconds(50));
        clock.Stop();
        Assert.Equal(SendStatus.TimedOut, waited.Status);
        Assert.True(waited.TimedOut);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(40), $"a 50 ms send returned after {clock.Elapsed}");
        Assert.Equal(queued, tx.Statistics.DatagramsSent);
        Assert.Equal(0, tx.Statistics.SendErrors);

        // The receiver drains one datagram: there is room again, and the sender still works.
        NextUnix(rx);
        AssertSent(tx.Send(payload, Arrival));
        Assert.Equal(queued + 1, tx.Statistics.DatagramsSent);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Send_UnconnectedSenderToAFullPeer_WaitsWithoutSpinning(bool batch)
    {
        // poll() reports an unconnected Unix sender writable even when the destination's queue is full
        // (it knows only a connected peer), so a wait must not be a poll/send loop that burns the CPU:
        // not with sendto, not with sendmmsg.
        UnixDomainSocketEndPoint rxEp = AbstractEndPoint();
        var rx = BoundUnix(rxEp);
        var tx = Create(AddressFamily.Unix);
        byte[] payload = new byte[64];
        var one = new DatagramSendBatch(1, payload.Length);
        Assert.True(one.TryAdd(payload, rxEp));
        SendStatus Send(TimeSpan timeout) => batch ? tx.SendBatch(one, timeout).Status : tx.SendTo(payload, rxEp, timeout).Status;
        SendStatus last = default;
        for (int i = 0; i < 10_000; i++)
        {
            last = Send(TimeSpan.Zero);
            if (last != SendStatus.Sent) break;
        }
        Assert.Equal(SendStatus.TimedOut, last);

        TimeSpan timeout = TimeSpan.FromMilliseconds(200);
        long cpuBefore = ThreadCpuNanoseconds();
        var clock = Stopwatch.StartNew();
        SendStatus waited = Send(timeout);
        clock.Stop();
        long cpu = ThreadCpuNanoseconds() - cpuBefore;

        Assert.Equal(SendStatus.TimedOut, waited);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(150), $"a 200 ms send returned after {clock.Elapsed}");
        Assert.True(cpu < timeout.Ticks * 100 / 10, // a tenth: measured 2-4 ms sleeping, 26-197 ms for a poll/sendmmsg loop
            $"the sending thread used {cpu / 1_000_000} ms of CPU while waiting {clock.ElapsedMilliseconds} ms: it spun instead of sleeping");

        // A waiting unconnected sender completes once the receiver drains one datagram.
        Task<SendStatus> pending = Task.Run(() => Send(Arrival));
        NextUnix(rx);
        Assert.Equal(SendStatus.Sent, await pending.WaitAsync(Arrival + Arrival));
    }

    /// <summary>CPU time of the calling thread (the first field of /proc/thread-self/schedstat, in ns).</summary>
    private static long ThreadCpuNanoseconds() =>
        long.Parse(File.ReadAllText("/proc/thread-self/schedstat").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void IpOptions_OnAUnixSocket_ThrowNotSupportedForFamily()
    {
        var s = Create(AddressFamily.Unix);
        var group = IPAddress.Parse("239.255.0.1");
        Action[] calls =
        [
            () => s.SetMulticastTtl(1),
            () => s.JoinGroup(group),
            () => s.SetMulticastInterface("lo"),
            () => s.SetMulticastInterface(1),
            () => s.SetTrafficClass(0),
            () => s.GetMulticastLoop(),
            () => s.GetBroadcast(),
            () => s.SetReceiveMetadata(ReceiveMetadata.PacketInfo),
            () => s.SetReceiveMetadata(ReceiveMetadata.HopLimit | ReceiveMetadata.QueueOverflow),
        ];
        foreach (Action call in calls)
        {
            var e = Assert.Throws<DatagramSocketException>(call);
            Assert.Equal(DatagramSocketError.NotSupportedForFamily, e.Error);
            Assert.Equal(0, e.Errno);
        }
        Assert.Equal(ReceiveMetadata.None, s.ReceiveMetadata);

        // Queue overflow and timestamps are socket-level: a Unix socket takes them.
        Assert.Equal(ReceiveMetadata.None, s.SetReceiveMetadata(ReceiveMetadata.QueueOverflow | ReceiveMetadata.Timestamp));
    }

    [Fact]
    public void Create_UnixWithPacketInfo_ThrowsNotSupportedForFamily()
    {
        var e = Assert.Throws<DatagramSocketException>(() =>
            DatagramSocket.Create(AddressFamily.Unix, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo }).Dispose());
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, e.Error);
    }

    [Fact]
    public void Bind_IPEndPointOnAUnixSocket_ThrowsFamilyMismatch_AndTheSocketStillWorks()
    {
        var s = Create(AddressFamily.Unix);
        var e = Assert.Throws<DatagramSocketException>(() => s.Bind(new IPEndPoint(IPAddress.Loopback, 9)));
        Assert.Equal(DatagramSocketError.FamilyMismatch, e.Error);
        Assert.Equal("Bind", e.Operation);
        Assert.Null(s.LocalEndPoint);

        var send = Assert.Throws<DatagramSocketException>(() => s.SendTo("x"u8, new IPEndPoint(IPAddress.Loopback, 9), Arrival));
        Assert.Equal(DatagramSocketError.FamilyMismatch, send.Error);

        UnixDomainSocketEndPoint ep = PathEndPoint("after-mismatch.sock");
        s.Bind(ep);
        var tx = Create(AddressFamily.Unix);
        AssertSent(tx.SendTo("still-works"u8, ep, Arrival));
        Assert.Equal("still-works", NextUnix(s).Text);
    }

    [Fact]
    public void Bind_Path_CreatesTheFileOwnerOnly_WhateverTheUmask()
    {
        UnixDomainSocketEndPoint ep = PathEndPoint("mode.sock");
        BoundUnix(ep);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ep.ToString()));

        UnixDomainSocketEndPoint shared = PathEndPoint("group.sock");
        var s = Create(AddressFamily.Unix, new DatagramSocketOptions { UnixSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite });
        s.Bind(shared);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite, File.GetUnixFileMode(shared.ToString()));
    }

    [Fact]
    public void Bind_OverAStaleSocketFile_ReplacesIt_AndReceives()
    {
        UnixDomainSocketEndPoint ep = PathEndPoint("stale.sock");
        // A socket whose owner died: bound, then its descriptor closed without removing the file.
        UnixFiles.MakeStaleSocket(ep.ToString());
        Assert.True(File.Exists(ep.ToString()));

        var rx = BoundUnix(ep);
        var tx = Create(AddressFamily.Unix);
        AssertSent(tx.SendTo("fresh"u8, ep, Arrival));
        Assert.Equal("fresh", NextUnix(rx).Text);
    }

    [Fact]
    public void Bind_OverALiveSocket_FailsEaddrinuse_AndTheLiveOneKeepsWorking()
    {
        UnixDomainSocketEndPoint ep = PathEndPoint("live.sock");
        var live = BoundUnix(ep);
        var second = Create(AddressFamily.Unix);
        var e = Assert.Throws<DatagramSocketException>(() => second.Bind(ep));
        Assert.Equal(("Bind", "EADDRINUSE"), (e.Operation, e.ErrorName));
        Assert.Contains("another socket is bound", e.Message);
        var tx = Create(AddressFamily.Unix);
        AssertSent(tx.SendTo("still-live"u8, ep, Arrival));
        Assert.Equal("still-live", NextUnix(live).Text);
    }

    [Fact]
    public void Bind_OverAFileThatIsNotASocket_FailsEaddrinuse_AndLeavesTheFile()
    {
        string path = Path.Combine(_dir, "data.txt");
        File.WriteAllText(path, "keep me");
        var s = Create(AddressFamily.Unix);
        var e = Assert.Throws<DatagramSocketException>(() => s.Bind(new UnixDomainSocketEndPoint(path)));
        Assert.Equal("EADDRINUSE", e.ErrorName);
        Assert.Contains("not a socket", e.Message);
        Assert.Equal("keep me", File.ReadAllText(path));
    }

    [Fact]
    public void Dispose_RemovesTheSocketFile_ButNotAFileThatReplacedIt()
    {
        UnixDomainSocketEndPoint ep = PathEndPoint("gone.sock");
        BoundUnix(ep).Dispose();
        Assert.False(File.Exists(ep.ToString()));

        UnixDomainSocketEndPoint replaced = PathEndPoint("replaced.sock");
        var s = BoundUnix(replaced);
        File.Delete(replaced.ToString());
        File.WriteAllText(replaced.ToString(), "someone else's");
        s.Dispose();
        Assert.Equal("someone else's", File.ReadAllText(replaced.ToString()));
    }

    private sealed class TempDirectory(string path) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
