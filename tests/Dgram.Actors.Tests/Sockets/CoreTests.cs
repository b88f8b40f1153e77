using System.Net;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Sockets.Native;
using Xunit;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// The socket layer's pure parts: errno names and mapping, the exception's message, multicast address
/// classification, interface name lookup, and family validation at creation. No lab needed.
/// </summary>
[Trait("Area", "SocketCore")]
public sealed class CoreTests
{
    // ---- Errno ----

    [Theory]
    [InlineData(Errno.ENODEV, "ENODEV")]
    [InlineData(Errno.EADDRNOTAVAIL, "EADDRNOTAVAIL")]
    [InlineData(Errno.ENOBUFS, "ENOBUFS")]
    [InlineData(Errno.EADDRINUSE, "EADDRINUSE")]
    [InlineData(0, "OK")]
    [InlineData(4095, "E#4095")]
    [InlineData(-3, "E#-3")]
    public void ErrnoName_KnownAndUnknown_IsTheSymbolicNameOrANumber(int errno, string expected)
    {
        Assert.Equal(expected, Errno.Name(errno));
    }

    [Theory]
    [InlineData(Errno.EADDRINUSE, SocketError.AddressAlreadyInUse)]
    [InlineData(Errno.EADDRNOTAVAIL, SocketError.AddressNotAvailable)]
    [InlineData(Errno.ENOBUFS, SocketError.NoBufferSpaceAvailable)]
    [InlineData(Errno.EACCES, SocketError.AccessDenied)]
    [InlineData(Errno.EMSGSIZE, SocketError.MessageSize)]
    [InlineData(Errno.ENODEV, SocketError.SocketError)] // .NET has no SocketError for ENODEV
    [InlineData(0, SocketError.Success)]
    public void ErrnoToSocketError_MapsToTheNearestSocketError(int errno, SocketError expected)
    {
        Assert.Equal(expected, Errno.ToSocketError(errno));
    }

    [Theory]
    // The descriptor is gone or shut down, or the kernel could not use our memory: either direction.
    [InlineData(Errno.EBADF, true, true)]
    [InlineData(Errno.EBADF, false, true)]
    [InlineData(Errno.ENOTSOCK, true, true)]
    [InlineData(Errno.ENOTSOCK, false, true)]
    [InlineData(Errno.EPIPE, false, true)]
    [InlineData(Errno.ESHUTDOWN, true, true)]
    [InlineData(Errno.ESHUTDOWN, false, true)]
    [InlineData(Errno.EFAULT, true, true)]
    [InlineData(Errno.EFAULT, false, true)]
    // EINVAL ends a receive (the call itself is refused) but on a send names one datagram's destination.
    [InlineData(Errno.EINVAL, true, true)]
    [InlineData(Errno.EINVAL, false, false)]
    // Per datagram or passing: the socket goes on.
    [InlineData(Errno.ECONNREFUSED, true, false)]
    [InlineData(Errno.ECONNREFUSED, false, false)]
    [InlineData(Errno.EMSGSIZE, false, false)]
    [InlineData(Errno.ENETUNREACH, false, false)]
    [InlineData(Errno.EHOSTUNREACH, false, false)]
    [InlineData(Errno.EPERM, false, false)]
    [InlineData(Errno.EACCES, false, false)]
    [InlineData(Errno.ENOBUFS, false, false)]
    [InlineData(Errno.ENOMEM, true, false)]
    [InlineData(Errno.ENETDOWN, false, false)]
    [InlineData(Errno.EADDRNOTAVAIL, false, false)]
    [InlineData(Errno.EAGAIN, true, false)]
    [InlineData(Errno.EAGAIN, false, false)]
    [InlineData(Errno.EINTR, true, false)]
    public void ErrnoIsBroken_SeparatesADeadDescriptorFromAFailedDatagram(int errno, bool receiving, bool broken)
    {
        Assert.Equal(broken, Errno.IsBroken(errno, receiving));
    }

    // ---- DatagramSocketException ----

