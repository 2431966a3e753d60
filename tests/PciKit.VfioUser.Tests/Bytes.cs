using System.Text;

namespace PciKit.VfioUser.Tests;

internal static class Bytes
{
    /// <summary>"01 00 ff" → bytes; whitespace ignored.</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c))));

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);
}
