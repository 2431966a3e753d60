// An app that maps a driver's memory through its user-client service and writes or reads a message.
//
//   ivshmem-app --socket PATH [--type N] [--read-only] [--offset N] (--write TEXT | --read LENGTH)
//
// Exit status: 0 done, 2 the service refused (its reason is printed), 3 a write to a read-only mapping was refused.
using System.Globalization;
using System.Text;
using PciKit.UserClient;

string? socket = null, text = null;
int type = 0, readLength = 0;
ulong offset = 0;
bool readOnly = false;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw Usage($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--socket": socket = Value(); break;
        case "--type": type = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--read-only": readOnly = true; break;
        case "--offset": offset = ulong.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--write": text = Value(); break;
        case "--read": readLength = int.Parse(Value(), CultureInfo.InvariantCulture); break;
        default: throw Usage($"unknown argument '{args[i]}'");
    }
}
if (socket is null || (text is null) == (readLength == 0)) throw Usage("give --socket and one of --write TEXT or --read LENGTH");

using var connection = UserClientConnection.Connect(socket);
UserClientMapping memory;
try
{
    memory = connection.MapMemory(type, readOnly);
}
catch (UserClientException e)
{
    Console.WriteLine("refused: " + e.Message);
    return 2;
}
using (memory)
{
    Console.WriteLine($"mapped type {type}: {memory.Length} bytes{(memory.IsReadOnly ? ", read-only" : "")}");
    if (text is not null)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        try
        {
            memory.CopyFrom(offset, bytes);
        }
        catch (InvalidOperationException)
        {
            Console.WriteLine("refused: the mapping is read-only");
            return 3;
        }
        var back = new byte[bytes.Length];
        memory.CopyTo(offset, back);
        Console.WriteLine("wrote: " + Encoding.UTF8.GetString(back));
    }
    else
    {
        var bytes = new byte[readLength];
        memory.CopyTo(offset, bytes);
        Console.WriteLine("read: " + Encoding.UTF8.GetString(bytes));
    }
}
return 0;

static ArgumentException Usage(string problem) => new($"ivshmem-app: {problem}. Usage: ivshmem-app --socket PATH [--type N] [--read-only] [--offset N] (--write TEXT | --read LENGTH)");
