using System.Net;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// shutdown() under a reader (LAB-FACTS: afterwards a non-blocking recvmsg returns EAGAIN while poll
/// reports readable): the receive reports ESHUTDOWN instead of spinning until its timeout; queued
/// datagrams are still delivered first; sends fail with EPIPE.
/// </summary>
public abstract partial class ShutdownTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected ShutdownTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    [LibraryImport("libc", EntryPoint = "shutdown")]
    private static partial int Shutdown(SafeHandle fd, int how);

    [Fact]
    public void ReceiveFrom_AfterShutdown_DeliversQueuedThenReportsEshutdown()
    {
        var s = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        Send(tx, _f.Loopback, port, "queued");
        Assert.True(HasQueued(s));
        Shutdown(s.SafeHandle, 2);
        Assert.Equal("queued", Next(s).Text);
        ReceiveResult r = s.ReceiveFrom(new byte[16], out _, TimeSpan.FromSeconds(30));
        Assert.Equal((ReceiveStatus.Error, "ESHUTDOWN"), (r.Status, r.ErrorName));
        using var batch = new DatagramBatch(4);
        var b = s.ReceiveBatch(batch, TimeSpan.FromSeconds(30));
        Assert.Equal((ReceiveStatus.Error, Dgram.Actors.Sockets.Native.Errno.ESHUTDOWN), (b.Status, b.Errno));
        var sent = s.SendTo(new byte[1], new IPEndPoint(_f.Loopback, port), TimeSpan.Zero);
        Assert.Equal((SendStatus.Error, "EPIPE"), (sent.Status, sent.ErrorName));
    }

    [Fact]
    public async Task ReceiveFrom_Blocked_WhenShutDownFromAnotherThread_ReturnsEshutdown()
    {
        var s = Receiver(_f, out _);
        var started = new TaskCompletionSource();
        var receive = Task.Run(() =>
        {
            started.SetResult();
            return s.ReceiveFrom(new byte[16], out _, Timeout.InfiniteTimeSpan);
        });
        await started.Task;
        Shutdown(s.SafeHandle, 2);
        ReceiveResult r = await receive.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((ReceiveStatus.Error, "ESHUTDOWN"), (r.Status, r.ErrorName));
    }
}

[Trait("Area", "Kernel")]
public sealed class ShutdownTestsV4() : ShutdownTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class ShutdownTestsV6() : ShutdownTests(LabFamily.V6);
