using System.Diagnostics;
using System.Runtime.InteropServices;
using PciKit.Ivshmem;
using PciKit.Linux;

namespace PciKit.IvshmemBench;

/// <summary>Copy bandwidth into and out of the peer's mapped shared memory versus memcpy between private buffers of the same size.</summary>
internal static unsafe class Bandwidth
{
    public readonly record struct Result(string Name, double GBps);

    public static List<Result> Measure(IvshmemPeer peer, int rounds)
    {
        ulong size = peer.SharedMemorySize;
        var source = new byte[size];
        Random.Shared.NextBytes(source);
        var back = new byte[size];
        byte* native = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        try
        {
            var nativeBlock = new NativeBlock(native, (int)size);
            nativeBlock.Span.Fill(1); // fault in every page, as the mapping below
            peer.SharedMemory.GetSpan(0, (int)size).Fill(1);
            MappedView view = peer.SharedMemory.Mapping.CreateView(0, size);
            var results = new List<Result>();
            for (int r = 0; r < rounds; r++)
            {
                results.Add(Time("memcpy managed → private native", size, () => source.AsSpan().CopyTo(nativeBlock.Span)));
                results.Add(Time("MemoryBlock.CopyFrom (into shm)", size, () => peer.SharedMemory.CopyFrom(0, source)));
                results.Add(Time("MappedView.CopyFrom (into shm)", size, () => view.CopyFrom(0, source)));
                results.Add(Time("memcpy private native → managed", size, () => nativeBlock.Span.CopyTo(back)));
                results.Add(Time("MemoryBlock.CopyTo (out of shm)", size, () => peer.SharedMemory.CopyTo(0, back)));
                results.Add(Time("MappedView.CopyTo (out of shm)", size, () => view.CopyTo(0, back)));
            }

            return results;
        }
        finally
        {
            NativeMemory.AlignedFree(native);
        }
    }

    private readonly struct NativeBlock(byte* pointer, int length)
    {
        public Span<byte> Span => new(pointer, length);
    }

    private static Result Time(string name, ulong size, Action copy)
    {
        long start = Stopwatch.GetTimestamp();
        copy();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new Result(name, size / seconds / 1e9);
    }
}
