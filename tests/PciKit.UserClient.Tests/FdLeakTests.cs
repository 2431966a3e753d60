using PciKit.Testing;
namespace PciKit.UserClient.Tests;

[Collection(FdCountingCollection.Name)]
public sealed class FdLeakTests
{
    [Fact]
    public void Serving_mapping_refusing_and_disconnecting_leave_no_descriptor_behind()
    {
        Cycle(); // warm up
        var before = FdSnapshot.Settle();
        for (int i = 0; i < 20; i++) Cycle();
        // Other test classes' threads may still be closing their own descriptors: let the count settle (a leak is ≥ 20).
        FdSnapshot.AssertReturnsTo(before);
    }

    private static void Cycle()
    {
        using var driver = new DriverFixture();
        driver.Service.AddMemory(1, driver.Bar2, readOnly: true);
        using (var app = UserClientConnection.Connect(driver.SocketPath))
        {
            using (var rw = app.MapMemory(0)) rw.Write<int>(0, 1);
            using (var ro = app.MapMemory(1, readOnly: true)) Assert.Equal(1, ro.Read<int>(0));
            Assert.Throws<UserClientException>(() => app.MapMemory(1));
            Assert.Throws<UserClientException>(() => app.MapMemory(9));
            using var grant = app.RequestMemory(0, readOnly: true);
        }
        using (var raw = RawClient.Connect(driver.SocketPath))
        {
            raw.Exchange(RawClient.Request(magic: 1));
            Assert.True(raw.WasClosedByPeer());
        }
        var abandoned = UserClientConnection.Connect(driver.SocketPath); // still connected when the service stops
        driver.Dispose();
        abandoned.Dispose();
    }
}
