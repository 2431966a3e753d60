using PciKit.Linux;
using PciKit.UserClient.Protocol;

namespace PciKit.UserClient;

public sealed partial class UserClientService
{
    /// <summary>One client: its socket and its thread, which reads a request, answers it inline and reads the next.</summary>
    private sealed class Connection(UserClientService service, UnixSocket socket)
    {
        private readonly byte[] _request = new byte[UserClientWire.RequestSize];
        private readonly byte[] _reply = new byte[UserClientWire.ReplyHeaderSize + UserClientWire.MaxMessageLength];
        private readonly ReceivedFds _noFds = new(0); // a client has no business sending descriptors: closed on arrival
        private Thread? _thread;

        public void Start()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "user-client connection" };
            _thread.Start();
        }

        public void Abort()
        {
            try { socket.Shutdown(); }
            catch (LinuxException) { } // already disconnected
            catch (ObjectDisposedException) { }
        }

        public void Join() => _thread?.Join();

        public void RefuseBusy()
        {
            try
            {
                int n = UserClientWire.WriteReply(_reply, 0, UserClientStatus.Busy, 0, 0, 0, $"the service already serves {service._options.MaxClients} clients; try again later");
                socket.SendAll(_reply.AsSpan(0, n));
            }
            catch (LinuxException) { }
            finally
            {
                socket.Dispose();
            }
            Interlocked.Increment(ref service._refused);
            service._log.Warn("a client was refused: too many clients");
        }

        private void Run()
        {
            try
            {
                while (ReadRequest())
                {
                    if (!Answer()) break;
                }
            }
            catch (Exception e) when (e is LinuxException or ObjectDisposedException)
            {
                if (!service._stopping) service._log.Warn($"client connection failed: {e.Message}");
            }
            finally
            {
                _noFds.Dispose();
                socket.Dispose();
                service.Ended(this);
            }
        }

        /// <summary>Reads one whole request; false at end of stream (the client left, possibly mid-request).</summary>
        private bool ReadRequest()
        {
            int have = 0;
            while (have < _request.Length)
            {
                int n = socket.Receive(_request.AsSpan(have), _noFds);
                if (_noFds.Status != FdTransferStatus.Ok)
                {
                    service._log.Warn($"a client sent {_noFds.DiscardedCount} descriptor(s); closed them");
                    _noFds.Clear();
                }
                if (n == 0) return false;
                have += n;
            }
            return true;
        }

        /// <summary>Answers the request in the buffer; false when the connection must end (framing lost).</summary>
        private bool Answer()
        {
            var request = UserClientWire.ReadRequest(_request);
            if (request.Magic != UserClientWire.Magic)
            {
                Refuse(request.Command, UserClientStatus.Malformed, $"bad magic 0x{request.Magic:x8} (expected 0x{UserClientWire.Magic:x8}); closing the connection");
                return false;
            }
            if (request.Version != UserClientWire.Version)
                return Refuse(request.Command, UserClientStatus.UnsupportedVersion, $"protocol version {request.Version} is not supported; this service speaks {UserClientWire.Version}");
            if (request.Command != UserClientWire.MapMemoryCommand)
                return Refuse(request.Command, UserClientStatus.UnknownCommand, $"command {request.Command} is unknown; {UserClientWire.MapMemoryCommand} maps memory");
            if ((request.Flags & ~UserClientWire.ReadOnlyFlag) != 0)
                return Refuse(request.Command, UserClientStatus.Malformed, $"flags 0x{request.Flags:x} set reserved bits; only bit 0 (read-only) is defined");
            if (request.Type > int.MaxValue || service.Find((int)request.Type) is not { } memory)
                return Refuse(request.Command, UserClientStatus.UnknownType, $"no memory of type {request.Type} is offered");
            bool readOnly = (request.Flags & UserClientWire.ReadOnlyFlag) != 0;
            if (!readOnly && memory.IsReadOnly)
                return Refuse(request.Command, UserClientStatus.ReadOnlyType, $"memory type {request.Type} is offered read-only; ask for a read-only mapping");
            return Grant(request.Command, memory, readOnly);
        }

        private bool Grant(ushort command, OfferedMemory memory, bool readOnly)
        {
            var fd = readOnly ? memory.ReadOnly : memory.Writable!;
            int n = UserClientWire.WriteReply(_reply, command, UserClientStatus.Ok, readOnly ? UserClientWire.ReadOnlyFlag : 0, memory.Length, memory.FileOffset, null);
            try
            {
                socket.SendAll(_reply.AsSpan(0, n), [fd]);
            }
            catch (ObjectDisposedException)
            {
                // RemoveMemory closed the descriptors while this request was being answered.
                return Refuse(command, UserClientStatus.Unavailable, $"memory type {memory.Type} was withdrawn");
            }
            Interlocked.Increment(ref service._granted);
            return true;
        }

        private bool Refuse(ushort command, UserClientStatus status, string message)
        {
            Interlocked.Increment(ref service._refused);
            service._log.Warn($"refused a request: {message}");
            int n = UserClientWire.WriteReply(_reply, command, status, 0, 0, 0, message);
            socket.SendAll(_reply.AsSpan(0, n));
            return true;
        }
    }
}
