using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
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
    private readonly Utf8JsonWriter? _json;
    private readonly char[] _chars = [];
    private readonly byte[] _hex = [];

    public DatagramFormatter(string format, IPAddress group, int port, OutputBuffer output)
    {
        _format = format;
        _group = group;
        _port = port;
        _output = output;
        if (format == "json")
        {
            _json = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = PayloadJsonEncoder.Instance });
            _chars = new char[65536]; // UTF-8 never decodes to more UTF-16 units than it has bytes
            _hex = new byte[2 * 65536];
        }
    }

    /// <summary>Writes the line for datagram <paramref name="index"/> of <paramref name="batch"/>.</summary>
    public void Write(DatagramBatch batch, int index)
    {
        ref readonly ReceiveResult r = ref batch[index];
        Origin origin = OriginOf(batch, index, in r);
        ReadOnlySpan<byte> payload = batch.Payload(index);
        if (_json is not null)
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
        Utf8JsonWriter w = _json!;
        w.Reset(_output);
        Span<char> time = stackalloc char[40];
        DateTimeOffset.UtcNow.TryFormat(time, out int timeLength, "O", CultureInfo.InvariantCulture);
        w.WriteStartObject();
        w.WriteString("time"u8, time[..timeLength]);
        w.WriteString("source"u8, origin.SourceAddress);
        w.WriteNumber("sourcePort"u8, origin.SourcePort);
        w.WriteString("destination"u8, origin.Destination);
        w.WriteNumber("port"u8, _port);
        if (origin.InterfaceName is null) w.WriteNull("interface"u8);
        else w.WriteString("interface"u8, origin.InterfaceName);
        w.WriteNumber("interfaceIndex"u8, r.InterfaceIndex);
        w.WriteNumber("length"u8, r.DatagramLength);
        w.WriteBoolean("truncated"u8, r.Truncated);
        // Invalid UTF-8 becomes U+FFFD here, as Encoding.UTF8.GetString does; "hex" keeps the exact bytes.
        w.WriteString("text"u8, _chars.AsSpan(0, Encoding.UTF8.GetChars(payload, _chars)));
        w.WriteString("hex"u8, _hex.AsSpan(0, Hex.Write(payload, _hex)));
        w.WriteEndObject();
        w.Flush();
        _output.GetSpan(1)[0] = (byte)'\n';
        _output.Advance(1);
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
        var origin = new Origin(source.ToArray(), destination, r.InterfaceIndex, [.. prefix],
            endpoint.Address.ToString(), endpoint.Port, (destination ?? _group).ToString(), ifname);
        _lastHit = _nextSlot;
        _origins[_nextSlot] = origin;
        _nextSlot = (_nextSlot + 1) % CachedOrigins;
        return origin;
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
    private sealed record Origin(byte[] SockAddr, IPAddress? DestinationKey, int InterfaceIndex, byte[] TextPrefix,
        string SourceAddress, int SourcePort, string Destination, string? InterfaceName)
    {
        public bool Matches(ReadOnlySpan<byte> source, in ReceiveResult r) =>
            r.InterfaceIndex == InterfaceIndex && source.SequenceEqual(SockAddr)
            && (DestinationKey is null ? !r.HasDestination : r.DestinationEquals(DestinationKey));
    }
}
