using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Dgram.Actors.Tests.Lab;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// recvfrom / sendto and the per-socket options around them (timeouts, peek, truncation, buffer sizes,
/// TOS, metadata, queue overflow), with real datagrams over loopback. One body, run for IPv4 and IPv6
/// by the subclasses below.
/// </summary>
public abstract class ReceiveSendTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected ReceiveSendTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    private int IpLevel => _f.IsV6 ? RawSockOpt.IPPROTO_IPV6 : RawSockOpt.IPPROTO_IP;
    private int TosOption => _f.IsV6 ? RawSockOpt.IPV6_TCLASS : RawSockOpt.IP_TOS;
    private int MulticastAllOption => _f.IsV6 ? RawSockOpt.IPV6_MULTICAST_ALL : RawSockOpt.IP_MULTICAST_ALL;

    /// <summary>A socket bound to the loopback address on a fresh port.</summary>
    private DatagramSocket Bound(out IPEndPoint endPoint, DatagramSocketOptions? options = null)
    {
        var s = Create(_f.Family, options);
        endPoint = new IPEndPoint(_f.Loopback, LabNet.NextPort());
        s.Bind(endPoint);
        return s;
    }

    /// <summary>A sender bound to the loopback address on an ephemeral port; its endpoint as the kernel reports it.</summary>
    private DatagramSocket BoundSender(out IPEndPoint endPoint)
    {
        var s = Create(_f.Family);
        s.Bind(new IPEndPoint(_f.Loopback, 0));
        endPoint = (IPEndPoint)s.LocalEndPoint!;
        return s;
    }

    private static byte[] Pattern(int length)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 7 + 1);
        return b;
    }

    private static void AssertSent(SendResult r) => Assert.True(r.Status == SendStatus.Sent, $"expected Sent, got {r}");

    private static int ReadSysctl(string path) =>
        int.Parse(File.ReadAllText("/proc/sys/" + path).Trim(), CultureInfo.InvariantCulture);

    // ---- timeouts ----

    [Fact]
    public void ReceiveFrom_ZeroTimeoutOnEmptySocket_TimesOutAtOnce()
    {
        var s = Bound(out _);
        var clock = Stopwatch.StartNew();
        ReceiveResult r = s.ReceiveFrom(new byte[64], out EndPoint? source, TimeSpan.Zero);
        clock.Stop();
        Assert.Equal(ReceiveStatus.TimedOut, r.Status);
        Assert.True(r.TimedOut);
        Assert.Equal(0, r.Errno);
        Assert.Equal(0, r.BytesReceived);
        Assert.Null(source);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a zero-timeout receive took {clock.Elapsed}");
    }

    [Fact]
    public void ReceiveFrom_50msTimeoutOnEmptySocket_TimesOutAfterTheTimeout()
    {
        var s = Bound(out _);
        var clock = Stopwatch.StartNew();
        ReceiveResult r = s.ReceiveFrom(new byte[64], (SocketAddress?)null, TimeSpan.FromMilliseconds(50));
        clock.Stop();
        Assert.Equal(ReceiveStatus.TimedOut, r.Status);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(40), $"a 50 ms receive returned after {clock.Elapsed}");
    }

    [Fact]
    public async Task ReceiveFrom_InfiniteTimeout_ReturnsClosedWhenAnotherThreadDisposes()
    {
        var s = Bound(out _);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<ReceiveResult> receive = Task.Run(() =>
        {
            started.SetResult();
            return s.ReceiveFrom(new byte[64], out EndPoint? _, Timeout.InfiniteTimeSpan);
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        s.Dispose();
        ReceiveResult r = await receive.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(ReceiveStatus.Closed, r.Status);
        Assert.True(s.IsClosed);
    }

    // ---- peek, truncation, empty datagrams, the SocketAddress path ----

    [Fact]
    public void ReceiveFrom_Peek_LeavesTheDatagramQueued()
    {
        var rx = Bound(out IPEndPoint rxEp);
        var tx = BoundSender(out IPEndPoint txEp);
        AssertSent(tx.SendTo("peek-me"u8, rxEp, Arrival));

        var buffer = new byte[64];
        ReceiveResult peeked = rx.ReceiveFrom(buffer, out EndPoint? peekSource, Arrival, ReceiveFlags.Peek);
        Assert.Equal(ReceiveStatus.Received, peeked.Status);
        Assert.Equal("peek-me", Encoding.UTF8.GetString(buffer, 0, peeked.BytesReceived));
        Assert.Equal(txEp, peekSource);
        Assert.Equal(0, rx.Statistics.DatagramsReceived); // a peek hands nothing over

        Array.Clear(buffer);
        ReceiveResult taken = rx.ReceiveFrom(buffer, out EndPoint? source, TimeSpan.Zero);
        Assert.Equal(ReceiveStatus.Received, taken.Status);
        Assert.Equal("peek-me", Encoding.UTF8.GetString(buffer, 0, taken.BytesReceived));
        Assert.Equal(txEp, source);
        Assert.Equal(1, rx.Statistics.DatagramsReceived);

        Assert.Equal(ReceiveStatus.TimedOut, rx.ReceiveFrom(buffer, out _, TimeSpan.Zero).Status);
    }

    [Fact]
    public void ReceiveFrom_BufferTooSmall_ReportsTruncationWithTheRealLength()
    {
        var rx = Bound(out IPEndPoint rxEp);
        var tx = BoundSender(out _);
        byte[] first = Pattern(100);
        byte[] second = Pattern(100).Reverse().ToArray();
        AssertSent(tx.SendTo(first, rxEp, Arrival));
        AssertSent(tx.SendTo(second, rxEp, Arrival));

        var small = new byte[10];
        // A peek at a truncated datagram reports it but does not count it.
        ReceiveResult peeked = rx.ReceiveFrom(small, (SocketAddress?)null, Arrival, ReceiveFlags.Peek);
        Assert.Equal(ReceiveStatus.Received, peeked.Status);
        Assert.True(peeked.Truncated);
        Assert.Equal(100, peeked.DatagramLength);
        Assert.Equal(0, rx.Statistics.Truncated);

        ReceiveResult r = rx.ReceiveFrom(small, (SocketAddress?)null, Arrival);
        Assert.Equal(ReceiveStatus.Received, r.Status);
        Assert.Equal(10, r.BytesReceived);
        Assert.Equal(100, r.DatagramLength);
        Assert.True(r.Truncated);
        Assert.Equal(first[..10], small);
        Assert.Equal(1, rx.Statistics.Truncated);

        // The tail of the truncated datagram is gone: the next receive is the next datagram, whole.
        var big = new byte[200];
        ReceiveResult next = rx.ReceiveFrom(big, (SocketAddress?)null, Arrival);
        Assert.Equal(100, next.BytesReceived);
        Assert.Equal(100, next.DatagramLength);
        Assert.False(next.Truncated);
        Assert.Equal(second, big[..100]);
        Assert.Equal(1, rx.Statistics.Truncated);
        Assert.Equal(2, rx.Statistics.DatagramsReceived);
    }

    [Fact]
    public void SendTo_ZeroLengthDatagram_RoundTripsWithTheSendersEndpoint()
    {
        var rx = Bound(out IPEndPoint rxEp);
        var tx = BoundSender(out IPEndPoint txEp);
        SendResult sent = tx.SendTo(ReadOnlySpan<byte>.Empty, rxEp, Arrival);
        AssertSent(sent);
        Assert.Equal(0, sent.BytesSent);

        ReceiveResult r = rx.ReceiveFrom(new byte[16], out EndPoint? source, Arrival);
        Assert.Equal(ReceiveStatus.Received, r.Status);
        Assert.Equal(0, r.BytesReceived);
        Assert.Equal(0, r.DatagramLength);
        Assert.False(r.Truncated);
        Assert.Equal(txEp, source);
    }

    [Fact]
    public void ReceiveFrom_SocketAddress_FillsTheSendersAddressWithoutAllocating()
    {
        var rx = Bound(out IPEndPoint rxEp);
        var tx = BoundSender(out IPEndPoint txEp);
        SocketAddress destination = rxEp.Serialize();
        SocketAddress source = rx.CreateSocketAddress();
        var buffer = new byte[64];
        const int Count = 20;

        // Warm-up (JIT, first-call paths), then measure only the receives.
        AssertSent(tx.SendTo("warm"u8, destination, Arrival));
        Assert.Equal(ReceiveStatus.Received, rx.ReceiveFrom(buffer, source, Arrival).Status);
        for (int i = 0; i < Count; i++) AssertSent(tx.SendTo("zero-alloc"u8, destination, Arrival));

        int received = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Count; i++)
        {
            if (rx.ReceiveFrom(buffer, source, Arrival).Status == ReceiveStatus.Received) received++;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(Count, received);
        Assert.Equal(0, allocated);
        Assert.Equal(_f.Family, source.Family);
        var from = (IPEndPoint)new IPEndPoint(_f.Any, 0).Create(source);
        Assert.Equal(txEp, from);
        Assert.Equal("zero-alloc", Encoding.UTF8.GetString(buffer, 0, 10));
    }

    // ---- send errors and invalid arguments ----

    [Fact]
    public void SendTo_PortZero_FailsWithEinval_AndTheSocketStillWorks()
    {
        var tx = BoundSender(out _);
        SendResult r = tx.SendTo("to-port-0"u8, new IPEndPoint(_f.Loopback, 0), Arrival);
        Assert.Equal(SendStatus.Error, r.Status);
        Assert.Equal(Errno.EINVAL, r.Errno); // udp_sendmsg / udpv6_sendmsg: a zero destination port is EINVAL
        Assert.Equal("EINVAL", r.ErrorName);
        Assert.Equal(1, tx.Statistics.SendErrors);
        AssertStillWorks(tx, _f);
    }

    [Fact]
    public void SendTo_DatagramOver64KiB_FailsWithEmsgsize_AndTheSocketStillWorks()
    {
        var rx = Bound(out IPEndPoint rxEp);
        var tx = BoundSender(out _);
        SendResult r = tx.SendTo(new byte[70_000], rxEp, Arrival);
        Assert.Equal(SendStatus.Error, r.Status);
        Assert.Equal(Errno.EMSGSIZE, r.Errno);
        Assert.Equal("EMSGSIZE", r.ErrorName);
        Assert.Equal(ReceiveStatus.TimedOut, rx.ReceiveFrom(new byte[16], out _, TimeSpan.Zero).Status);
        AssertStillWorks(tx, _f);
    }

    [Fact]
    public void ReceiveAndSend_NegativeTimeout_ThrowOutOfRange_AndTheSocketStillWorks()
    {
        var s = BoundSender(out IPEndPoint ep);
        TimeSpan bad = TimeSpan.FromMilliseconds(-2);

        var e1 = Assert.Throws<DatagramSocketException>(() => s.ReceiveFrom(new byte[16], out _, bad));
        Assert.Equal(DatagramSocketError.OutOfRange, e1.Error);
        Assert.Equal(0, e1.Errno);
        Assert.Equal("ReceiveFrom", e1.Operation);
        var e2 = Assert.Throws<DatagramSocketException>(() => s.ReceiveFrom(new byte[16], s.CreateSocketAddress(), bad));
        Assert.Equal(DatagramSocketError.OutOfRange, e2.Error);
        var e3 = Assert.Throws<DatagramSocketException>(() => s.SendTo("x"u8, ep, bad));
        Assert.Equal(DatagramSocketError.OutOfRange, e3.Error);
        Assert.Equal("SendTo", e3.Operation);
        var e4 = Assert.Throws<DatagramSocketException>(() => s.SendTo("x"u8, ep.Serialize(), bad));
        Assert.Equal(DatagramSocketError.OutOfRange, e4.Error);

        Assert.Equal(0, s.Statistics.SendErrors);
        AssertStillWorks(s, _f);
    }

    // ---- after Dispose ----

    [Fact]
    public void Operations_AfterDispose_ReportClosed()
    {
        var s = BoundSender(out IPEndPoint ep);
        s.Dispose();
        Assert.True(s.IsClosed);

        Assert.Equal(DatagramSocketError.Closed, Assert.Throws<DatagramSocketException>(() => s.SetMulticastTtl(2)).Error);
        Assert.Equal(DatagramSocketError.Closed, Assert.Throws<DatagramSocketException>(() => s.JoinGroup(_f.NewGroup())).Error);
        Assert.Equal(DatagramSocketError.Closed, Assert.Throws<DatagramSocketException>(() => s.GetMulticastLoop()).Error);

        ReceiveResult r = s.ReceiveFrom(new byte[16], out EndPoint? source, TimeSpan.Zero);
        Assert.Equal(ReceiveStatus.Closed, r.Status);
        Assert.Null(source);
        Assert.Equal(ReceiveStatus.Closed, s.ReceiveFrom(new byte[16], s.CreateSocketAddress(), Timeout.InfiniteTimeSpan).Status);
        Assert.Equal(SendStatus.Closed, s.SendTo("x"u8, ep, TimeSpan.Zero).Status);
        Assert.Equal(SendStatus.Closed, s.SendTo("x"u8, ep.Serialize(), Timeout.InfiniteTimeSpan).Status);

        s.Dispose(); // idempotent
        Assert.True(s.IsClosed);
    }

    /// <summary>
    /// Every operation on a closed socket reports the same thing: Closed with EBADF, naming itself and
    /// its arguments (a setter used to report the getter it calls first, without arguments).
    /// </summary>
    [Fact]
    public void EveryOperation_AfterDispose_ReportsClosedWithEbadf_NamingItselfAndItsArguments()
    {
        var s = BoundSender(out IPEndPoint ep);
        s.Dispose();
        IPAddress group = _f.NewGroup(), ssm = _f.NewSsmGroup(), source = _f.Tx0Sources[0];
        int rx0 = LabNet.Index(LabNet.Rx0);
        var throwing = new List<(string Operation, string? Arguments, Action Call)>
        {
            ("SetMulticastTtl", "3", () => s.SetMulticastTtl(3)),
            ("SetMulticastLoop", "False", () => s.SetMulticastLoop(false)),
            ("SetTrafficClass", "32", () => s.SetTrafficClass(32)),
            ("SetMulticastInterface", LabNet.Rx0, () => s.SetMulticastInterface(LabNet.Rx0)),
            ("SetMulticastInterface", rx0.ToString(CultureInfo.InvariantCulture), () => s.SetMulticastInterface(rx0)),
            ("SetMulticastInterface", "null", () => s.SetMulticastInterface(null)),
            ("SetReceiveBufferSize", "65536", () => s.SetReceiveBufferSize(65536)),
            ("SetSendBufferSize", "65536", () => s.SetSendBufferSize(65536)),
            ("SetReceiveMetadata", "HopLimit", () => s.SetReceiveMetadata(ReceiveMetadata.HopLimit)),
            ("Bind", ep.ToString(), () => s.Bind(ep)),
            ("Bind", $"{ep}, ReuseAddress", () => s.Bind(ep, AddressReuse.ReuseAddress)),
            ("Connect", ep.ToString(), () => s.Connect(ep)),
            ("JoinGroup", $"{group}, {LabNet.Rx0}", () => s.JoinGroup(group, LabNet.Rx0)),
            ("LeaveGroup", $"{group}, null", () => s.LeaveGroup(group)),
            ("JoinSourceGroup", $"{ssm}, {source}, {LabNet.Rx0}", () => s.JoinSourceGroup(ssm, source, LabNet.Rx0)),
            ("LeaveSourceGroup", $"{ssm}, {source}, {LabNet.Rx0}", () => s.LeaveSourceGroup(ssm, source, LabNet.Rx0)),
            ("BlockSource", $"{group}, {source}, {LabNet.Rx0}", () => s.BlockSource(group, source, LabNet.Rx0)),
            ("UnblockSource", $"{group}, {source}, {LabNet.Rx0}", () => s.UnblockSource(group, source, LabNet.Rx0)),
            ("GetMulticastTtl", null, () => s.GetMulticastTtl()),
            ("GetMulticastLoop", null, () => s.GetMulticastLoop()),
            ("GetMulticastInterface", null, () => s.GetMulticastInterface()),
            ("GetTrafficClass", null, () => s.GetTrafficClass()),
            ("GetReceiveBufferSize", null, () => s.GetReceiveBufferSize()),
            ("LocalEndPoint", null, () => _ = s.LocalEndPoint),
        };
        if (!_f.IsV6)
        {
            throwing.Add(("SetBroadcast", "True", () => s.SetBroadcast(true)));
            throwing.Add(("GetBroadcast", null, () => s.GetBroadcast()));
        }
        var wrong = new List<string>();
        foreach (var (operation, arguments, call) in throwing)
        {
            var e = Assert.Throws<DatagramSocketException>(call);
            if ((e.Operation, e.Arguments, e.Error, e.ErrorName) != (operation, arguments, DatagramSocketError.Closed, "EBADF"))
            {
                wrong.Add($"{operation}({arguments}) reported {e.Operation}({e.Arguments}) {e.Error} {e.ErrorName}");
            }
        }
        var sendBatch = new DatagramSendBatch(2);
        sendBatch.TryAdd("x"u8, ep);
        using var receiveBatch = new DatagramBatch(2);
        var results = new List<(string Operation, object Status, string? ErrorName)>
        {
            ("SendTo", s.SendTo("x"u8, ep, TimeSpan.Zero).Status, s.SendTo("x"u8, ep, TimeSpan.Zero).ErrorName),
            ("SendTo(SocketAddress)", s.SendTo("x"u8, ep.Serialize(), TimeSpan.Zero).Status, s.SendTo("x"u8, ep.Serialize(), TimeSpan.Zero).ErrorName),
            ("Send", s.Send("x"u8, TimeSpan.Zero).Status, s.Send("x"u8, TimeSpan.Zero).ErrorName),
            ("SendSegmented", s.SendSegmented(new byte[20], 10, ep, TimeSpan.Zero).Status, s.SendSegmented(new byte[20], 10, ep, TimeSpan.Zero).ErrorName),
            ("SendBatch", s.SendBatch(sendBatch, TimeSpan.Zero).Status, s.SendBatch(sendBatch, TimeSpan.Zero).ErrorName),
            ("ReceiveFrom", s.ReceiveFrom(new byte[16], out _, TimeSpan.Zero).Status, s.ReceiveFrom(new byte[16], out _, TimeSpan.Zero).ErrorName),
            ("ReceiveBatch", s.ReceiveBatch(receiveBatch, TimeSpan.Zero).Status, Errno.Name(s.ReceiveBatch(receiveBatch, TimeSpan.Zero).Errno)),
        };
        foreach (var (operation, status, errorName) in results)
        {
            if (status.ToString() != "Closed" || errorName != "EBADF") wrong.Add($"{operation} returned {status} {errorName}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    // ---- buffer sizes ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SetBufferSize_64KiB_ReturnsPreviousAndTheDoubledEffectiveSize(bool sendBuffer)
    {
        var s = Create(_f.Family);
        int option = sendBuffer ? RawSockOpt.SO_SNDBUF : RawSockOpt.SO_RCVBUF;
        int before = RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, option);

        BufferSizeResult r = sendBuffer ? s.SetSendBufferSize(65536) : s.SetReceiveBufferSize(65536);

        Assert.Equal(before, r.Previous);
        Assert.Equal(65536, r.Requested);
        Assert.Equal(131072, r.Effective);
        Assert.Equal(RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, option), r.Effective);
        Assert.Equal(r.Effective, sendBuffer ? s.GetSendBufferSize() : s.GetReceiveBufferSize());
        Assert.False(r.Capped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SetBufferSize_AboveTheSysctlMax_IsCappedAndLogsAWarning(bool sendBuffer)
    {
        var logger = new CapturingLogger();
        var s = Create(_f.Family, new DatagramSocketOptions { Logger = logger });
        int option = sendBuffer ? RawSockOpt.SO_SNDBUF : RawSockOpt.SO_RCVBUF;
        int max = ReadSysctl(sendBuffer ? "net/core/wmem_max" : "net/core/rmem_max");
        int request = checked(4 * max);

        BufferSizeResult r = sendBuffer ? s.SetSendBufferSize(request) : s.SetReceiveBufferSize(request);

        Assert.True(r.Capped);
        Assert.Equal(request, r.Requested);
        Assert.Equal(2 * max, r.Effective);
        Assert.Equal(RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, option), r.Effective);
        var warning = Assert.Single(logger.Entries, e => e.Id.Id == 1001);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(sendBuffer ? "wmem_max" : "rmem_max", warning.Message);
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    [InlineData(false, -1)]
    [InlineData(true, -1)]
    public void SetBufferSize_ZeroOrNegative_ThrowsOutOfRange_AndChangesNothing(bool sendBuffer, int size)
    {
        var s = Create(_f.Family);
        int option = sendBuffer ? RawSockOpt.SO_SNDBUF : RawSockOpt.SO_RCVBUF;
        int before = RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, option);

        var e = Assert.Throws<DatagramSocketException>(() => sendBuffer ? s.SetSendBufferSize(size) : s.SetReceiveBufferSize(size));

        Assert.Equal(DatagramSocketError.OutOfRange, e.Error);
        Assert.Equal(0, e.Errno);
        Assert.Equal(before, RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, option));
        AssertStillWorks(s, _f);
    }

    // ---- TOS / traffic class ----

    [Fact]
    public void SetTrafficClass_ReturnsPrevious_AndTheReceiverSeesTheValue()
    {
        var rx = Bound(out IPEndPoint rxEp, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.TrafficClass });
        var tx = BoundSender(out _);

        Assert.Equal(0, tx.GetTrafficClass());
        Assert.Equal(0, tx.SetTrafficClass(0x28));
        Assert.Equal(0x28, RawSockOpt.GetInt(tx.SafeHandle, IpLevel, TosOption));
        Assert.Equal(0x28, tx.GetTrafficClass());

        AssertSent(tx.SendTo("tos"u8, rxEp, Arrival));
        ReceiveResult r = rx.ReceiveFrom(new byte[16], out _, Arrival);
        Assert.Equal(ReceiveStatus.Received, r.Status);
        Assert.Equal(0x28, r.TrafficClass);

        Assert.Equal(0x28, tx.SetTrafficClass(0x10));
        AssertSent(tx.SendTo("tos2"u8, rxEp, Arrival));
        Assert.Equal(0x10, rx.ReceiveFrom(new byte[16], out _, Arrival).TrafficClass);

        if (_f.IsV6)
        {
            // IPv6 takes -1: back to the kernel's default (0).
            Assert.Equal(0x10, tx.SetTrafficClass(-1));
            Assert.Equal(0, RawSockOpt.GetInt(tx.SafeHandle, IpLevel, TosOption));
        }
    }

    [Fact]
    public void SetTrafficClass_OutOfRange_ThrowsOutOfRange_AndChangesNothing()
    {
        var s = Create(_f.Family);
        s.SetTrafficClass(0x28);
        foreach (int bad in new[] { 256, _f.IsV6 ? -2 : -1, int.MinValue })
        {
            var e = Assert.Throws<DatagramSocketException>(() => s.SetTrafficClass(bad));
            Assert.Equal(DatagramSocketError.OutOfRange, e.Error);
            Assert.Equal("SetTrafficClass", e.Operation);
            Assert.Equal(0x28, RawSockOpt.GetInt(s.SafeHandle, IpLevel, TosOption));
        }
        AssertStillWorks(s, _f);
    }

    // ---- creation defaults ----

    [Fact]
    public void Create_Default_TurnsMulticastAllOff_AndKernelMulticastAllKeepsItOn()
    {
        var isolated = Create(_f.Family);
        Assert.Equal(0, RawSockOpt.GetInt(isolated.SafeHandle, IpLevel, MulticastAllOption));
        var all = Create(_f.Family, new DatagramSocketOptions { KernelMulticastAll = true });
        Assert.Equal(1, RawSockOpt.GetInt(all.SafeHandle, IpLevel, MulticastAllOption));
    }

    // ---- receive metadata ----

    [Fact]
    public void ReceiveFrom_AllMetadataOnLoopback_ReportsTimestampDropsAndPacketInfo()
    {
        var rx = Bound(out IPEndPoint rxEp, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.All });
        var tx = BoundSender(out IPEndPoint txEp);
        AssertSent(tx.SendTo("meta"u8, rxEp, Arrival));

        ReceiveResult r = rx.ReceiveFrom(new byte[16], out EndPoint? source, Arrival);
        long nowNs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000L;

        Assert.Equal(ReceiveStatus.Received, r.Status);
        Assert.Equal(txEp, source);
        Assert.False(r.ControlTruncated);
        Assert.Equal(0, rx.Statistics.ControlTruncated);
        Assert.NotEqual(0, r.TimestampNanoseconds);
        Assert.True(Math.Abs(nowNs - r.TimestampNanoseconds) < 60_000_000_000L,
            $"timestamp {r.TimestampNanoseconds} ns is not within a minute of {nowNs} ns");
        Assert.Equal(0u, r.KernelDropCount);
        Assert.True(r.HasDestination);
        Assert.Equal(_f.Loopback, r.GetDestinationAddress());
        Assert.True(r.DestinationEquals(_f.Loopback));
        Assert.Equal(1, r.InterfaceIndex);
        Assert.Equal(LabNet.Index("lo"), r.InterfaceIndex);
        Assert.InRange(r.HopLimit, 1, 255);
        Assert.Equal(0, r.TrafficClass);
    }

    [Fact]
    public void ReceiveFrom_QueueOverflow_CountsEveryDropExactly()
    {
        const int Sent = 200;
        var rx = Bound(out IPEndPoint rxEp, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.QueueOverflow });
        rx.SetReceiveBufferSize(4096);
        var tx = BoundSender(out _);
        byte[] payload = Pattern(1000);
        for (int i = 0; i < Sent; i++) AssertSent(tx.SendTo(payload, rxEp, Arrival));

        // The kernel stamps each queued datagram with the drop count at the moment it was queued
        // (SO_RXQ_OVFL), so the datagrams that fit before the queue filled all carry 0: the drops that
        // followed them show only on the next datagram queued. Drain the queue, then send one marker.
        var buffer = new byte[2048];
        int received = 0;
        uint? lastDrops = null;
        while (rx.ReceiveFrom(buffer, (SocketAddress?)null, TimeSpan.Zero) is { Status: ReceiveStatus.Received } r)
        {
            Assert.Equal(1000, r.BytesReceived);
            received++;
            lastDrops = r.KernelDropCount;
        }
        Assert.InRange(received, 1, Sent - 1);
        Assert.Equal(0u, lastDrops); // every queued datagram was queued before the first drop

        AssertSent(tx.SendTo("marker"u8, rxEp, Arrival));
        ReceiveResult marker = rx.ReceiveFrom(buffer, (SocketAddress?)null, Arrival);
        Assert.Equal(ReceiveStatus.Received, marker.Status);
        Assert.Equal(6, marker.BytesReceived);
        Assert.NotNull(marker.KernelDropCount);
        Assert.True(marker.KernelDropCount > 0);
        Assert.Equal((uint)(Sent - received), marker.KernelDropCount);
        Assert.Equal(received + 1, rx.Statistics.DatagramsReceived);
    }
}

