using PciKit.Cli;

namespace PciKit.Tests.Cli;

public sealed class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Devices_lists_every_built_in_model_with_ids()
    {
        var (code, output, _) = Run("devices");
        Assert.Equal(0, code);
        Assert.Contains("edu", output);
        Assert.Contains("1234:11e8", output);
        Assert.Contains("sample", output);
        Assert.Matches(@"(?m)^virtio-blk +1af4:1042 ", output);
        Assert.Matches(@"(?m)^virtio-rng +1af4:1044 ", output);
        Assert.Matches(@"(?m)^ivshmem-doorbell +1af4:1110 ", output);
    }

    [Fact]
    public void Demo_runs_the_edu_driver_and_reports_every_step()
    {
        var (code, output, _) = Run("demo");
        Assert.Equal(0, code);
        Assert.Contains("version 1.0", output);
        Assert.Contains("read back 0xedcba987", output);
        Assert.Contains("10! = 3628800", output);
        Assert.Contains("12! = 479001600", output);
        Assert.Contains("byte-exact", output);
        Assert.Contains("all checks passed", output);
    }

    [Theory]
    [InlineData("-x", 4)]
    [InlineData("-xxx", 16)]
    [InlineData("-xxxx", 16)]
    public void Lspci_hex_dump_has_the_lspci_F_format(string flag, int rows)
    {
        var (code, output, _) = Run("lspci", "--device", "edu", flag);
        Assert.Equal(0, code);
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.StartsWith("00:00.0 ", lines[0]);
        var dump = lines.Skip(1).ToArray();
        Assert.Equal(rows, dump.Length);
        Assert.Equal("00: 34 12 e8 11 00 00 10 00 10 00 ff 00 00 00 00 00", dump[0]);
        Assert.All(dump, l => Assert.Matches("^[0-9a-f]{2}: ([0-9a-f]{2} ){15}[0-9a-f]{2}$", l));
    }

    [Fact]
    public void Lspci_xxxx_of_an_express_device_dumps_4096_bytes()
    {
        var (code, output, _) = Run("lspci", "--device", "sample", "-xxxx");
        Assert.Equal(0, code);
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(1 + 256, lines.Length);
        Assert.StartsWith("ff0: ", lines[^1]);
    }

    [Fact]
    public void Lspci_vvv_decodes_the_msi_capability()
    {
        var (code, output, _) = Run("lspci", "--device", "edu", "-vvv");
        Assert.Equal(0, code);
        Assert.Contains("Region 0: Memory at c0000000 (32-bit, non-prefetchable)", output);
        Assert.Contains("Capabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+", output);
    }

    [Theory]
    [InlineData(new[] { "lspci", "--device", "nope" }, "unknown device 'nope'")]
    [InlineData(new[] { "lspci" }, "--device")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "serve", "edu", "--vfio-user", "/tmp/pcikit-cli-test.sock", "--image", "/tmp/x.img" }, "edu takes no disk image")]
    [InlineData(new[] { "serve", "virtio-blk", "--vfio-user", "/tmp/pcikit-cli-test.sock", "--image", "/nonexistent/disk.img" }, "/nonexistent/disk.img does not exist")]
    [InlineData(new[] { "vm", "--image", "/tmp/x.img", "--", "true" }, "--device")]
    [InlineData(new[] { "serve", "edu", "--vfio-user", "/tmp/pcikit-cli-test.sock", "--busy-poll-us=-1" }, "--busy-poll-us -1 is out of range")]
    [InlineData(new[] { "vm", "--device", "edu", "--busy-poll-us", "2000000", "--", "true" }, "--busy-poll-us 2000000 is out of range")]
    [InlineData(new[] { "vm", "--device", "edu", "--transport", "proxy", "--busy-poll-us", "10", "--", "true" }, "the proxy transport has none")]
    [InlineData(new[] { "vm", "--device", "virtio-blk", "--image", "/nonexistent/disk.img", "--accel", "warp", "--", "true" }, "--accel 'warp' is not auto")] // options are checked before the image is opened
    [InlineData(new[] { "serve", "virtio-blk", "--vfio-user", "/tmp/pcikit-cli-test.sock", "--image", "/nonexistent/disk.img", "--busy-poll-us=-1" }, "--busy-poll-us -1 is out of range")]
    public void Bad_arguments_give_one_clear_line_and_a_non_zero_exit(string[] args, string mention)
    {
        var (code, output, error) = Run(args);
        Assert.NotEqual(0, code);
        Assert.Equal("", output);
        var lines = error.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("pcikit: ", lines[0]);
        Assert.Contains(mention, lines[0]);
    }
}
