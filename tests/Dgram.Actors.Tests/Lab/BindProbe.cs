using Dgram.Actors.Protocol;
using Dgram.Actors.Sockets;

namespace Dgram.Actors.Tests.Lab;

/// <summary>Asks the kernel itself whether two sockets can bind side by side, for checks that predict it.</summary>
public static class BindProbe
{
    /// <summary>Binds <paramref name="first"/>, then <paramref name="second"/>, as their settings say; true when the second gets EADDRINUSE.</summary>
    public static bool KernelRefusesSecondBind(SocketSettings first, SocketSettings second)
    {
        using DatagramSocket a = Open(first);
        using DatagramSocket b = DatagramSocket.Create(second.Family, new DatagramSocketOptions { DualMode = second.SocketOptions.DualMode });
        try
        {
            b.Bind(second.LocalEndPoint!, second.Reuse);
            return false;
        }
        catch (DatagramSocketException e) when (e.ErrorName == "EADDRINUSE")
        {
            return true;
        }
    }

    private static DatagramSocket Open(SocketSettings s)
    {
        var socket = DatagramSocket.Create(s.Family, new DatagramSocketOptions { DualMode = s.SocketOptions.DualMode });
        try
        {
            socket.Bind(s.LocalEndPoint!, s.Reuse);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
