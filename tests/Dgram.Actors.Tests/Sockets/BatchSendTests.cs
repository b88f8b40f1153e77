using System.Net;
using System.Text;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>sendmmsg: every datagram of a batch arrives, in order, from the right source; a refused one stops the rest.</summary>
public abstract class BatchSendTests : SocketTestBase
{
    private readonly LabFamily _f;

    protected BatchSendTests(LabFamily family)
    {
        LabNet.Require();
        _f = family;
    }

    [Fact]
    public void SendBatch_ToAGroup_EveryDatagramArrivesInOrderFromTheSource()
    {
        IPAddress group = _f.NewGroup();
        var rx = Receiver(_f, out int port);
        rx.SetReceiveBufferSize(1 << 20);
        rx.JoinGroup(group, LabNet.Rx0);
        var tx = Sender(_f, _f.Tx0Sources[1], LabNet.Tx0);
        var batch = new DatagramSendBatch(64);
        var to = new IPEndPoint(group, port);
        int total = 0;
        for (int round = 0; round < 3; round++)
        {
            batch.Clear();
            while (batch.TryAdd(Encoding.ASCII.GetBytes((total + batch.Count).ToString()), to)) { }
            Assert.Equal(64, batch.Count);
            BatchSendResult r = tx.SendBatch(batch, Arrival);
            Assert.Equal((SendStatus.Sent, 64), (r.Status, r.Sent));
            total += r.Sent;
        }
        Assert.Equal(192, tx.Statistics.DatagramsSent);
        for (int i = 0; i < total; i++)
        {
            var got = Next(rx);
            Assert.Equal(i.ToString(), got.Text);
            Assert.Equal(_f.Tx0Sources[1], got.Source.Address);
            Assert.Equal(LabNet.Index(LabNet.Rx0), got.Result.InterfaceIndex);
        }
    }

    [Fact]
    public void SendBatch_ARefusedDatagram_StopsTheBatchThere_AndSaysWhy()
    {
        var rx = Receiver(_f, out int port);
        var tx = Create(_f.Family);
        var batch = new DatagramSendBatch(8);
        batch.TryAdd("a"u8, new IPEndPoint(_f.Loopback, port));
        batch.TryAdd("b"u8, new IPEndPoint(_f.Loopback, port));
        batch.TryAdd("bad"u8, new IPEndPoint(_f.Loopback, 0)); // port 0: EINVAL
        batch.TryAdd("c"u8, new IPEndPoint(_f.Loopback, port));
        BatchSendResult r = tx.SendBatch(batch, Arrival);
        Assert.Equal((SendStatus.Error, 2, "EINVAL"), (r.Status, r.Sent, r.ErrorName));
        Assert.Equal("a", Next(rx).Text);
        Assert.Equal("b", Next(rx).Text);
        Assert.False(HasQueued(rx));
        AssertStillWorks(tx, _f);
    }

    [Fact]
    public void DatagramSendBatch_TooLargeOrFull_IsRefusedWithoutSending()
    {
        var batch = new DatagramSendBatch(2, maxDatagramSize: 16);
        var to = new IPEndPoint(_f.Loopback, 9);
        Assert.False(batch.TryAdd(new byte[17], to));
        Assert.True(batch.TryAdd(new byte[16], to));
        Assert.True(batch.TryAdd(ReadOnlySpan<byte>.Empty, to));
        Assert.False(batch.TryAdd(new byte[1], to));
        Assert.Equal(2, batch.Count);
    }
}

[Trait("Area", "Kernel")]
public sealed class BatchSendTestsV4() : BatchSendTests(LabFamily.V4);

[Trait("Area", "Kernel")]
public sealed class BatchSendTestsV6() : BatchSendTests(LabFamily.V6);
