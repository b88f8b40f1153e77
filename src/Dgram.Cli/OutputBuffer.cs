using System.Buffers;

namespace Dgram.Cli;

/// <summary>
/// One large buffer in front of a stream (stdout): datagram lines are formatted straight into it and reach
/// the stream in big writes, when it fills and when the caller flushes (the socket went idle, the run ends),
/// never one write per datagram. At 65k datagrams/s a write per line costs a system call each.
/// </summary>
internal sealed class OutputBuffer(Stream stream, int capacity = 1 << 20) : IBufferWriter<byte>
{
    private byte[] _buffer = new byte[capacity];
    private int _used;

    /// <summary>Bytes waiting for <see cref="Flush"/>.</summary>
    public int Pending => _used;

    public void Advance(int count) => _used += count;

    public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(Reserve(sizeHint));

    public Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(Reserve(sizeHint));

    /// <summary>Writes what is buffered to the stream and flushes it.</summary>
    public void Flush()
    {
        if (_used == 0) return;
        stream.Write(_buffer, 0, _used);
        stream.Flush();
        _used = 0;
    }

    private int Reserve(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_buffer.Length - _used >= sizeHint) return _used;
        Flush();
        // Only a hint larger than the whole buffer grows it (a 64 KiB datagram as escaped JSON is ~530 KB).
        if (_buffer.Length < sizeHint) _buffer = new byte[sizeHint];
        return 0;
    }
}
