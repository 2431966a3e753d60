// A driver that opens an ivshmem device, maps its shared memory (BAR2) and offers it to apps through a user-client
// service: memory type 0 read-write, type 1 read-only.
//
//   ivshmem-driver --socket PATH [--vfio-user SOCK] [--size BYTES]
//
// Without --vfio-user the device is PciKit's ivshmem model on an in-process bus, with memfd shared memory; with it,
// the device is whatever a vfio-user server serves at SOCK (e.g. 'pcikit serve ivshmem-plain --vfio-user SOCK').
// Then it reads commands on stdin: 'read OFFSET LENGTH' prints that many bytes of BAR2 read through the device
// (MemoryRead8, not the mapping); 'quit' or end of input stops it.
using System.Globalization;
using System.Text;
using PciKit.Config;
using PciKit.Devices.Ivshmem;
using PciKit.Driver;
using PciKit.Host;
using PciKit.Linux.Memory;
using PciKit.UserClient;
using PciKit.VfioUser.Client;

string? socket = null, vfioUser = null;
ulong size = IvshmemOptions.DefaultSharedMemorySize;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw Usage($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--socket": socket = Value(); break;
        case "--vfio-user": vfioUser = Value(); break;
        case "--size": size = ulong.Parse(Value(), CultureInfo.InvariantCulture); break;
        default: throw Usage($"unknown argument '{args[i]}'");
    }
}
if (socket is null) throw Usage("--socket PATH is required");

using var bus = new PciHostBus();
using PciFunction function = vfioUser is not null
    ? VfioUserClient.Open(vfioUser)
    : bus.GetFunction(bus.Attach(new IvshmemDevice(new IvshmemOptions { Allocator = SharedMemoryAllocator.Instance, SharedMemorySize = size })));
function.Open();
uint ids = function.ConfigRead32(PciHeader.VendorId);
if (ids != (IvshmemDevice.DeviceId << 16 | IvshmemDevice.VendorId))
{
    Console.Error.WriteLine($"ivshmem-driver: {function.BackendDescription} is {ids & 0xFFFF:x4}:{ids >> 16:x4}, not an ivshmem device (1af4:1110)");
    return 1;
}
function.SetCommand(PciCommand.MemorySpace);
using var bar2 = function.MapBar(2);
using var service = UserClientService.Start(socket);
service.AddMemory(0, bar2);
service.AddMemory(1, bar2, readOnly: true);
Console.WriteLine($"ready: BAR2 of {function.BackendDescription} ({bar2.Length} bytes) offered at {socket} as type 0 (read-write) and type 1 (read-only)");

while (Console.ReadLine() is { } line)
{
    string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (words is ["quit"]) break;
    if (words is ["read", var o, var l] && ulong.TryParse(o, CultureInfo.InvariantCulture, out ulong offset) && int.TryParse(l, CultureInfo.InvariantCulture, out int length)
        && length is > 0 and <= 4096 && offset <= bar2.Length && (ulong)length <= bar2.Length - offset)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = function.MemoryRead8(2, offset + (ulong)i);
        Console.WriteLine("data: " + Encoding.UTF8.GetString(bytes));
    }
    else Console.WriteLine("error: commands are 'read OFFSET LENGTH' (1–4096 bytes inside BAR2) and 'quit'");
}
Console.WriteLine($"stopped; {service.Granted} grant(s), {service.Refused} refusal(s)");
return 0;

static ArgumentException Usage(string problem) => new($"ivshmem-driver: {problem}. Usage: ivshmem-driver --socket PATH [--vfio-user SOCK] [--size BYTES]");