    [Fact]
    public void DatagramSocketException_KernelError_MessageHasOperationArgumentsErrnoAndDetail()
    {
        var e = new DatagramSocketException("JoinSourceGroup", DatagramSocketError.Kernel, Errno.ENODEV,
            "232.1.0.1, 198.51.100.2, eth9", "no usable interface");

        Assert.Equal("JoinSourceGroup", e.Operation);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Equal("ENODEV", e.ErrorName);
        Assert.Equal("232.1.0.1, 198.51.100.2, eth9", e.Arguments);
        Assert.Equal("no usable interface", e.Detail);
        Assert.Contains("JoinSourceGroup(232.1.0.1, 198.51.100.2, eth9)", e.Message);
        Assert.Contains("ENODEV", e.Message);
        Assert.Contains("No such device", e.Message); // strerror
        Assert.Contains("no usable interface", e.Message);
        Assert.Equal(SocketError.SocketError, e.SocketErrorCode);
    }

    [Fact]
    public void DatagramSocketException_ValidationError_NamesTheValidationCode()
    {
        var e = new DatagramSocketException("SetMulticastTtl", DatagramSocketError.OutOfRange, 0, "256", "allowed range is 0 to 255");

        Assert.Equal(0, e.Errno);
        Assert.Equal("OutOfRange", e.ErrorName);
        Assert.Contains("SetMulticastTtl(256)", e.Message);
        Assert.Contains("OutOfRange", e.Message);
        Assert.Contains("allowed range is 0 to 255", e.Message);
        Assert.Equal(SocketError.InvalidArgument, e.SocketErrorCode);
    }

    [Theory]
    [InlineData(DatagramSocketError.FamilyMismatch, SocketError.AddressFamilyNotSupported)]
    [InlineData(DatagramSocketError.NotSupportedForFamily, SocketError.OperationNotSupported)]
    [InlineData(DatagramSocketError.NotMulticast, SocketError.InvalidArgument)]
    [InlineData(DatagramSocketError.InvalidInterfaceName, SocketError.InvalidArgument)]
    public void DatagramSocketException_ValidationError_MapsToASocketError(DatagramSocketError error, SocketError expected)
    {
        var e = new DatagramSocketException("Op", error, 0);
        Assert.Equal(expected, e.SocketErrorCode);
        Assert.Equal(error.ToString(), e.ErrorName);
        Assert.Equal("Op() failed: " + error, e.Message);
    }

    [Fact]
    public void DatagramSocketException_Closed_AlwaysCarriesEbadf_WhicheverLayerMakesIt()
    {
        var made = DatagramSocketException.Closed("SetMulticastTtl", "3");
        var bare = new DatagramSocketException("Send", DatagramSocketError.Closed, 0, "sock", "stopped");
        foreach (var e in new[] { made, bare })
        {
            Assert.Equal((DatagramSocketError.Closed, Errno.EBADF, "EBADF"), (e.Error, e.Errno, e.ErrorName));
            Assert.Equal(SocketError.OperationAborted, e.SocketErrorCode);
        }
        Assert.Equal("SetMulticastTtl(3) failed: EBADF (Bad file descriptor): the socket is closed", made.Message);
    }

    [Fact]
    public void DatagramSocketException_Eaddrinuse_MapsToAddressAlreadyInUse()
    {
        var e = new DatagramSocketException("Bind", DatagramSocketError.Kernel, Errno.EADDRINUSE, "198.51.100.1:5000");
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        Assert.Equal("EADDRINUSE", e.ErrorName);
        Assert.IsAssignableFrom<SocketException>(e);
    }

