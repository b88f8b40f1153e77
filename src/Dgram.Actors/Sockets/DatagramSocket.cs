using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Dgram.Actors.Sockets.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dgram.Actors.Sockets;

/// <summary>
/// A Linux datagram socket (UDP over IPv4 or IPv6, or a Unix datagram socket) with every operation of
/// lua-net's <c>net.dgram.Socket</c>, done with the kernel's own options and errnos.
/// </summary>
/// <remarks>
/// <para>Seed convention: a getter only reads; a setter returns the value in force before it.</para>
/// <para>Option calls and membership changes may come from any thread (each get-then-set pair is
/// atomic); the actor layer serialises them in mailbox order. Receive and send are no-throw: they
/// return <see cref="ReceiveResult"/> / <see cref="SendResult"/> values and allocate nothing.
/// Invalid input throws <see cref="DatagramSocketException"/> before the kernel is called, so the
/// socket is left as it was.</para>
/// <para>The file is split by concern: this file (lifecycle, bind, buffers, TOS), <c>.Multicast</c>,
/// <c>.SourceFilters</c>, <c>.Receive</c>, <c>.Send</c>.</para>
/// </remarks>
public sealed partial class DatagramSocket : IDisposable
{
    private readonly SafeFdHandle _handle;
    private readonly DatagramSocketOptions _options;
    private readonly ILogger _logger;
    private readonly object _optionLock = new();
    /// <summary>The largest control buffer a receive takes (it lives on the stack).</summary>
    internal const int MaxControlBufferSize = 4096;
    private int _closed;

    private DatagramSocket(AddressFamily family, int fd, DatagramSocketOptions options)
    {
        AddressFamily = family;
        _handle = new SafeFdHandle(fd);
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
    }

    /// <summary>The socket's family: InterNetwork, InterNetworkV6 or Unix.</summary>
    public AddressFamily AddressFamily { get; }

    /// <summary>Counters of what this socket received, sent, truncated and dropped.</summary>
    public SocketStatistics Statistics { get; } = new();

    /// <summary>
    /// The file descriptor, for interop and reading options back (reference-counted: use DangerousAddRef
    /// while you hold it). Options changed through it bypass this socket's records (the IPv4 multicast
    /// interface, memberships), so change them through the socket's methods.
    /// </summary>
    public SafeHandle SafeHandle => _handle;

    /// <summary>Whether interface <paramref name="name"/> is up (null: absent), as seen from this socket's namespace.</summary>
    internal bool? InterfaceIsUp(string name) => NetworkInterfaceNames.IsUp(_handle, name);

