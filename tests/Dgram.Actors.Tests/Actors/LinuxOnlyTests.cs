using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Dgram.Actors.Client;
using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Actors;

/// <summary>
/// On a system other than Linux the library says so at the first socket: <see cref="PlatformNotSupportedException"/>
/// naming the call and the system, before anything is created. Driven through <c>LinuxOnly.Simulated</c>, which holds
/// for this test's async flow only (every method here is async, so the value never leaks to another test).
/// </summary>
[Trait("Area", "Actor")]
public sealed class LinuxOnlyTests(ITestOutputHelper output) : ActorTestBase(output)
{
    private const string Elsewhere = "Microsoft Windows 10.0.26100";

    [Fact]
    public async Task Create_OnAnotherSystem_ThrowsPlatformNotSupported_SayingLinuxOnly()
    {
        await Task.Yield();
        LinuxOnly.Simulated.Value = Elsewhere;
        foreach (AddressFamily family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6, AddressFamily.Unix })
        {
            var e = Assert.Throws<PlatformNotSupportedException>(() => DatagramSocket.Create(family));
            Assert.Equal($"DatagramSocket.Create: Dgram.Actors runs on Linux only (it uses Linux socket options, epoll and rtnetlink); this system is {Elsewhere}",
                e.Message);
        }
    }

    [Fact]
    public async Task StartAsync_OnAnotherSystem_Throws_BeforeAnyActorExists()
    {
        var settings = new SocketSettings { Name = "linux-only-" + LabNet.NextPort(), Family = AddressFamily.InterNetwork, LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) };
        LinuxOnly.Simulated.Value = Elsewhere;
        var e = await Assert.ThrowsAsync<PlatformNotSupportedException>(() => SocketClient.StartAsync(Sys, settings));
        Assert.StartsWith("SocketClient.StartAsync: Dgram.Actors runs on Linux only", e.Message);
        LinuxOnly.Simulated.Value = null;
        await Assert.ThrowsAsync<ActorNotFoundException>(() => Sys.ActorSelection("/user/" + settings.Name).ResolveOne(TimeSpan.FromSeconds(1)));
        // On Linux the same settings start.
        await (await SocketClient.StartAsync(Sys, settings)).StopAsync();
    }

    [Fact]
    public async Task OnLinux_TheCheckPasses()
    {
        await Task.Yield();
        Assert.Null(LinuxOnly.Simulated.Value); // nothing leaked from the other tests
        LinuxOnly.Require("test");
        using DatagramSocket s = DatagramSocket.Create(AddressFamily.InterNetwork);
        Assert.False(s.IsClosed);
    }
}
