using Microsoft.Extensions.Logging;

namespace Dgram.Actors.Sockets;

/// <summary>Every log message of the socket layer, source-generated, with stable event ids.</summary>
internal static partial class SocketsLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "{Option} request of {Requested} B was capped by net.core.{Sysctl} to an effective {Effective} B")]
    public static partial void BufferCapped(ILogger logger, string option, int requested, int effective, string sysctl);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning,
        Message = "Socket bound to unicast address {Bound} joined group {Group}: on Linux it receives no group traffic; bind to the group address or the wildcard")]
    public static partial void JoinOnUnicastBind(ILogger logger, string bound, string group);
}
