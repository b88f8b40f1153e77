using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// A <see cref="DatagramBatch"/> disposed on one thread while another receives into it under a flood:
/// the storage stays until the receive lets go, so the process survives, the receive ends with its
/// documented outcome (a result, or ObjectDisposedException), and memory allocated after the dispose is
/// never written by the kernel.
/// </summary>
[Trait("Area", "Security")]
public sealed class BatchDisposalTests : SocketTestBase
{
    private const byte Fill = 0xA5;

    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public BatchDisposalTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        LabNet.Require();
        _output = output;
    }

    [Fact]
    public void Dispose_WhileAnotherThreadReceivesUnderAFlood_NeverWritesFreedMemory()
    {
        var rx = Receiver(LabFamily.V4, out int port, new DatagramSocketOptions());
        rx.SetReceiveBufferSize(4 << 20);
        var tx = Create(AddressFamily.InterNetwork);
        tx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        SocketAddress destination = new IPEndPoint(IPAddress.Loopback, port).Serialize();
        using var stopFlood = new CancellationTokenSource();
        var flood = new Thread(() =>
        {
            byte[] payload = new byte[DatagramSize];
            Array.Fill(payload, (byte)0x5A);
            while (!stopFlood.IsCancellationRequested) tx.SendTo(payload, destination, TimeSpan.Zero);
        }) { IsBackground = true, Name = "flood" };
        flood.Start();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(4);
            int iterations = 0;
            for (; iterations < 400 && DateTime.UtcNow < deadline; iterations++)
            {
                // The largest batch: its receive spends the longest in Prepare and recvmmsg, the window
                // in which a dispose used to free the storage under the kernel's writes.
                var batch = new DatagramBatch(1024, DatagramSize);
                using var running = new ManualResetEventSlim(); // set by the first receive, or by the reader's end
                Exception? unexpected = null;
                bool disposedSeen = false;
                var reader = new Thread(() =>
                {
                    try
                    {
                        while (true)
                        {
                            BatchReceiveResult r = rx.ReceiveBatch(batch, TimeSpan.FromSeconds(5));
                            // Measured before the fix: Error EFAULT here once the storage had been freed.
                            if (r.Status is not (ReceiveStatus.Received or ReceiveStatus.TimedOut)) throw new InvalidOperationException($"unexpected {r}");
                            running.Set();
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        disposedSeen = true; // the documented outcome once the batch is disposed
                    }
                    catch (Exception e)
                    {
                        unexpected = e;
                    }
                    finally
                    {
                        running.Set();
                    }
                }) { IsBackground = true, Name = "batch-reader" };
                reader.Start();
                Assert.True(running.Wait(Arrival), "the flood never reached the reader");
                Assert.Null(unexpected);

                batch.Dispose();
                // Let the GC reclaim whatever the dispose released, then put fresh pinned arrays where it was
                // (sizes up to the batch's storage, so one fits the hole it would leave).
                GC.Collect();
                byte[][] fresh = FreshSizes.Select(n => Filled(GC.AllocateArray<byte>(n, pinned: true))).ToArray();

                Assert.True(reader.Join(Arrival), "the reader did not end after the batch was disposed");
                Assert.Null(unexpected);
                Assert.True(disposedSeen);
                foreach (byte[] a in fresh) Assert.True(a.AsSpan().IndexOfAnyExcept(Fill) < 0, "a pinned array allocated after Dispose was written");
                Assert.Throws<ObjectDisposedException>(() => batch.Payload(0).Length);
            }
            _output.WriteLine($"{iterations} disposals under a receiving thread");
            Assert.True(iterations >= 10, $"only {iterations} iterations ran");
        }
        finally
        {
            stopFlood.Cancel();
            flood.Join();
        }
    }

    private const int DatagramSize = 64;

    // 1024 × (header 64 + iovec 16 + address 128 + control 256 + payload 64) B is the batch's storage.
    private static readonly int[] FreshSizes = [1024 * 528, 1024 * 520, 1024 * 400, 1024 * 256, 1024 * 128, 1024 * 64];

    [Fact]
    public async Task ReceiveBatch_IntoABatchAnotherReceiveHolds_Throws_AndIntoADisposedBatch_ThrowsObjectDisposed()
    {
        var rx = Receiver(LabFamily.V4, out int port, new DatagramSocketOptions());
        var batch = new DatagramBatch(4);
        var first = Task.Factory.StartNew(() =>
        {
            while (true)
            {
                try
                {
                    return rx.ReceiveBatch(batch, Timeout.InfiniteTimeSpan);
                }
                catch (InvalidOperationException)
                {
                    // the probing receive below held the batch at that instant: take it next time
                }
            }
        }, TaskCreationOptions.LongRunning);
        // Until the first receive holds the batch a zero-timeout receive just times out; then it must throw.
        var until = DateTime.UtcNow + Arrival;
        InvalidOperationException? busy = null;
        while (busy is null && DateTime.UtcNow < until)
        {
            try
            {
                Assert.Equal(ReceiveStatus.TimedOut, rx.ReceiveBatch(batch, TimeSpan.Zero).Status);
            }
            catch (InvalidOperationException e)
            {
                busy = e;
            }
        }
        Assert.NotNull(busy);
        Assert.False(first.IsCompleted);
        var tx = Create(AddressFamily.InterNetwork);
        tx.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Send(tx, IPAddress.Loopback, port, "one");
        BatchReceiveResult got = await first.WaitAsync(Arrival);
        Assert.Equal((ReceiveStatus.Received, 1), (got.Status, got.Count));
        Assert.Equal("one", System.Text.Encoding.ASCII.GetString(batch.Payload(0)));

        batch.Dispose();
        batch.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => rx.ReceiveBatch(batch, TimeSpan.Zero));
        Assert.Throws<ObjectDisposedException>(() => batch[0].BytesReceived);
    }

    private static byte[] Filled(byte[] a)
    {
        Array.Fill(a, Fill);
        return a;
    }
}
