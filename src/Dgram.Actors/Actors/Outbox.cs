using System.Net;
using System.Runtime.InteropServices;
using Akka.Actor;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Actors;

/// <summary>One datagram waiting in the <see cref="Outbox"/>, and once tried, its result.</summary>
internal struct OutgoingDatagram
{
    public ReadOnlyMemory<byte> Payload;
    /// <summary>Already checked against the socket's family (<see cref="DatagramSocket.ValidateEndPoint"/>).</summary>
    public EndPoint? Destination;
    /// <summary>Why the destination was refused before any send; the datagram is skipped.</summary>
    public DatagramSocketException? Invalid;
    /// <summary>The command and who waits for its answer (null for a <c>SendMany</c>'s parts).</summary>
    public SocketProtocol.Send? Command;
    public IActorRef? ReplyTo;
    /// <summary>The parent's command number, acknowledged once answered.</summary>
    public long Id;
    public SendResult Result;
    public bool Tried;
}

/// <summary>
/// Sends queued datagrams in order through as few system calls as it can: a run of equal-size datagrams
/// to one destination as one UDP GSO send (<see cref="DatagramSocket.SendSegmented"/>), other runs of
/// datagrams that fit a slot together through sendmmsg, a longer one alone through sendto. One per
/// incarnation; used only from its mailbox. The pinned batch (about 140 KB for 64) and the GSO buffer
/// (64 KB) are made when first needed.
/// </summary>
internal sealed class Outbox(int capacity)
{
    /// <summary>Slot size of the batch: an Ethernet-MTU datagram fits; longer ones go out alone.</summary>
    private const int SlotSize = 2048;

    private DatagramSendBatch? _batch;
    private byte[]? _segments;

    /// <summary>The fewest datagrams worth a GSO send rather than a place in a sendmmsg batch.</summary>
    private const int MinSegments = 4;

    public List<OutgoingDatagram> Items { get; } = new();

    public int Capacity { get; } = capacity;

    /// <summary>
    /// Tries every datagram in <see cref="Items"/>, in order, setting each one's result. Stops after a
    /// failure when <paramref name="stopAtFailure"/>, and always after an errno that means the socket is
    /// broken. Returns how many were tried or skipped as invalid.
    /// </summary>
    public int Transmit(DatagramSocket socket, TimeSpan timeout, bool stopAtFailure)
    {
        Span<OutgoingDatagram> items = CollectionsMarshal.AsSpan(Items);
        int i = 0;
        while (i < items.Length)
        {
            ref OutgoingDatagram first = ref items[i];
            if (first.Invalid is not null)
            {
                i++;
                continue;
            }
            int start = i;
            BatchSendResult r;
            if (socket.AddressFamily != System.Net.Sockets.AddressFamily.Unix && SegmentRun(items, i) is int run and >= MinSegments)
            {
                int total = 0;
                _segments ??= GC.AllocateUninitializedArray<byte>(65507);
                for (int k = start; k < start + run; k++)
                {
                    items[k].Payload.Span.CopyTo(_segments.AsSpan(total));
                    total += items[k].Payload.Length;
                }
                r = socket.SendSegmented(_segments.AsSpan(0, total), first.Payload.Length, first.Destination!, timeout);
                i = start + run;
            }
            else
            {
                // At least 64 per sendmmsg: SendBatchSize limits only how many queued sends wait for each other.
                _batch ??= new DatagramSendBatch(Math.Max(Capacity, 64), SlotSize);
                _batch.Clear();
                while (i < items.Length && items[i].Invalid is null && _batch.TryAdd(items[i].Payload.Span, items[i].Destination!)) i++;
                if (i == start)
                {
                    // Too long for a slot: alone, in its place in the order.
                    first.Result = socket.SendTo(first.Payload.Span, first.Destination!, timeout);
                    first.Tried = true;
                    i++;
                    if (first.Result.Status != SendStatus.Sent && (stopAtFailure || Errno.IsBroken(first.Result.Errno, receiving: false))) return i;
                    continue;
                }
                r = socket.SendBatch(_batch, timeout);
            }
            for (int k = 0; k < r.Sent; k++)
            {
                ref OutgoingDatagram d = ref items[start + k];
                d.Result = new SendResult(SendStatus.Sent, d.Payload.Length, 0);
                d.Tried = true;
            }
            if (r.Status != SendStatus.Sent)
            {
                ref OutgoingDatagram failed = ref items[start + r.Sent];
                failed.Result = new SendResult(r.Status, 0, r.Errno);
                failed.Tried = true;
                // The rest of this group was not tried: they go again, each to its own result.
                i = start + r.Sent + 1;
                if (stopAtFailure || Errno.IsBroken(r.Errno, receiving: false) || r.Status == SendStatus.Closed) return i;
            }
        }
        return i;
    }

    /// <summary>
    /// How many datagrams from <paramref name="start"/> one GSO send can carry: valid, to the same
    /// destination, all of the first one's size but the last (which may be shorter), at most
    /// <see cref="DatagramSocket.MaxSegments"/> and 65,507 bytes in all.
    /// </summary>
    private static int SegmentRun(Span<OutgoingDatagram> items, int start)
    {
        int size = items[start].Payload.Length;
        if (size == 0) return 1;
        EndPoint to = items[start].Destination!;
        int n = 1, total = size;
        while (start + n < items.Length && n < DatagramSocket.MaxSegments)
        {
            ref OutgoingDatagram d = ref items[start + n];
            int length = d.Payload.Length;
            if (d.Invalid is not null || length == 0 || length > size || total + length > 65507 || !to.Equals(d.Destination)) break;
            n++;
            total += length;
            if (length < size) break; // a shorter one ends the run
        }
        return n;
    }
}
