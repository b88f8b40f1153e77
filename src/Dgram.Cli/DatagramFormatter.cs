using System.Globalization;
using System.Net;
using System.Text;
using Dgram.Actors.Sockets;

namespace Dgram.Cli;

/// <summary>
/// Writes one line per datagram (text, hex or json) straight into the output buffer. Nothing is allocated
/// per datagram: what depends only on the sender, destination and arrival interface (addresses as text,
/// the interface name) is built once per such origin and kept in a small cache; the payload is escaped
/// byte by byte into the buffer.
/// </summary>
internal sealed class DatagramFormatter
{
    private const int CachedOrigins = 16;
    private readonly string _format;
    private readonly IPAddress _group;
    private readonly int _port;
    private readonly OutputBuffer _output;
    private readonly Origin?[] _origins = new Origin?[CachedOrigins];
    private int _nextSlot, _lastHit;

    public DatagramFormatter(string format, IPAddress group, int port, OutputBuffer output)
    {
        _format = format;
        _group = group;
        _port = port;
        _output = output;
    }

    /// <summary>Writes the line for datagram <paramref name="index"/> of <paramref name="batch"/>.</summary>
    public void Write(DatagramBatch batch, int index)
    {
        ref readonly ReceiveResult r = ref batch[index];
        Origin origin = OriginOf(batch, index, in r);
        ReadOnlySpan<byte> payload = batch.Payload(index);
        if (_format == "json")
        {
            WriteJson(origin, in r, payload);
            return;
        }
        bool hex = _format == "hex";
        Span<byte> line = _output.GetSpan(origin.TextPrefix.Length + 64 + (hex ? 2 * payload.Length : PayloadText.MaxEscapedLength(payload.Length)));
        int n = Put(origin.TextPrefix, line);
        n += Number(r.DatagramLength, line[n..]);
        n += Put(" bytes"u8, line[n..]);
        if (r.Truncated)
        {
            n += Put(" (truncated to "u8, line[n..]);
            n += Number(r.BytesReceived, line[n..]);
            n += Put(")"u8, line[n..]);
        }
        n += Put(": "u8, line[n..]);
        n += hex ? Hex.Write(payload, line[n..]) : PayloadText.WriteEscaped(payload, line[n..]);
        line[n++] = (byte)'\n';
        _output.Advance(n);
    }

    private void WriteJson(Origin origin, in ReceiveResult r, ReadOnlySpan<byte> payload)
    {
        // The shape Utf8JsonWriter gave this line before (compact, this field order), written directly.
        Span<byte> line = _output.GetSpan(origin.JsonPrefix.Length + 128 + PayloadJson.MaxEscapedLength(payload.Length) + 2 * payload.Length);
        int n = Put("{\"time\":\""u8, line);
        DateTimeOffset.UtcNow.TryFormat(line[n..], out int time, "O", CultureInfo.InvariantCulture);
        n += time;
        n += Put("\""u8, line[n..]);
        n += Put(origin.JsonPrefix, line[n..]);
        n += Number(r.DatagramLength, line[n..]);
        n += Put(r.Truncated ? ",\"truncated\":true,\"text\":\""u8 : ",\"truncated\":false,\"text\":\""u8, line[n..]);
        n += PayloadJson.WriteEscaped(payload, line[n..]);
        n += Put("\",\"hex\":\""u8, line[n..]);
        n += Hex.Write(payload, line[n..]);
        n += Put("\"}\n"u8, line[n..]);
        _output.Advance(n);
    }

    private Origin OriginOf(DatagramBatch batch, int index, in ReceiveResult r)
    {
        ReadOnlySpan<byte> source = batch.SourceAddress(index);
        for (int k = 0; k < CachedOrigins; k++)
        {
            int slot = (_lastHit + k) % CachedOrigins;
            if (_origins[slot] is { } o && o.Matches(source, in r))
            {
                _lastHit = slot;
                return o;
            }
        }
        var endpoint = (IPEndPoint)batch.GetSource(index)!;
        IPAddress? destination = r.GetDestinationAddress();
        string? ifname = r.InterfaceIndex > 0 ? NetworkInterfaceNames.GetName(r.InterfaceIndex) : null;
        var prefix = new List<byte>(Encoding.UTF8.GetBytes($"{endpoint} > {new IPEndPoint(destination ?? _group, _port)} on "));
        // Linux allows almost any byte in an interface name: escaped like the payload.
        prefix.AddRange(ifname is not null ? PayloadText.EscapedUtf8(ifname) : Encoding.UTF8.GetBytes(r.InterfaceIndex > 0 ? "#" + r.InterfaceIndex : "?"));
        prefix.AddRange(", "u8);
        string json = string.Create(CultureInfo.InvariantCulture,
            $",\"source\":\"{endpoint.Address}\",\"sourcePort\":{endpoint.Port},\"destination\":\"{destination ?? _group}\",\"port\":{_port},\"interface\":");
        byte[] jsonPrefix = [.. Encoding.UTF8.GetBytes(json), .. JsonString(ifname), .. Encoding.UTF8.GetBytes($",\"interfaceIndex\":{r.InterfaceIndex},\"length\":")];
        var origin = new Origin(source.ToArray(), destination, r.InterfaceIndex, [.. prefix], jsonPrefix);
        _lastHit = _nextSlot;
        _origins[_nextSlot] = origin;
        _nextSlot = (_nextSlot + 1) % CachedOrigins;
        return origin;
    }

    private static byte[] JsonString(string? text)
    {
        if (text is null) return "null"u8.ToArray();
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        byte[] quoted = new byte[PayloadJson.MaxEscapedLength(utf8.Length) + 2];
        int n = PayloadJson.WriteEscaped(utf8, quoted.AsSpan(1));
        quoted[0] = quoted[n + 1] = (byte)'"';
        return quoted[..(n + 2)];
    }

    private static int Put(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        bytes.CopyTo(destination);
        return bytes.Length;
    }

    private static int Number(int value, Span<byte> destination)
    {
        value.TryFormat(destination, out int written, default, CultureInfo.InvariantCulture);
        return written;
    }

    /// <summary>Where datagrams come from and arrive: the key (raw sockaddr, destination, interface) and its text.</summary>
    private sealed record Origin(byte[] SockAddr, IPAddress? DestinationKey, int InterfaceIndex, byte[] TextPrefix, byte[] JsonPrefix)
    {
        public bool Matches(ReadOnlySpan<byte> source, in ReceiveResult r) =>
            r.InterfaceIndex == InterfaceIndex && source.SequenceEqual(SockAddr)
            && (DestinationKey is null ? !r.HasDestination : r.DestinationEquals(DestinationKey));
    }
}
