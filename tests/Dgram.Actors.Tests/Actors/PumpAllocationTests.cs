using System.Net;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;
using Dgram.Actors.Tests.Lab;
using Dgram.Actors.Tests.Sockets;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>The read loop allocates nothing per datagram when its consumers are span handlers (process-wide count, so serial).</summary>
[Collection(SerialCollection.Name)]
[Trait("Area", "Actor")]
public sealed class PumpAllocationTests : ActorTestBase
{
    private readonly ITestOutputHelper _output;

    public PumpAllocationTests(ITestOutputHelper output) : base(output) => _output = output;

    private sealed class CountingHandler : IDatagramHandler
    {
        private long _count, _bytes;
        public long Count => Volatile.Read(ref _count);
        public long Bytes => Volatile.Read(ref _bytes);

        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            Interlocked.Add(ref _bytes, payload.Length);
            Interlocked.Increment(ref _count);
            return true;
        }

        public void OnStatus(SocketStatus status) { }
    }

    [Fact]
    public async Task ReadLoop_WithSpanHandler_AllocatesLessThanOneBytePerDatagram()
    {
        var f = LabFamily.V4;
        var (client, port) = await StartReceiver(f, s => s with { ReceiveBufferSize = 4 << 20 });
        var handler = new CountingHandler();
        await client.AddHandlerAsync(handler);
        var tx = Core(f.Family);
        tx.Bind(new IPEndPoint(f.Loopback, 0));
        SocketAddress destination = new IPEndPoint(f.Loopback, port).Serialize();
        byte[] payload = new byte[64];

        async Task Run(int n)
        {
            long target = handler.Count + n;
            for (int i = 0; i < n; i++)
            {
                // No Assert per datagram: xunit's Assert.Equal allocates, and the count is process-wide.
                if (tx.SendTo(payload, destination, Arrival).Status != SendStatus.Sent) throw new InvalidOperationException("send failed");
                // Keep the kernel queue short: wait for the loop every 1,024 datagrams.
                if (i % 1024 == 1023)
                {
                    long due = target - n + i + 1 - 1024;
                    long deadline = Environment.TickCount64 + 10_000;
                    while (handler.Count < due)
                    {
                        if (Environment.TickCount64 > deadline) throw new TimeoutException("the read loop stopped delivering");
                        Thread.Yield();
                    }
                }
            }
            await AwaitConditionAsync(() => Task.FromResult(handler.Count >= target), Arrival);
        }

        await Run(20_000); // warm-up: tiered JIT settles
        const int n = 10_000;
        // Process-wide count: the least of three measurements is what the read loop allocates.
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 3 && allocated > 0; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await Run(n);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        _output.WriteLine($"{allocated} B allocated process-wide while the read loop handled {n} datagrams (the test's own awaits and Akka's timers included)");
        Assert.True(handler.Count >= 30_000);
        Assert.True(allocated < n, $"{allocated} B over {n} datagrams");
    }
}
