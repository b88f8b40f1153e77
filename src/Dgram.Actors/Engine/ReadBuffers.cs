using Dgram.Actors.Sockets;

namespace Dgram.Actors.Engine;

/// <summary>
/// The receive batches of one engine thread, one per batch shape its sockets use (most applications use
/// one). Buffers belong to threads, not sockets: a thousand idle sockets on one thread share one batch.
/// Used by that thread only.
/// </summary>
internal sealed class ReadBuffers : IDisposable
{
    private readonly List<DatagramBatch> _batches = [];

    /// <summary>A batch of exactly <paramref name="capacity"/> datagrams of <paramref name="datagramSize"/> bytes with room for <paramref name="controlSize"/> bytes of ancillary data.</summary>
    public DatagramBatch For(int capacity, int datagramSize, int controlSize)
    {
        foreach (DatagramBatch b in _batches)
        {
            if (b.Capacity == capacity && b.DatagramSize == datagramSize && b.ControlSize >= controlSize) return b;
        }
        var batch = new DatagramBatch(capacity, datagramSize, Math.Max(controlSize, 256));
        _batches.Add(batch);
        return batch;
    }

    /// <summary>Frees the batches no socket still on the thread reads with (called after sockets leave).</summary>
    public void Retain(IEnumerable<SocketReader> readers)
    {
        var used = readers.Select(r => (r.BatchSize, r.MaxDatagramSize)).ToHashSet();
        foreach (DatagramBatch b in _batches.Where(b => !used.Contains((b.Capacity, b.DatagramSize))).ToArray())
        {
            b.Dispose();
            _batches.Remove(b);
        }
    }

    public void Dispose()
    {
        foreach (DatagramBatch b in _batches) b.Dispose();
        _batches.Clear();
    }
}
