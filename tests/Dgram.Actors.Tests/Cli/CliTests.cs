using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;

namespace Dgram.Actors.Tests.Cli;

/// <summary>
/// The <c>dgram</c> tool end to end in the lab: every test runs dgram.dll (copied next to this assembly by
/// the project reference) as separate processes, listen in one and send from another, and asserts on
/// what they print and how they exit. Waits are bounded and event-driven ("listening on" on stderr,
/// process exit); leftover processes are killed when the test ends.
/// </summary>
[Trait("Area", "Hosting")]
public sealed partial class CliTests : IDisposable
{
    private const string Rx = LabNet.Rx0, Tx = LabNet.Tx0;
    private readonly List<IDisposable> _owned = [];

    public CliTests() => LabNet.Require();

    public static TheoryData<string> Families => new() { "IPv4", "IPv6" };

    private static LabFamily Family(string name) => name == "IPv6" ? LabFamily.V6 : LabFamily.V4;

    private DgramProcess Dgram(params string[] args) => Own(DgramProcess.Start(null, args));

    private DgramProcess DgramWithStdin(byte[] stdin, params string[] args) => Own(DgramProcess.Start(stdin, args));

    private T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    /// <summary>Sends with a second dgram process and asserts it succeeded.</summary>
    private void Send(params string[] args)
    {
        DgramProcess sender = Dgram(["send", .. args]);
        Assert.True(sender.WaitForExit() == 0, $"dgram send failed: {sender.Describe()}");
    }

    // "198.51.100.2:40000 > 239.255.0.1:20001 on lab0a, 5 bytes: hello"
    [GeneratedRegex(@"^(?<src>\S+) > (?<dst>\S+) on (?<if>\S+), (?<len>\d+) bytes: (?<payload>.*)$")]
    private static partial Regex TextLine();

