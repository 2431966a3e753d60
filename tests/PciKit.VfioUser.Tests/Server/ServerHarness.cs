using PciKit.Device;
using PciKit.Linux;
using PciKit.VfioUser.Server;

namespace PciKit.VfioUser.Tests.Server;

/// <summary>A <see cref="VfioUserServer"/> on a socket in a private temporary directory, serving one device in this process.</summary>
internal sealed class ServerHarness : IDisposable
{
    private readonly string _dir;

    public ServerHarness(PciDevice device, VfioUserServerOptions? options = null)
    {
        Device = device;
        _dir = Directory.CreateTempSubdirectory("pkv").FullName;
        SocketPath = Path.Combine(_dir, "s.sock");
        Server = VfioUserServer.Start(device, SocketPath, options);
    }

    public PciDevice Device { get; }
    public string SocketPath { get; }
    public VfioUserServer Server { get; }

    public RawClient Connect() => RawClient.Connect(SocketPath);

    /// <summary>Connects and negotiates VERSION 0.0 (QEMU's capabilities unless <paramref name="json"/>).</summary>
    public RawClient ConnectNegotiated(string json = RawClient.QemuVersionJson)
    {
        var client = Connect();
        client.Negotiate(json);
        return client;
    }

    /// <summary>Waits (hang guard) until the server has finished with <paramref name="count"/> clients (released their resources).</summary>
    public void WaitClientsServed(int count)
    {
        Assert.True(SpinWait.SpinUntil(() => Server.ClientsServed >= count, RawClient.HangGuard),
            $"the server finished with {Server.ClientsServed} clients, expected {count}");
    }

    public void Dispose()
    {
        Server.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>Waits bounded by the hang guard: polls a condition, or an eventfd.</summary>
internal static class Eventually
{
    public static void True(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + RawClient.HangGuard;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            Thread.Sleep(1);
        }
    }

    /// <summary>True when <paramref name="fd"/> was signalled within the hang guard; consumes the count.</summary>
    public static ulong Fired(EventFd fd)
    {
        Assert.True(fd.Wait(RawClient.HangGuard), "the eventfd was not signalled");
        return fd.Read();
    }

    /// <summary>True when <paramref name="fd"/> stays quiet for a short while (used after an action that must not signal).</summary>
    public static bool Quiet(EventFd fd) => !fd.Wait(TimeSpan.FromMilliseconds(150));
}

/// <summary>Tests that count this process's descriptors run alone, after the parallel ones.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountingCollection
{
    public const string Name = "vfio-user server fd counting";
}