[Trait("Area", "Kernel")]
public sealed class ReceiveSendTestsV4() : ReceiveSendTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class ReceiveSendTestsV6() : ReceiveSendTests(LabFamily.V6);

/// <summary>SO_BROADCAST: IPv4 only (IPv6 has no broadcast).</summary>
[Trait("Area", "Kernel")]
public sealed class ReceiveSendBroadcastTestsV4 : SocketTestBase
{
    private static readonly IPAddress LoopbackBroadcast = IPAddress.Parse("127.255.255.255");

    public ReceiveSendBroadcastTestsV4() => LabNet.Require();

    [Fact]
    public void GetBroadcast_FreshSocket_IsFalse()
    {
        var s = Create(AddressFamily.InterNetwork);
        Assert.False(s.GetBroadcast());
        Assert.Equal(0, RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_BROADCAST));
    }

    [Fact]
    public void SendTo_BroadcastAddress_NeedsSetBroadcast()
    {
        int port = LabNet.NextPort();
        var rx = Create(AddressFamily.InterNetwork);
        rx.Bind(new IPEndPoint(IPAddress.Any, port));
        var tx = Create(AddressFamily.InterNetwork);
        tx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var destination = new IPEndPoint(LoopbackBroadcast, port);

        SendResult refused = tx.SendTo("bcast-1"u8, destination, SocketTestBase.Arrival);
        Assert.Equal(SendStatus.Error, refused.Status);
        Assert.Equal(Errno.EACCES, refused.Errno);
        Assert.Equal("EACCES", refused.ErrorName);

        Assert.False(tx.SetBroadcast(true));
        Assert.Equal(1, RawSockOpt.GetInt(tx.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_BROADCAST));
        Assert.True(tx.GetBroadcast());

        SendResult sent = tx.SendTo("bcast-2"u8, destination, SocketTestBase.Arrival);
        Assert.True(sent.Status == SendStatus.Sent, $"broadcast send: {sent}");
        var (text, source, _) = Next(rx);
        Assert.Equal("bcast-2", text); // the refused one never left
        Assert.Equal(tx.LocalEndPoint, source);

        Assert.True(tx.SetBroadcast(false));
        Assert.Equal(0, RawSockOpt.GetInt(tx.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_BROADCAST));
        Assert.Equal(Errno.EACCES, tx.SendTo("bcast-3"u8, destination, SocketTestBase.Arrival).Errno);
    }
}

