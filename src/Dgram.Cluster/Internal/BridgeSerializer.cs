using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using Akka.Actor;
using Akka.Serialization;

namespace Dgram.Cluster.Internal;

/// <summary>
/// The envelope's wire format (not Akka's default JSON): a short header and the record body as it is, so an
/// envelope of 64 datagrams costs one copy into the frame. Deserialization checks every length: a malformed
/// envelope is refused with a <see cref="SerializationException"/>, which Akka.Remote logs and drops.
/// </summary>
internal sealed class BridgeSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Akka reserves identifiers below 100.</summary>
    public const int Id = 1616;
    private const byte Version = 1;
    private const string BatchManifest = "B", AckManifest = "A";

    public override int Identifier => Id;

    public override string Manifest(object o) => o switch
    {
        BridgeBatch => BatchManifest,
        BridgeAck => AckManifest,
        _ => throw new ArgumentException($"{nameof(BridgeSerializer)} cannot serialize {o.GetType()}", nameof(o)),
    };

    public override byte[] ToBinary(object obj)
    {
        switch (obj)
        {
            case BridgeBatch b:
            {
                var w = new Writer(1 + Text(b.Group) + Text(b.Site) + 8 + 8 + 8 + 4 + 4 + b.Body.Length);
                w.Byte(Version);
                w.String(b.Group);
                w.String(b.Site);
                w.Long(b.Origin);
                w.Long(b.FirstSequence);
                w.Long(b.Confirmed);
                w.Int(b.Count);
                w.Int(b.Body.Length);
                w.Bytes(b.Body);
                return w.Done();
            }
            case BridgeAck a:
            {
                var w = new Writer(1 + Text(a.Site) + 8 + 8);
                w.Byte(Version);
                w.String(a.Site);
                w.Long(a.Origin);
                w.Long(a.Sequence);
                return w.Done();
            }
            default:
                throw new ArgumentException($"{nameof(BridgeSerializer)} cannot serialize {obj.GetType()}", nameof(obj));
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new Reader(bytes);
        if (r.Byte() != Version) throw new SerializationException($"bridge envelope: unknown version {bytes[0]}");
        switch (manifest)
        {
            case BatchManifest:
            {
                string group = r.String(), site = r.String();
                long origin = r.Long(), first = r.Long(), confirmed = r.Long();
                int count = r.Int(), length = r.Int();
                if (count < 1 || first < 0 || confirmed < -1 || confirmed >= first)
                {
                    throw new SerializationException($"bridge envelope: count {count}, first sequence {first}, confirmed {confirmed}");
                }
                byte[] body = r.Bytes(length);
                r.End();
                if (BridgeBatch.Check(body, count) is { } problem) throw new SerializationException($"bridge envelope from {site} ({group}): {problem}");
                return new BridgeBatch(group, site, origin, first, count, body, confirmed);
            }
            case AckManifest:
            {
                var ack = new BridgeAck(r.String(), r.Long(), r.Long());
                r.End();
                return ack;
            }
            default:
                throw new SerializationException($"bridge envelope: unknown manifest '{manifest}'");
        }
    }

    private static int Text(string s) => 2 + Encoding.UTF8.GetByteCount(s);

    private ref struct Writer(int size)
    {
        private readonly byte[] _buffer = new byte[size];
        private int _at;

        public void Byte(byte b) => _buffer[_at++] = b;
        public void Int(int v) { BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_at), v); _at += 4; }
        public void Long(long v) { BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_at), v); _at += 8; }
        public void Bytes(ReadOnlySpan<byte> b) { b.CopyTo(_buffer.AsSpan(_at)); _at += b.Length; }

        public void String(string s)
        {
            int n = Encoding.UTF8.GetBytes(s, _buffer.AsSpan(_at + 2));
            BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_at), (ushort)n);
            _at += 2 + n;
        }

        public readonly byte[] Done() => _at == _buffer.Length ? _buffer : throw new InvalidOperationException("bridge envelope: size mismatch");
    }

    private ref struct Reader(byte[] bytes)
    {
        private int _at;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > bytes.Length - _at) throw new SerializationException($"bridge envelope: {n} bytes wanted at {_at} of {bytes.Length}");
            var s = bytes.AsSpan(_at, n);
            _at += n;
            return s;
        }

        public byte Byte() => Take(1)[0];
        public int Int() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
        public long Long() => BinaryPrimitives.ReadInt64BigEndian(Take(8));
        public byte[] Bytes(int n) => Take(n).ToArray();

        public string String()
        {
            int n = BinaryPrimitives.ReadUInt16BigEndian(Take(2));
            if (n > 64) throw new SerializationException($"bridge envelope: a name of {n} bytes");
            string name = Encoding.UTF8.GetString(Take(n));
            // Names go into logs and lookups: only what a setting could name (no control characters, no line breaks).
            return BridgeSettings.IsName(name) ? name : throw new SerializationException("bridge envelope: a site or group name that is not a name");
        }

        public readonly void End()
        {
            if (_at != bytes.Length) throw new SerializationException($"bridge envelope: {bytes.Length - _at} bytes after the end");
        }
    }
}
