using System.Diagnostics;
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
    [InlineData("--port", "listen", "239.255.77.2", "--iface", "lab0a")]
    [InlineData("missing payload", "send", "239.255.77.3", "--port", "{port}", "--iface", "lab0b")]
    [InlineData("malformed address \"not-an-address\"", "send", "not-an-address", "--port", "{port}", "x")]
    [InlineData("unknown interface \"nosuch0\"", "send", "239.255.77.4", "--port", "{port}", "--iface", "nosuch0", "x")]
    [InlineData("family mismatch", "send", "239.255.77.5", "--port", "{port}", "--source", "fd00:d9a::2", "x")]
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

    private static DatagramSocket Receiver(LabFamily f, IPAddress group, out int port)
    {
        var s = DatagramSocket.Create(f.Family, new DatagramSocketOptions { ReceiveMetadata = ReceiveMetadata.PacketInfo | ReceiveMetadata.HopLimit });
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
internal sealed class DgramProcess : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly Process _process;
    private readonly List<string> _output = [], _errors = [];
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
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(dll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _commandLine = "dgram " + string.Join(' ', args);
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_output) _output.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _listening.TrySetResult(false); // stderr closed: the process ended without listening
                return;
            }
            lock (_errors) _errors.Add(e.Data);
            if (e.Data.StartsWith("listening on", StringComparison.Ordinal)) _listening.TrySetResult(true);
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (stdin is not null) _process.StandardInput.BaseStream.Write(stdin);
        _process.StandardInput.Close();
    }

    public static DgramProcess Start(byte[]? stdin, string[] args) => new(stdin, args);

    public IReadOnlyList<string> Output
    {
        get { lock (_output) return _output.ToArray(); }
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

    /// <summary>Waits (bounded) for the process to exit and its output to drain; returns the exit code.</summary>
    public int WaitForExit()
    {
        if (!_process.WaitForExit(Bound))
        {
            Kill();
            Assert.Fail($"still running after {Bound.TotalSeconds} s: {Describe()}");
        }
        using var drained = new CancellationTokenSource(Bound);
        _process.WaitForExitAsync(drained.Token).Wait(Bound); // the redirected streams reach EOF
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