    private static Match ParseTextLine(string line)
    {
        Match m = TextLine().Match(line);
        Assert.True(m.Success, $"not a datagram line: '{line}'");
        return m;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Listen_any_source_prints_source_destination_and_arrival_interface(string family)
    {
        LabFamily f = Family(family);
        IPAddress group = f.NewGroup(), source = f.Tx0Sources[0];
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--count", "1", "--timeout", "10");
        listener.WaitForListening();

        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", source.ToString(), "hello from dgram");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        string line = Assert.Single(listener.Output);
        Match m = ParseTextLine(line);
        Assert.Equal(source, IPEndPoint.Parse(m.Groups["src"].Value).Address);
        Assert.Equal(new IPEndPoint(group, port), IPEndPoint.Parse(m.Groups["dst"].Value));
        Assert.Equal(Rx, m.Groups["if"].Value);
        Assert.Equal("16", m.Groups["len"].Value);
        Assert.Equal("hello from dgram", m.Groups["payload"].Value);
        Assert.Contains(listener.Errors, l => l.Contains("received 1 datagram", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    [InlineData("IPv6 link-scoped")]
    public void Listen_binds_the_group_so_unicast_to_the_port_does_not_reach_it(string kind)
    {
        LabFamily f = Family(kind.StartsWith("IPv6", StringComparison.Ordinal) ? "IPv6" : "IPv4");
        IPAddress group = kind == "IPv6 link-scoped" ? IPAddress.Parse($"ff12::d9a:{LabNet.NextGroupNumber():x}") : f.NewGroup();
        IPAddress source = f.Tx0Sources[0];
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--count", "1", "--timeout", "10");
        listener.WaitForListening();

        // First to the receiving host's own address on that port: a wildcard-bound listener would print it.
        Send(f.Rx0Address.ToString(), "--port", Str(port), "--source", source.ToString(), "unicast");
        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", source.ToString(), "multicast");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        Match m = ParseTextLine(Assert.Single(listener.Output));
        Assert.Equal("multicast", m.Groups["payload"].Value);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Listen_json_gives_one_object_per_datagram(string family)
    {
        LabFamily f = Family(family);
        IPAddress group = f.NewGroup(), source = f.Tx0Sources[1];
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--json", "--count", "3", "--timeout", "10");
        listener.WaitForListening();

        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", source.ToString(), "--count", "3", "--rate", "200", "seq {n}");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        Assert.Equal(3, listener.Output.Count);
        for (int i = 0; i < 3; i++)
        {
            using JsonDocument doc = JsonDocument.Parse(listener.Output[i]);
            JsonElement o = doc.RootElement;
            Assert.Equal(source, IPAddress.Parse(o.GetProperty("source").GetString()!));
            Assert.Equal(group, IPAddress.Parse(o.GetProperty("destination").GetString()!));
            Assert.Equal(port, o.GetProperty("port").GetInt32());
            Assert.Equal(Rx, o.GetProperty("interface").GetString());
            Assert.Equal(LabNet.Index(Rx), o.GetProperty("interfaceIndex").GetInt32());
            Assert.Equal($"seq {i + 1}", o.GetProperty("text").GetString());
            Assert.Equal(Convert.ToHexStringLower(Encoding.UTF8.GetBytes($"seq {i + 1}")), o.GetProperty("hex").GetString());
            Assert.Equal(5, o.GetProperty("length").GetInt32());
            Assert.False(o.GetProperty("truncated").GetBoolean());
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Listen_source_specific_prints_only_the_joined_source(string family)
    {
        LabFamily f = Family(family);
        IPAddress group = f.NewSsmGroup(), joined = f.Tx0Sources[0], other = f.Tx0Sources[1];
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--source", joined.ToString(),
            "--count", "1", "--timeout", "10");
        listener.WaitForListening();

        // The other source first: were it delivered, --count 1 would print it and stop.
        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", other.ToString(), "from-other");
        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", joined.ToString(), "from-joined");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        Match m = ParseTextLine(Assert.Single(listener.Output));
        Assert.Equal(joined, IPEndPoint.Parse(m.Groups["src"].Value).Address);
        Assert.Equal("from-joined", m.Groups["payload"].Value);
        Assert.Contains(listener.Errors, l => l.StartsWith("listening on", StringComparison.Ordinal) && l.Contains("source-specific", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Listen_block_drops_the_blocked_source(string family)
    {
        LabFamily f = Family(family);
        IPAddress group = f.NewGroup(), blocked = f.Tx0Sources[2], allowed = f.Tx0Sources[0];
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--block", blocked.ToString(),
            "--count", "1", "--timeout", "10");
        listener.WaitForListening();

        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", blocked.ToString(), "from-blocked");
        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", allowed.ToString(), "from-allowed");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        Match m = ParseTextLine(Assert.Single(listener.Output));
        Assert.Equal(allowed, IPEndPoint.Parse(m.Groups["src"].Value).Address);
        Assert.Equal("from-allowed", m.Groups["payload"].Value);
    }

    [Fact]
    public void Listen_hex_prints_the_payload_bytes()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--format", "hex", "--count", "1", "--timeout", "10");
        listener.WaitForListening();

        Send(group.ToString(), "--port", Str(port), "--iface", Tx, "--source", f.Tx0Sources[0].ToString(), "hex!");

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        Assert.Equal("68657821", ParseTextLine(Assert.Single(listener.Output)).Groups["payload"].Value);
    }

    /// <summary>
    /// What an attacker on the segment would send to a terminal running <c>dgram listen</c>: every C0 and
    /// C1 control, every format character (bidi overrides and isolates among them), the separators, an
    /// unassigned code point, typed-in escapes ("\x1b[31m"), every byte that cannot start valid UTF-8 and
    /// the classic invalid sequences, then random mixes of all of it. Each output line must hold none of
    /// them raw (every character checked, with stdout read as bytes), and decode back to the payload.
    /// </summary>
    [Theory]
    [Trait("Area", "Security")]
    [InlineData("text")]
    [InlineData("json")]
    public void Listen_prints_hostile_payloads_escaped_and_decodable(string format)
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        int port = LabNet.NextPort();
        List<byte[]> payloads = HostilePayloads();
        DgramProcess listener = Dgram("listen", group.ToString(), "--port", Str(port), "--iface", Rx, "--format", format,
            "--count", Str(payloads.Count), "--timeout", "60");
        listener.WaitForListening();

        using (DatagramSocket sender = LabNet.OpenSender(f, f.Tx0Sources[0], Tx))
        {
            for (int i = 0; i < payloads.Count; i++)
            {
                SendResult sent = sender.SendTo(payloads[i], new IPEndPoint(group, port), TimeSpan.FromSeconds(5));
                Assert.True(sent.Status == SendStatus.Sent, $"send {i}: {sent}");
                listener.WaitForOutputLines(i + 1); // in lock step: no datagram lost to a full receive buffer
            }
        }

        Assert.True(listener.WaitForExit() == 0, listener.Describe());
        IReadOnlyList<byte[]> lines = listener.OutputBytes;
        Assert.Equal(payloads.Count, lines.Count);
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        for (int i = 0; i < payloads.Count; i++)
        {
            string what = $"payload {i} ({Convert.ToHexStringLower(payloads[i])}), line {Convert.ToHexStringLower(lines[i])}";
            string line;
            try
            {
                line = strict.GetString(lines[i]);
            }
            catch (DecoderFallbackException)
            {
                Assert.Fail($"invalid UTF-8 written raw: {what}");
                throw;
            }
            foreach (Rune r in line.EnumerateRunes())
            {
                Assert.False(ActsOnTerminal(r), $"raw U+{r.Value:X4} ({Rune.GetUnicodeCategory(r)}): {what}");
            }
            if (format == "text")
            {
                Match m = ParseTextLine(line);
                Assert.Equal(Str(payloads[i].Length), m.Groups["len"].Value);
                Assert.True(payloads[i].AsSpan().SequenceEqual(Unescape(m.Groups["payload"].Value)), $"does not decode back: {what}");
            }
            else
            {
                using JsonDocument doc = JsonDocument.Parse(line);
                JsonElement o = doc.RootElement;
                Assert.Equal(payloads[i].Length, o.GetProperty("length").GetInt32());
                Assert.Equal(Convert.ToHexStringLower(payloads[i]), o.GetProperty("hex").GetString());
                Assert.True(Encoding.UTF8.GetString(payloads[i]) == o.GetProperty("text").GetString(), $"text differs: {what}");
            }
        }
    }

    /// <summary>A code point a terminal acts on, or one Unicode has not assigned yet: never printed raw.</summary>
    private static bool ActsOnTerminal(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.OtherNotAssigned;

    private static List<byte[]> HostilePayloads()
    {
        var payloads = new List<byte[]> { Array.Empty<byte>() };
        static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
        static byte[] Around(params byte[] middle) => [.. "a"u8, .. middle, .. "b"u8];

        // Every C0 control and DEL, as bytes; every C1 control, as code points.
        for (int c = 0; c < 0x20; c++) payloads.Add(Around((byte)c));
        payloads.Add(Around(0x7F));
        for (int c = 0x80; c <= 0x9F; c++) payloads.Add(Around(Utf8(((char)c).ToString())));
        // Every format character (Cf, every plane), the separators, an unassigned code point and noncharacters.
        var special = new List<Rune>();
        for (int c = 0; c <= 0x10FFFF; c++)
        {
            if (Rune.IsValid(c) && Rune.GetUnicodeCategory(new Rune(c)) == UnicodeCategory.Format) special.Add(new Rune(c));
        }
        special.AddRange([new Rune(0x2028), new Rune(0x2029), new Rune(0x0378), new Rune(0xFFFF), new Rune(0x10FFFF)]);
        foreach (Rune[] chunk in special.Chunk(16)) payloads.Add(Utf8("x" + string.Join("y", chunk.Select(r => r.ToString())) + "z"));
        foreach (int c in new[] { 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C })
        {
            payloads.Add(Utf8($"user{char.ConvertFromUtf32(c)}gnp.exe"));
        }
        // Backslashes that look like escapes, and the 8-bit CSI.
        foreach (string typed in new[] { @"\x1b[31mred", @"\\", @"\", @"end\", @"\u{202e}", @"\n\r\t", @"\\x41" }) payloads.Add(Utf8(typed));
        payloads.Add([0x9B, .. "31mred"u8]);
        // Every byte that is not valid on its own, and the classic invalid sequences.
        for (int b = 0x80; b <= 0xFF; b++) payloads.Add(Around((byte)b));
        byte[][] invalid =
        [
            [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x80], [0xE2, 0x80, 0x41], [0xF0, 0x9F, 0x98], [0xC2], [0xC2, 0xC2, 0x9B],
        ];
        foreach (byte[] sequence in invalid)
        {
            payloads.Add(sequence);
            payloads.Add(Around(sequence));
        }

        // Random mixes of all of the above with plain text, random code points and random bytes.
        var random = new Random(12);
        byte[][] pieces = [.. payloads.Where(p => p.Length > 0), "plain text "u8.ToArray(), Utf8("héllo wörld 你好 😀 ")];
        for (int n = 0; n < 150; n++)
        {
            var payload = new List<byte>();
            for (int parts = random.Next(1, 40); parts > 0; parts--)
            {
                int c = random.Next(0x110000);
                switch (random.Next(4))
                {
                    case 0: payload.AddRange(pieces[random.Next(pieces.Length)]); break;
                    case 1: payload.Add((byte)random.Next(256)); break;
                    case 2 when Rune.IsValid(c): payload.AddRange(Utf8(new Rune(c).ToString())); break;
                    default: payload.Add((byte)random.Next(0x20, 0x7F)); break;
                }
            }
            payloads.Add([.. payload]);
        }
        return payloads;
    }

    /// <summary>The README's text escapes decoded back to bytes: \\, \t, \n, \r, \xHH (a byte), \u{H...} (a code point, as UTF-8).</summary>
    private static byte[] Unescape(string text)
    {
        var bytes = new List<byte>();
        for (int i = 0; i < text.Length;)
        {
            if (text[i] != '\\')
            {
                Assert.True(Rune.DecodeFromUtf16(text.AsSpan(i), out Rune r, out int used) == OperationStatus.Done, $"unpaired surrogate at {i}");
                bytes.AddRange(Encoding.UTF8.GetBytes(r.ToString()));
                i += used;
                continue;
            }
            Assert.True(i + 1 < text.Length, "a backslash ends the line");
            char kind = text[i + 1];
            i += 2;
            switch (kind)
            {
                case '\\': bytes.Add((byte)'\\'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case 'n': bytes.Add((byte)'\n'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 'x':
                    bytes.Add(Convert.FromHexString(text.AsSpan(i, 2))[0]);
                    i += 2;
                    break;
                case 'u':
                    Assert.Equal('{', text[i]);
                    int close = text.IndexOf('}', i);
                    Assert.True(close > i + 1 && close - i - 1 <= 6, $"bad \\u{{...}} at {i}");
                    int value = int.Parse(text.AsSpan(i + 1, close - i - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                    bytes.AddRange(Encoding.UTF8.GetBytes(new Rune(value).ToString()));
                    i = close + 1;
                    break;
                default:
                    Assert.Fail($"unknown escape \\{kind}");
                    break;
            }
        }
        return [.. bytes];
    }

    [Fact]
    public void Listen_timeout_before_count_exits_1_and_says_so()
    {
        DgramProcess listener = Dgram("listen", LabFamily.V4.NewGroup().ToString(), "--port", Str(LabNet.NextPort()), "--iface", Rx,
            "--count", "2", "--timeout", "0.3");
        Assert.Equal(1, listener.WaitForExit());
        Assert.Empty(listener.Output);
        Assert.Contains(listener.Errors, l => l.StartsWith("timeout after 0.3 s: 0 of 2", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Info_lists_a_membership_and_its_source_filter(string family)
    {
        LabFamily f = Family(family);
        IPAddress group = f.NewGroup(), ssm = f.NewSsmGroup(), source = f.Tx0Sources[0];
        int rxIndex = LabNet.Index(Rx);
        string inet = f.IsV6 ? "inet6" : "inet";
        using (DatagramSocket socket = DatagramSocket.Create(f.Family))
        {
            socket.Bind(new IPEndPoint(f.Any, LabNet.NextPort()));
            socket.JoinGroup(group, Rx);
            socket.JoinSourceGroup(ssm, source, Rx);

            DgramProcess info = Dgram("info", "--iface", Rx);
            Assert.True(info.WaitForExit() == 0, info.Describe());
            IReadOnlyList<string> lines = info.Output;
            Assert.Equal($"{rxIndex}: {Rx}", lines[0]);
            Assert.DoesNotContain(lines.Skip(1), l => !l.StartsWith(' ')); // one interface only

            int groupLine = IndexOf(lines, l => Tokens(l) is [var kind, var g, "users", _] && kind == inet && g == group.ToString());
            Assert.True(groupLine > 0, $"no line for {group}:\n{string.Join('\n', lines)}");
            int ssmLine = IndexOf(lines, l => Tokens(l) is [var kind, var g, "users", _] && kind == inet && g == ssm.ToString());
            Assert.True(ssmLine > 0, $"no line for {ssm}:\n{string.Join('\n', lines)}");
            Assert.Equal(["source", source.ToString(), "include", "1", "exclude", "0"], Tokens(lines[ssmLine + 1]));

            DgramProcess all = Dgram("info");
            Assert.True(all.WaitForExit() == 0, all.Describe());
            Assert.Contains($"{rxIndex}: {Rx}", all.Output);
            Assert.Contains($"{LabNet.Index(LabNet.Rx1)}: {LabNet.Rx1}", all.Output);
        }

        // Closed: the kernel dropped the memberships, and info reads the kernel.
        DgramProcess after = Dgram("info", "--iface", Rx);
        Assert.True(after.WaitForExit() == 0, after.Describe());
        Assert.DoesNotContain(after.Output, l => Tokens(l) is [_, var g, ..] && (g == group.ToString() || g == ssm.ToString()));
    }

    [Fact]
    public void Send_reads_the_payload_from_stdin_and_applies_ttl()
    {
        LabFamily f = LabFamily.V4;
        IPAddress group = f.NewGroup();
        using DatagramSocket receiver = Receiver(f, group, out int port);

        DgramProcess sender = DgramWithStdin(Encoding.UTF8.GetBytes("from stdin\n"),
            "send", group.ToString(), "--port", Str(port), "--iface", Tx, "--source", f.Tx0Sources[1].ToString(), "--ttl", "3", "-");
        Assert.True(sender.WaitForExit() == 0, sender.Describe());

        (string text, IPEndPoint from, ReceiveResult r) = Next(receiver);
        Assert.Equal("from stdin\n", text);
        Assert.Equal(f.Tx0Sources[1], from.Address);
        Assert.Equal(3, r.HopLimit); // the veth does not decrement it
        Assert.Equal(LabNet.Index(Rx), r.InterfaceIndex);
    }

    [Fact]
    public void Send_reads_the_payload_from_a_file_and_numbers_copies()
    {
        LabFamily f = LabFamily.V6;
        IPAddress group = f.NewGroup();
        using DatagramSocket receiver = Receiver(f, group, out int port);
        string path = Path.Combine(Path.GetTempPath(), $"dgram-cli-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, [.. "file {n} "u8, 0, 1, 255]);
        try
        {
            DgramProcess sender = Dgram("send", group.ToString(), "--port", Str(port), "--iface", Tx, "--source", f.Tx0Sources[0].ToString(),
                "--file", path, "--count", "3", "--rate", "100");
            Assert.True(sender.WaitForExit() == 0, sender.Describe());
            Assert.Contains(sender.Errors, l => l.StartsWith("sent 3 datagram(s)", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
        for (int n = 1; n <= 3; n++)
        {
            byte[] buffer = new byte[256];
            ReceiveResult r = receiver.ReceiveFrom(buffer, out EndPoint? from, TimeSpan.FromSeconds(5));
            Assert.Equal(ReceiveStatus.Received, r.Status);
            Assert.Equal([.. Encoding.ASCII.GetBytes($"file {n} "), 0, 1, 255], buffer[..r.BytesReceived]);
            Assert.Equal(f.Tx0Sources[0], ((IPEndPoint)from!).Address);
        }
    }

    [Theory]
    [InlineData("malformed address \"239.255.1.300\"", "listen", "239.255.1.300", "--port", "{port}", "--iface", "lab0a")]
    [InlineData("unknown interface \"nosuch0\"", "listen", "239.255.77.1", "--port", "{port}", "--iface", "nosuch0")]
    [InlineData("family mismatch", "listen", "232.1.77.1", "--port", "{port}", "--iface", "lab0a", "--source", "fd00:d9a::2")]
    [InlineData("family mismatch", "listen", "ff15::d9a:7701", "--port", "{port}", "--iface", "lab0a", "--block", "198.51.100.2")]
    [InlineData("not a multicast address", "listen", "198.51.100.1", "--port", "{port}", "--iface", "lab0a")]
    [InlineData("not a multicast address", "listen", "203.0.113.77", "--port", "{port}", "--iface", "lab0a")] // not the host's: refused before the bind
    [InlineData("not a multicast address", "listen", "fd00:d9a:77::77", "--port", "{port}", "--iface", "lab0a")]
    [InlineData("--port", "listen", "239.255.77.2", "--iface", "lab0a")]
    [InlineData("missing payload", "send", "239.255.77.3", "--port", "{port}", "--iface", "lab0b")]
    [InlineData("malformed address \"not-an-address\"", "send", "not-an-address", "--port", "{port}", "x")]
    [InlineData("unknown interface \"nosuch0\"", "send", "239.255.77.4", "--port", "{port}", "--iface", "nosuch0", "x")]
    [InlineData("family mismatch", "send", "239.255.77.5", "--port", "{port}", "--source", "fd00:d9a::2", "x")]
    [InlineData("not a unicast address", "send", "239.255.77.7", "--port", "{port}", "--iface", "lab0b", "--source", "239.255.77.8", "x")]
    [InlineData("out of range", "send", "239.255.77.6", "--port", "{port}", "--iface", "lab0b", "--ttl", "300", "x")]
    [InlineData("unknown interface \"nosuch0\"", "info", "--iface", "nosuch0")]
    public void Bad_input_exits_2_with_one_line(string expected, params string[] args)
    {
        string port = Str(LabNet.NextPort());
        DgramProcess dgram = Dgram(args.Select(a => a == "{port}" ? port : a).ToArray());
        Assert.True(dgram.WaitForExit() == 2, dgram.Describe());
        Assert.Empty(dgram.Output);
        string line = Assert.Single(dgram.Errors);
        Assert.StartsWith("dgram: ", line);
        Assert.Contains(expected, line);
    }

    private static DatagramSocket Receiver(LabFamily f, IPAddress group, out int port,
        ReceiveMetadata metadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit)
    {
        var s = DatagramSocket.Create(f.Family, new DatagramSocketOptions { ReceiveMetadata = metadata });
        try
        {
            port = LabNet.NextPort();
            s.Bind(new IPEndPoint(f.Any, port));
            s.JoinGroup(group, Rx);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private static (string Text, IPEndPoint Source, ReceiveResult Result) Next(DatagramSocket s)
    {
        byte[] buffer = new byte[2048];
        ReceiveResult r = s.ReceiveFrom(buffer, out EndPoint? source, TimeSpan.FromSeconds(5));
        Assert.True(r.Status == ReceiveStatus.Received, $"expected a datagram, got {r}");
        return (Encoding.UTF8.GetString(buffer, 0, r.BytesReceived), (IPEndPoint)source!, r);
    }

    private static string Str(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string[] Tokens(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static int IndexOf(IReadOnlyList<string> lines, Func<string, bool> match)
    {
        for (int i = 0; i < lines.Count; i++)
        {
            if (match(lines[i])) return i;
        }
        return -1;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}

/// <summary>
/// One run of <c>dotnet dgram.dll ARGS</c> with its stdout and stderr collected line by line. Every
/// wait is bounded; <see cref="Dispose"/> kills the process if it is still running.
/// </summary>
internal sealed partial class DgramProcess : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly Process _process;
    private readonly List<byte[]> _output = [];
    private readonly List<string> _errors = [];
    private readonly Task _stdoutDone;
    private bool _stdoutClosed;
    private readonly TaskCompletionSource<bool> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _commandLine;

    private DgramProcess(byte[]? stdin, string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "dgram.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project references src/Dgram.Cli");
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _commandLine = "dgram " + string.Join(' ', args);
        _process = new Process { StartInfo = psi };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _listening.TrySetResult(false); // stderr closed: the process ended without listening
                return;
            }
            lock (_errors) _errors.Add(e.Data);
            lock (_output) Monitor.PulseAll(_output); // wakes TryWaitUntil
            if (e.Data.StartsWith("listening on", StringComparison.Ordinal)) _listening.TrySetResult(true);
        };
        _process.Start();
        _stdoutDone = Task.Run(() => ReadLines(_process.StandardOutput.BaseStream));
        _process.BeginErrorReadLine();
        if (stdin is not null) _process.StandardInput.BaseStream.Write(stdin);
        _process.StandardInput.Close();
    }

    public static DgramProcess Start(byte[]? stdin, string[] args) => new(stdin, args);

    /// <summary>Sends <paramref name="signal"/> (15 SIGTERM, 19 SIGSTOP, 18 SIGCONT on Linux x86-64 and arm64) to the process.</summary>
    public void Signal(int signal) => Assert.True(kill(_process.Id, signal) == 0, $"kill({_process.Id}, {signal}) failed: {Describe()}");

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>Waits up to <paramref name="bound"/> until <paramref name="condition"/> holds, re-checked on every new stdout or stderr line.</summary>
    public bool TryWaitUntil(Func<DgramProcess, bool> condition, TimeSpan bound)
    {
        long deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        lock (_output)
        {
            while (!condition(this))
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0) return false;
                Monitor.Wait(_output, (int)left);
            }
            return true;
        }
    }

    /// <summary>stdout lines, decoded as UTF-8 (invalid bytes become U+FFFD; <see cref="OutputBytes"/> has them).</summary>
    public IReadOnlyList<string> Output => OutputBytes.Select(line => Encoding.UTF8.GetString(line)).ToArray();

    /// <summary>stdout lines as the bytes written, split on '\n' only (a raw '\r' stays in its line).</summary>
    public IReadOnlyList<byte[]> OutputBytes
    {
        get { lock (_output) return _output.ToArray(); }
    }

    /// <summary>Waits (bounded) until stdout has at least <paramref name="count"/> lines.</summary>
    public void WaitForOutputLines(int count)
    {
        long deadline = Environment.TickCount64 + (long)Bound.TotalMilliseconds;
        lock (_output)
        {
            while (_output.Count < count && !_stdoutClosed)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_output, (int)left)) break;
            }
            if (_output.Count >= count) return;
        }
        Assert.Fail($"{count} stdout line(s) expected within {Bound.TotalSeconds} s: {Describe()}");
    }

    private void ReadLines(Stream stdout)
    {
        var line = new MemoryStream();
        byte[] buffer = new byte[65536];
        int n;
        while ((n = stdout.Read(buffer)) > 0)
        {
            ReadOnlySpan<byte> rest = buffer.AsSpan(0, n);
            for (int end; (end = rest.IndexOf((byte)'\n')) >= 0; rest = rest[(end + 1)..])
            {
                line.Write(rest[..end]);
                Add(line.ToArray());
                line.SetLength(0);
            }
            line.Write(rest);
        }
        if (line.Length > 0) Add(line.ToArray());
        lock (_output)
        {
            _stdoutClosed = true;
            Monitor.PulseAll(_output);
        }

        void Add(byte[] bytes)
        {
            lock (_output)
            {
                _output.Add(bytes);
                Monitor.PulseAll(_output);
            }
        }
    }

    public IReadOnlyList<string> Errors
    {
        get { lock (_errors) return _errors.ToArray(); }
    }

    /// <summary>Waits (bounded) for the "listening on" line: the group is joined from then on.</summary>
    public void WaitForListening()
    {
        Assert.True(_listening.Task.Wait(Bound), $"no 'listening on' within {Bound.TotalSeconds} s: {Describe()}");
        Assert.True(_listening.Task.Result, $"exited before listening: {Describe()}");
    }

    /// <summary>Sends SIGINT, as Ctrl+C would (Process.Kill sends only SIGKILL).</summary>
    public void Interrupt()
    {
        using Process kill = Process.Start("kill", ["-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>Waits (bounded) for the process to exit and its output to drain; returns the exit code.</summary>
    public int WaitForExit()
    {
        if (!_process.WaitForExit(Bound))
        {
            Kill();
            Assert.Fail($"still running after {Bound.TotalSeconds} s: {Describe()}");
        }
        using var drained = new CancellationTokenSource(Bound);
        _process.WaitForExitAsync(drained.Token).Wait(Bound); // stderr reaches EOF
        _stdoutDone.Wait(Bound);
        return _process.ExitCode;
    }

    public string Describe() =>
        $"{_commandLine} (exit {(_process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")})\n" +
        $"stdout:\n{string.Join('\n', Output)}\nstderr:\n{string.Join('\n', Errors)}";

    private void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        Kill();
        _stdoutDone.Wait(Bound); // the reader ends at EOF once the process is gone
        _process.Dispose();
    }

    /// <summary>The dotnet host running this test (so the tool runs on the same runtime).</summary>
    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }
}