    /// <summary>True when a datagram waits in the receive queue (FIONREAD); false when none does or the socket is closed.</summary>
    internal unsafe bool HasQueued()
    {
        if (!TryEnter(out int fd)) return false;
        try
        {
            int bytes = 0;
            // FIONREAD on a UDP socket gives the first datagram's length: 0 for an empty queue (or a 0-byte datagram, rare enough to leave).
            return Libc.Ioctl(fd, Const.FIONREAD, &bytes) == 0 && bytes > 0;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>True once <see cref="Dispose"/> ran.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    private bool IsIPv6 => AddressFamily == AddressFamily.InterNetworkV6;
    private int IpLevel => IsIPv6 ? Const.IPPROTO_IPV6 : Const.IPPROTO_IP;

    /// <summary>Creates a datagram socket.</summary>
    /// <param name="family">InterNetwork (UDP/IPv4), InterNetworkV6 (UDP/IPv6, IPv6-only unless
    /// <see cref="DatagramSocketOptions.DualMode"/>) or Unix (datagram).</param>
    /// <param name="options">Creation settings; null for defaults.</param>
    /// <exception cref="PlatformNotSupportedException">Not on Linux: the library is Linux-only.</exception>
    public static DatagramSocket Create(AddressFamily family, DatagramSocketOptions? options = null)
    {
        LinuxOnly.Require("DatagramSocket.Create");
        int af = family switch
        {
            AddressFamily.InterNetwork => Const.AF_INET,
            AddressFamily.InterNetworkV6 => Const.AF_INET6,
            AddressFamily.Unix => Const.AF_UNIX,
            _ => throw new DatagramSocketException(nameof(Create), DatagramSocketError.NotSupportedForFamily, Errno.EAFNOSUPPORT, family.ToString(),
                "a datagram socket is InterNetwork, InterNetworkV6 or Unix"),
        };
        options ??= DatagramSocketOptions.Default;
        if (options.ControlBufferSize is < 0 or > MaxControlBufferSize)
        {
            throw new DatagramSocketException(nameof(Create), DatagramSocketError.OutOfRange, 0, options.ControlBufferSize.ToString(),
                $"ControlBufferSize is 0 (automatic) to {MaxControlBufferSize} bytes");
        }
        int fd = Libc.Socket(af, Const.SOCK_DGRAM | Const.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new DatagramSocketException(nameof(Create), DatagramSocketError.Kernel, Marshal.GetLastPInvokeError(), family.ToString());
        }
        var socket = new DatagramSocket(family, fd, options);
        try
        {
            socket.Configure();
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    private void Configure()
    {
        if (IsIPv6)
        {
            SetInt("Create", Const.IPPROTO_IPV6, Const.IPV6_V6ONLY, _options.DualMode ? 0 : 1, "IPV6_V6ONLY");
        }
        if (AddressFamily != AddressFamily.Unix)
        {
            // Group isolation: without this Linux hands a wildcard-bound socket every group any socket joined.
            SetInt("Create", IpLevel, IsIPv6 ? Const.IPV6_MULTICAST_ALL : Const.IP_MULTICAST_ALL,
                _options.KernelMulticastAll ? 1 : 0, "MULTICAST_ALL");
        }
        var metadata = _options.ReceiveMetadata;
        if (_options.FilterByJoinedInterface) metadata |= ReceiveMetadata.PacketInfo;
        SetReceiveMetadata(metadata);
    }

    /// <summary>Binds to a local endpoint (an <see cref="IPEndPoint"/>, or a <see cref="UnixDomainSocketEndPoint"/>: a path, or an abstract name starting with '\0').</summary>
    /// <param name="localEndPoint">Where to bind. Multicast receivers bind to the group address or the wildcard.</param>
    /// <param name="reuse">Address reuse, set before binding. The default, <see cref="AddressReuse.None"/>, binds the port
    /// exclusively (a second socket on an overlapping address fails EADDRINUSE); <see cref="AddressReuse.ReuseAddress"/> sets
    /// SO_REUSEADDR alone, so sockets that all set it share the port; <see cref="AddressReuse.ReusePort"/> adds SO_REUSEPORT.</param>
    /// <remarks>A Unix path: a directory every user may write without the sticky bit is refused
    /// (<see cref="DatagramSocketError.UnsafePath"/>, EPERM; nothing changed). When the file at the path after the
    /// bind is not the socket file the bind made (ELOOP: a symlink; EPERM: any other file; ENOENT: gone), the bind fails, that
    /// file is left alone and the socket is closed. A dispose racing the bind removes the file whichever comes
    /// second; the bind then fails <see cref="DatagramSocketError.Closed"/>. See <see cref="DatagramSocketOptions.UnixSocketMode"/>.</remarks>
    public unsafe void Bind(EndPoint localEndPoint, AddressReuse reuse = AddressReuse.None)
    {
        const string op = nameof(Bind);
        localEndPoint = ValidateEndPoint(op, localEndPoint);
        string args = reuse == AddressReuse.None ? localEndPoint.ToString()! : $"{localEndPoint}, {reuse}";
        if (reuse.HasFlag(AddressReuse.ReuseAddress)) SetInt(op, Const.SOL_SOCKET, Const.SO_REUSEADDR, 1, args);
        if (reuse.HasFlag(AddressReuse.ReusePort)) SetInt(op, Const.SOL_SOCKET, Const.SO_REUSEPORT, 1, args);
        byte* sa = stackalloc byte[Const.SockAddrStorage];
        int len = SockAddr.Write(new Span<byte>(sa, Const.SockAddrStorage), localEndPoint);
        byte[]? unixPath = AddressFamily == AddressFamily.Unix ? UnixPath(new ReadOnlySpan<byte>(sa, len)) : null;
        int fd = Enter(op, args);
        try
        {
            string? unixDetail = null;
            DatagramSocketError error = DatagramSocketError.Kernel;
            int rc = unixPath is null ? Libc.Bind(fd, sa, (uint)len) : BindUnix(fd, sa, (uint)len, unixPath, out error, out unixDetail);
            if (rc != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // Nothing changed: take back the reuse options set for this bind (unless a Unix bind that
                // failed after making its file closed the socket).
                if (!IsClosed)
                {
                    if (reuse.HasFlag(AddressReuse.ReuseAddress)) SetInt(op, Const.SOL_SOCKET, Const.SO_REUSEADDR, 0, args);
                    if (reuse.HasFlag(AddressReuse.ReusePort)) SetInt(op, Const.SOL_SOCKET, Const.SO_REUSEPORT, 0, args);
                }
                throw new DatagramSocketException(op, error, errno, args, unixDetail);
            }
        }
        finally
        {
            Exit();
        }
        _boundAddress = (localEndPoint as IPEndPoint)?.Address;
    }

    /// <summary>Connects: fixes the default destination and accepts datagrams only from it.</summary>
    public unsafe void Connect(EndPoint remoteEndPoint)
    {
        const string op = nameof(Connect);
        remoteEndPoint = ValidateEndPoint(op, remoteEndPoint);
        byte* sa = stackalloc byte[Const.SockAddrStorage];
        int len = SockAddr.Write(new Span<byte>(sa, Const.SockAddrStorage), remoteEndPoint);
        int fd = Enter(op, remoteEndPoint.ToString());
        try
        {
            if (Libc.Connect(fd, sa, (uint)len) != 0)
            {
                throw new DatagramSocketException(op, DatagramSocketError.Kernel, Marshal.GetLastPInvokeError(), remoteEndPoint.ToString());
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The bound local endpoint as the kernel reports it (getsockname), or null when unbound or unnamed.</summary>
    public unsafe EndPoint? LocalEndPoint => ReadName(nameof(LocalEndPoint), peer: false);

    /// <summary>The connected peer (getpeername), or null when not connected.</summary>
    public unsafe EndPoint? RemoteEndPoint => ReadName(nameof(RemoteEndPoint), peer: true);

    private unsafe EndPoint? ReadName(string op, bool peer)
    {
        byte* sa = stackalloc byte[Const.SockAddrStorage];
        uint len = Const.SockAddrStorage;
        int fd = Enter(op, null);
        try
        {
            int rc = peer ? Libc.GetPeerName(fd, sa, &len) : Libc.GetSockName(fd, sa, &len);
            if (rc != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (peer && errno == Errno.ENOTCONN) return null;
                throw new DatagramSocketException(op, DatagramSocketError.Kernel, errno);
            }
            EndPoint? ep = SockAddr.Read(new ReadOnlySpan<byte>(sa, (int)len));
            return ep is IPEndPoint { Port: 0 } ip && ip.Address.Equals(AnyAddress) ? null : ep;
        }
        finally
        {
            Exit();
        }
    }

    private IPAddress AnyAddress => IsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;

    /// <summary>SO_RCVBUF as the kernel reports it (twice the requested size on Linux).</summary>
    public int GetReceiveBufferSize() => GetInt(nameof(GetReceiveBufferSize), Const.SOL_SOCKET, Const.SO_RCVBUF, null);

    /// <summary>SO_SNDBUF as the kernel reports it (twice the requested size on Linux).</summary>
    public int GetSendBufferSize() => GetInt(nameof(GetSendBufferSize), Const.SOL_SOCKET, Const.SO_SNDBUF, null);

    /// <summary>Sets SO_RCVBUF; returns the previous and the effective size, and whether <c>net.core.rmem_max</c> capped it (logged as a warning).</summary>
    public BufferSizeResult SetReceiveBufferSize(int bytes) => SetBufferSize(nameof(SetReceiveBufferSize), Const.SO_RCVBUF, bytes, "rmem_max");

    /// <summary>Sets SO_SNDBUF; returns the previous and the effective size, and whether <c>net.core.wmem_max</c> capped it (logged as a warning).</summary>
    public BufferSizeResult SetSendBufferSize(int bytes) => SetBufferSize(nameof(SetSendBufferSize), Const.SO_SNDBUF, bytes, "wmem_max");

    private BufferSizeResult SetBufferSize(string op, int name, int bytes, string sysctl)
    {
        if (bytes <= 0 || bytes > int.MaxValue / 2)
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, bytes.ToString(), "a buffer size is 1 to 1073741823 bytes");
        }
        string args = bytes.ToString();
        lock (_optionLock)
        {
            int previous = GetInt(op, Const.SOL_SOCKET, name, args);
            SetInt(op, Const.SOL_SOCKET, name, bytes, args);
            int effective = GetInt(op, Const.SOL_SOCKET, name, args);
            // Linux grants 2 × min(request, net.core.*mem_max) (at least a small floor); less than 2 × request means capped.
            bool capped = effective < 2L * bytes;
            if (capped)
            {
                SocketsLog.BufferCapped(_logger, name == Const.SO_RCVBUF ? "SO_RCVBUF" : "SO_SNDBUF", bytes, effective, sysctl);
            }
            return new BufferSizeResult(previous, bytes, effective, capped);
        }
    }

    /// <summary>Reads the TOS byte (IP_TOS) or IPv6 traffic class (IPV6_TCLASS).</summary>
    public int GetTrafficClass()
    {
        const string op = nameof(GetTrafficClass);
        RequireIp(op);
        return GetInt(op, IpLevel, IsIPv6 ? Const.IPV6_TCLASS : Const.IP_TOS, null);
    }

    /// <summary>Sets the TOS byte (IPv4, 0–255) or traffic class (IPv6, -1–255; -1 restores the default); returns the previous value.</summary>
    public int SetTrafficClass(int value)
    {
        const string op = nameof(SetTrafficClass);
        RequireIp(op);
        RequireRange(op, value, IsIPv6 ? -1 : 0, 255);
        int option = IsIPv6 ? Const.IPV6_TCLASS : Const.IP_TOS;
        string args = value.ToString();
        lock (_optionLock)
        {
            int previous = GetInt(op, IpLevel, option, args);
            SetInt(op, IpLevel, option, value, args);
            return previous;
        }
    }

    /// <summary>
    /// Reads the TTL (IP_TTL) or hop limit (IPV6_UNICAST_HOPS) of datagrams to unicast and broadcast destinations:
    /// the value set, or the system default when none is (64: <c>net.ipv4.ip_default_ttl</c>, the IPv6 route's hop limit).
    /// </summary>
    public int GetUnicastTtl()
    {
        const string op = nameof(GetUnicastTtl);
        RequireIp(op);
        return GetInt(op, IpLevel, UnicastTtlOption, null);
    }

    /// <summary>
    /// Sets the TTL (IP_TTL) or hop limit (IPV6_UNICAST_HOPS) of datagrams to unicast and broadcast destinations:
    /// 1–255, or -1 for the system default (both kernels take -1); returns the previous value as
    /// <see cref="GetUnicastTtl"/> reads it. Multicast has its own (<see cref="SetMulticastTtl"/>). Out of range: nothing changes.
    /// </summary>
    public int SetUnicastTtl(int ttl)
    {
        const string op = nameof(SetUnicastTtl);
        RequireIp(op);
        RequireUnicastTtl(op, ttl, allowDefault: true);
        string args = ttl.ToString();
        lock (_optionLock)
        {
            int previous = GetInt(op, IpLevel, UnicastTtlOption, args);
            SetInt(op, IpLevel, UnicastTtlOption, ttl, args);
            // A dual-mode socket sends to IPv4-mapped destinations through the IPv4 path, which reads IP_TTL.
            if (IsIPv6 && _options.DualMode) SetInt(op, Const.IPPROTO_IP, Const.IP_TTL, ttl, args);
            return previous;
        }
    }

    private int UnicastTtlOption => IsIPv6 ? Const.IPV6_UNICAST_HOPS : Const.IP_TTL;

    /// <summary>Whether a datagram to <paramref name="destination"/> (validated) leaves through the kernel's IPv4 path.</summary>
    private bool SendsAsIPv4(EndPoint destination) =>
        !IsIPv6 || destination is IPEndPoint { Address.IsIPv4MappedToIPv6: true };

    /// <summary>
    /// 1–255 (and -1 where allowed). IPv4 refuses 0 (EINVAL); IPv6 would send hop limit 0, which no router forwards,
    /// so both families share one range.
    /// </summary>
    private static void RequireUnicastTtl(string op, int ttl, bool allowDefault)
    {
        if (ttl is >= 1 and <= 255 || (allowDefault && ttl == -1)) return;
        throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, ttl.ToString(),
            allowDefault ? "a unicast TTL is 1 to 255, or -1 for the system default" : "a per-datagram unicast TTL is 1 to 255");
    }

    /// <summary>Closes the socket. A receive or send waiting on another thread returns <see cref="ReceiveStatus.Closed"/>. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            // poll() does not wake when another thread closes the fd; shutdown() does (even unconnected,
            // where it returns ENOTCONN but still sets the shutdown flags and wakes waiters).
            Libc.Shutdown(_handle.Fd, Const.SHUT_RDWR);
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
        _handle.Dispose();
        RemoveUnixFile();
    }

    /// <inheritdoc />
    public override string ToString() => $"DatagramSocket({AddressFamily}, fd={(_handle.IsClosed ? -1 : _handle.Fd)})";

    // ---- the no-throw handle lease and the throwing option helpers ----

    /// <summary>Takes a reference on the descriptor; false when the socket is closed.</summary>
    internal bool TryEnter(out int fd)
    {
        fd = -1;
        if (Volatile.Read(ref _closed) != 0) return false;
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        fd = _handle.Fd;
        return true;
    }

    /// <summary>Takes a reference on the descriptor; throws the one Closed error (naming the operation and its arguments) when closed.</summary>
    private int Enter(string op, string? args) => TryEnter(out int fd) ? fd : throw DatagramSocketException.Closed(op, args);

    internal void Exit() => _handle.DangerousRelease();

    /// <summary>setsockopt; returns 0 or the errno. Never throws except for a closed socket.</summary>
    internal unsafe int TrySetOption(string op, string? args, int level, int name, ReadOnlySpan<byte> value)
    {
        int fd = Enter(op, args);
        try
        {
            fixed (byte* p = value)
            {
                return Libc.SetSockOpt(fd, level, name, p, (uint)value.Length) == 0 ? 0 : Marshal.GetLastPInvokeError();
            }
        }
        finally
        {
            Exit();
        }
    }

    private unsafe int GetInt(string op, int level, int name, string? args)
    {
        int value = 0;
        uint len = sizeof(int);
        int fd = Enter(op, args);
        try
        {
            if (Libc.GetSockOpt(fd, level, name, &value, &len) != 0)
            {
                throw new DatagramSocketException(op, DatagramSocketError.Kernel, Marshal.GetLastPInvokeError(), args);
            }
        }
        finally
        {
            Exit();
        }
        // Some options (IP_MULTICAST_LOOP/TTL) may come back as one byte.
        return len == 1 ? value & 0xFF : value;
    }

    private void SetInt(string op, int level, int name, int value, string? args)
    {
        int errno = TrySetOption(op, args, level, name, MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in value)));
        if (errno != 0) throw new DatagramSocketException(op, DatagramSocketError.Kernel, errno, args);
    }

    private void RequireIp(string op)
    {
        if (AddressFamily == AddressFamily.Unix)
        {
            throw new DatagramSocketException(op, DatagramSocketError.NotSupportedForFamily, 0, null, "not an IP socket (Unix)");
        }
    }

    private static void RequireRange(string op, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, value.ToString(), $"allowed range is {min} to {max}");
        }
    }

    /// <summary>Checks an endpoint's family; maps IPv4 to IPv4-mapped IPv6 on a dual-mode socket.</summary>
    /// <summary>Checks an endpoint against the socket's family (mapping IPv4 on a dual-mode socket); throws FamilyMismatch or InvalidArgument.</summary>
    internal EndPoint ValidateEndPoint(string op, EndPoint? endPoint)
    {
        ArgumentNullExceptionIfNull(op, endPoint);
        switch (endPoint)
        {
            case IPEndPoint ip when AddressFamily != AddressFamily.Unix && ip.AddressFamily == AddressFamily:
                return ip;
            case IPEndPoint ip when IsIPv6 && _options.DualMode && ip.AddressFamily == AddressFamily.InterNetwork:
                return new IPEndPoint(ip.Address.MapToIPv6(), ip.Port);
            case UnixDomainSocketEndPoint when AddressFamily == AddressFamily.Unix:
                return endPoint;
            default:
                throw new DatagramSocketException(op, DatagramSocketError.FamilyMismatch, 0, endPoint!.ToString(),
                    $"a {AddressFamily} socket needs a {(AddressFamily == AddressFamily.Unix ? "UnixDomainSocketEndPoint" : AddressFamily + " IPEndPoint")}");
        }
    }

    private static void ArgumentNullExceptionIfNull(string op, object? value)
    {
        if (value is null) throw new DatagramSocketException(op, DatagramSocketError.InvalidArgument, 0, "null", "a required argument is null");
    }

    /// <summary>Converts a timeout to poll() milliseconds: -1 for infinite, 0 to poll; rejects other negatives.</summary>
    private static int TimeoutMs(string op, TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan) return -1;
        if (timeout < TimeSpan.Zero)
        {
            throw new DatagramSocketException(op, DatagramSocketError.OutOfRange, 0, timeout.ToString(), "a timeout is >= 0 or Timeout.InfiniteTimeSpan");
        }
        double ms = Math.Ceiling(timeout.TotalMilliseconds);
        return ms >= int.MaxValue ? int.MaxValue : (int)ms;
    }
}