/// <summary>What only an IPv6 socket has: IPV6_V6ONLY and dual mode; and no broadcast.</summary>
[Trait("Area", "Kernel")]
public sealed class ReceiveSendIPv6OnlyTestsV6 : SocketTestBase
{
    private static readonly LabFamily F = LabFamily.V6;

    public ReceiveSendIPv6OnlyTestsV6() => LabNet.Require();

    [Fact]
    public void Broadcast_OnIPv6_ThrowsNotSupportedForFamily_AndTheSocketStillWorks()
    {
        var s = Create(AddressFamily.InterNetworkV6);
        var get = Assert.Throws<DatagramSocketException>(() => s.GetBroadcast());
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, get.Error);
        var set = Assert.Throws<DatagramSocketException>(() => s.SetBroadcast(true));
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, set.Error);
        Assert.Equal("SetBroadcast", set.Operation);
        Assert.Equal(0, RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.SOL_SOCKET, RawSockOpt.SO_BROADCAST));
        AssertStillWorks(s, F);
    }

    [Fact]
    public void Create_Default_IsIPv6Only_AndIgnoresIPv4()
    {
        int port = LabNet.NextPort();
        var s = Create(AddressFamily.InterNetworkV6);
        Assert.Equal(1, RawSockOpt.GetInt(s.SafeHandle, RawSockOpt.IPPROTO_IPV6, RawSockOpt.IPV6_V6ONLY));
        s.Bind(new IPEndPoint(IPAddress.IPv6Any, port));

        // An IPv4 datagram to the port never arrives; the IPv6 marker sent after it is the first thing queued.
        var tx4 = Create(AddressFamily.InterNetwork);
        Assert.Equal(SendStatus.Sent, tx4.SendTo("v4"u8, new IPEndPoint(IPAddress.Loopback, port), Arrival).Status);
        var tx6 = Create(AddressFamily.InterNetworkV6);
        Send(tx6, IPAddress.IPv6Loopback, port, "v6-marker");
        Assert.Equal("v6-marker", Next(s).Text);
        Assert.Equal(ReceiveStatus.TimedOut, s.ReceiveFrom(new byte[16], out _, TimeSpan.Zero).Status);

        // An IPv4 endpoint is a family mismatch on an IPv6-only socket.
        var e = Assert.Throws<DatagramSocketException>(() => s.SendTo("x"u8, new IPEndPoint(IPAddress.Loopback, port), Arrival));
        Assert.Equal(DatagramSocketError.FamilyMismatch, e.Error);
    }

    [Fact]
    public void Create_DualMode_ClearsV6Only_AndExchangesWithIPv4ThroughMappedAddresses()
    {
        int port = LabNet.NextPort();
        var dual = Create(AddressFamily.InterNetworkV6, new DatagramSocketOptions { DualMode = true });
        Assert.Equal(0, RawSockOpt.GetInt(dual.SafeHandle, RawSockOpt.IPPROTO_IPV6, RawSockOpt.IPV6_V6ONLY));
        dual.Bind(new IPEndPoint(IPAddress.IPv6Any, port));

        var tx4 = Create(AddressFamily.InterNetwork);
        tx4.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var tx4Ep = (IPEndPoint)tx4.LocalEndPoint!;
        Send(tx4, IPAddress.Loopback, port, "from-v4");

        var (text, source, _) = Next(dual);
        Assert.Equal("from-v4", text);
        Assert.Equal(IPAddress.Parse("::ffff:127.0.0.1"), source.Address);
        Assert.True(source.Address.IsIPv4MappedToIPv6);
        Assert.Equal(tx4Ep.Port, source.Port);

        // Replies go back over IPv4: to the mapped address, or to an IPv4 endpoint (mapped by the library).
        Send(dual, IPAddress.Parse("::ffff:127.0.0.1"), tx4Ep.Port, "reply-mapped");
        var reply1 = Next(tx4);
        Assert.Equal("reply-mapped", reply1.Text);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), reply1.Source);
        Send(dual, IPAddress.Loopback, tx4Ep.Port, "reply-v4");
        Assert.Equal("reply-v4", Next(tx4).Text);
    }
}
