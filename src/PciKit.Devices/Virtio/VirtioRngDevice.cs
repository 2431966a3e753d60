using System.Security.Cryptography;

namespace PciKit.Devices.Virtio;

/// <summary>
/// virtio-rng (virtio 1.2, 5.4): one request queue; every device-writable buffer the driver makes available is
/// filled with bytes from the platform's cryptographically secure generator (<see cref="RandomNumberGenerator"/>).
/// Linux's stock virtio_rng binds to it and registers it as /dev/hwrng.
/// </summary>
public sealed class VirtioRngDevice : VirtioPciDevice
{
    /// <summary>Size of the request queue.</summary>
    public const ushort QueueSize = 64;

    private readonly byte[] _buffer = new byte[4096];
    private long _bytes;

    /// <summary>Creates the device (PCI 1af4:1044, class "other").</summary>
    public VirtioRngDevice(VirtioPciOptions? options = null)
        : base(VirtioDeviceType.Entropy, classCode: 0x00ff00, [QueueSize],
               VirtioFeatures.Bit(VirtioFeatures.IndirectDesc) | VirtioFeatures.Bit(VirtioFeatures.EventIdx),
               deviceConfigSize: 0, options)
    {
    }

    /// <inheritdoc />
    public override string Name => "virtio-rng";

    /// <summary>Random bytes handed to the driver so far.</summary>
    public long BytesProvided => Volatile.Read(ref _bytes);

    /// <inheritdoc />
    protected override bool HandleRequest(Virtqueue queue, DescriptorChain chain, out uint written)
    {
        written = 0;
        long total = chain.WritableLength;
        if (total > uint.MaxValue)
        {
            SetNeedsReset($"entropy request of {total} bytes (the used length is 32 bits)");
            return false;
        }
        for (long done = 0; done < total;)
        {
            int n = (int)Math.Min(_buffer.Length, total - done);
            var chunk = _buffer.AsSpan(0, n);
            RandomNumberGenerator.Fill(chunk);
            if (!chain.Write(done, chunk))
            {
                SetNeedsReset($"entropy buffer of request {chain.Head} is not writable (DMA)");
                return false;
            }
            done += n;
        }
        _bytes += total;
        written = (uint)total;
        return true;
    }
}
