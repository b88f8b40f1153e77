using Dgram.Actors.Diagnostics;

namespace Dgram.Actors.Sockets;

/// <summary>
/// The one place that allocates the storage of <see cref="DatagramBatch"/> and <see cref="DatagramSendBatch"/>
/// and counts it while a batch holds it, for the <c>dgram.buffers.bytes</c> gauge. Pinned arrays today:
/// the kernel writes through raw pointers into them, so they live on the pinned object heap.
/// </summary>
internal static class BatchStorage
{
    private static long s_bytes;

    /// <summary>Bytes allocated here and not yet released.</summary>
    public static long Bytes => Interlocked.Read(ref s_bytes);

    /// <summary>A zeroed pinned array of <paramref name="size"/> bytes, counted until <see cref="Release"/>.</summary>
    public static byte[] Allocate(int size)
    {
        // A gauge is published with its meter's other instruments, which are otherwise created only once a
        // socket counts something: an idle socket's storage would go unreported.
        _ = DgramMetrics.BufferBytes;
        byte[] storage = GC.AllocateArray<byte>(size, pinned: true);
        Interlocked.Add(ref s_bytes, storage.Length);
        return storage;
    }

    /// <summary>Uncounts an array from <see cref="Allocate"/>; the caller makes sure it does so once per array.</summary>
    public static void Release(byte[] storage) => Interlocked.Add(ref s_bytes, -storage.Length);
}