    [Fact]
    public void Bind_PathInUse_ThrowsTheKernelsEaddrinuse()
    {
        string dir = Directory.CreateTempSubdirectory("dgram-core-").FullName;
        try
        {
            var ep = new UnixDomainSocketEndPoint(Path.Combine(dir, "taken.sock"));
            using var first = DatagramSocket.Create(AddressFamily.Unix);
            first.Bind(ep);
            using var second = DatagramSocket.Create(AddressFamily.Unix);
            var e = Assert.Throws<DatagramSocketException>(() => second.Bind(ep));
            Assert.Equal(DatagramSocketError.Kernel, e.Error);
            Assert.Equal(Errno.EADDRINUSE, e.Errno);
            Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
            Assert.Equal("Bind", e.Operation);
            Assert.Contains(ep.ToString(), e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- multicast classification ----

    [Theory]
    [InlineData("224.0.0.1", true)]
    [InlineData("239.255.0.1", true)]
    [InlineData("232.1.0.1", true)]
    [InlineData("223.255.255.255", false)]
    [InlineData("240.0.0.1", false)]
    [InlineData("198.51.100.1", false)]
    [InlineData("ff02::1", true)]
    [InlineData("ff15::d9a:1", true)]
    [InlineData("fd00:d9a::1", false)]
    [InlineData("::ffff:239.255.0.1", false)] // IPv4-mapped: an IPv6 unicast address
    public void IsMulticast_ClassifiesTheAddress(string address, bool expected)
    {
        Assert.Equal(expected, DatagramSocket.IsMulticast(IPAddress.Parse(address)));
    }

    // ---- interface names ----

    [Fact]
    public void NetworkInterfaceNames_Loopback_IsIndexOne()
    {
        Assert.Equal(1, NetworkInterfaceNames.GetIndex("lo"));
        Assert.Equal(0, NetworkInterfaceNames.TryGetIndex("lo", out int index));
        Assert.Equal(1, index);
        Assert.Equal("lo", NetworkInterfaceNames.GetName(1));
    }

    [Fact]
    public void NetworkInterfaceNames_UnknownName_ThrowsUnknownInterfaceWithEnodev()
    {
        var e = Assert.Throws<DatagramSocketException>(() => NetworkInterfaceNames.GetIndex("nosuch-dgram0", "JoinGroup"));
        Assert.Equal(DatagramSocketError.UnknownInterface, e.Error);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.Equal("ENODEV", e.ErrorName);
        Assert.Equal("JoinGroup", e.Operation);
        Assert.Contains("nosuch-dgram0", e.Message);
        Assert.Equal(Errno.ENODEV, NetworkInterfaceNames.TryGetIndex("nosuch-dgram0", out int index));
        Assert.Equal(0, index);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abcdefghijklmnop")] // 16 bytes: IFNAMSIZ holds 15 and the NUL
    [InlineData("a-much-longer-interface-name")]
    [InlineData("lo\0")]
    public void NetworkInterfaceNames_MalformedName_ThrowsInvalidInterfaceName(string name)
    {
        var e = Assert.Throws<DatagramSocketException>(() => NetworkInterfaceNames.GetIndex(name));
        Assert.Equal(DatagramSocketError.InvalidInterfaceName, e.Error);
        Assert.Equal(0, e.Errno);
        Assert.Equal(Errno.EINVAL, NetworkInterfaceNames.TryGetIndex(name, out _));
    }

    [Fact]
    public void NetworkInterfaceNames_FifteenByteUnknownName_IsUnknownNotMalformed()
    {
        var e = Assert.Throws<DatagramSocketException>(() => NetworkInterfaceNames.GetIndex("abcdefghijklmno"));
        Assert.Equal(DatagramSocketError.UnknownInterface, e.Error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void NetworkInterfaceNames_GetName_NoSuchIndex_IsNull(int index)
    {
        Assert.Null(NetworkInterfaceNames.GetName(index));
    }

    // ---- creation ----

    [Theory]
    [InlineData(AddressFamily.AppleTalk)]
    [InlineData(AddressFamily.Unspecified)]
    [InlineData(AddressFamily.Packet)]
    public void Create_UnsupportedFamily_ThrowsNotSupportedForFamily(AddressFamily family)
    {
        var e = Assert.Throws<DatagramSocketException>(() => DatagramSocket.Create(family));
        Assert.Equal(DatagramSocketError.NotSupportedForFamily, e.Error);
        Assert.Equal("Create", e.Operation);
        Assert.Equal("EAFNOSUPPORT", e.ErrorName); // the kernel's own answer for a family it does not have
    }
}
