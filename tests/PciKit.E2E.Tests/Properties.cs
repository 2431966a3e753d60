using System.Runtime.Versioning;

[assembly: SupportedOSPlatform("linux")]
// Each test boots QEMU; two at once on a 2-core machine only makes both slower and the timings noisy.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
