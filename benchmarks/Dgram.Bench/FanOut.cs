using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Supervision;

namespace Dgram.Bench;

/// <summary>
/// One group, 8 receiving socket actors (on lo, multicast loop on): the highest paced send rate at
/// which all 8 get every datagram, and the aggregate deliveries at that rate.
/// </summary>
internal static class FanOut
{
    private sealed class Counter : IDatagramHandler
    {
        public long Count;
        public bool OnDatagram(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> sourceAddress, in ReceiveResult result, long sequence)
        {
            Count++;
            return true;
        }

        public void OnStatus(SocketStatus status) { }
    }

    public static async Task<(double Rate, double Aggregate, bool SenderLimited)> Measure(ActorSystem system, int port, double seconds)
    {
        var group = IPAddress.Parse("239.255.77.1");
        var receivers = new List<(SocketClient Client, Counter Counter)>();
        for (int i = 0; i < 8; i++)
        {
            var client = await SocketClient.StartAsync(system, new SocketSettings
            {
                Name = $"fan-{port}-{i}", Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Any, port),
                Reuse = AddressReuse.ReuseAddress, ReceiveBufferSize = 4 << 20, BatchSize = 64, MaxDatagramSize = 2048,
                SocketOptions = new DatagramSocketOptions(),
                Groups = [new GroupSettings(group, "lo")],
            });
            var counter = new Counter();
            await client.AddHandlerAsync(counter);
            receivers.Add((client, counter));
        }
        using var sender = DatagramSocket.Create(AddressFamily.InterNetwork);
        sender.SetMulticastInterface("lo");
        SocketAddress destination = new IPEndPoint(group, port).Serialize();
        byte[] payload = new byte[64];

        double best = 0;
        bool senderLimited = false;
        for (double rate = 25_000; rate <= 1_600_000; rate *= 2)
        {
            long[] before = receivers.Select(r => Volatile.Read(ref r.Counter.Count)).ToArray();
            long sent = Pace(sender, payload, destination, rate, seconds);
            await Task.Delay(300); // drain
            bool lossless = receivers.Select((r, i) => Volatile.Read(ref r.Counter.Count) - before[i]).All(got => got >= sent);
            Console.Error.WriteLine($"fan-out: {rate:N0}/s offered, {sent:N0} sent, lossless={lossless}");
            if (!lossless) break;
            best = Math.Max(best, sent / seconds);
            // Multicast on lo copies to every receiver inside the sender's send call: when the sender
            // cannot reach the offered rate, it, not the receivers, is the limit.
            if (sent < 0.9 * rate * seconds)
            {
                senderLimited = true;
                break;
            }
        }
        foreach (var (client, _) in receivers) await client.Socket.GracefulStop(TimeSpan.FromSeconds(5));
        return (best, best * receivers.Count, senderLimited);
    }

    /// <summary>Sends at a fixed rate (busy-paced in bursts of 16) for a time; returns how many were sent.</summary>
    private static long Pace(DatagramSocket sender, byte[] payload, SocketAddress destination, double rate, double seconds)
    {
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            long due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (sent < due)
            {
                if (sender.SendTo(payload, destination, TimeSpan.Zero).Status == SendStatus.Sent) sent++;
                else break;
            }
            if (sent >= due) Thread.SpinWait(50);
        }
        return sent;
    }
}
