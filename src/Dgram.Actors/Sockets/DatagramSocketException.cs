using System.Net.Sockets;
using Dgram.Actors.Sockets.Native;

namespace Dgram.Actors.Sockets;

/// <summary>
/// A failed socket operation: which operation, with which arguments, and why: the Linux errno and its
/// name (kept even where .NET's <see cref="SocketError"/> has no equivalent), or the library's own
/// validation code. A validation failure changes nothing; the socket stays usable.
/// </summary>
public sealed class DatagramSocketException : SocketException
{
    /// <summary>Creates an exception for a failed operation. A <see cref="DatagramSocketError.Closed"/> error without an errno gets EBADF.</summary>
    public DatagramSocketException(string operation, DatagramSocketError error, int errno, string? arguments = null, string? detail = null)
        : base((int)Native.Errno.ToSocketError(errno == 0 ? ValidationErrno(error) : errno))
    {
        Operation = operation;
        Error = error;
        // One closed errno everywhere: a closed descriptor is what the kernel calls EBADF.
        Errno = errno == 0 && error == DatagramSocketError.Closed ? Native.Errno.EBADF : errno;
        Arguments = arguments;
        Detail = detail;
    }

    /// <summary>
    /// The error an operation on a closed socket reports, whichever layer notices (the socket, its actor,
    /// its client): <see cref="DatagramSocketError.Closed"/> with EBADF, naming the operation and its arguments.
    /// </summary>
    public static DatagramSocketException Closed(string operation, string? arguments, string detail = "the socket is closed") =>
        new(operation, DatagramSocketError.Closed, Native.Errno.EBADF, arguments, detail);

    /// <summary>The operation, named as the library names it (e.g. <c>JoinSourceGroup</c>).</summary>
    public string Operation { get; }

    /// <summary>The kind of failure.</summary>
    public DatagramSocketError Error { get; }

    /// <summary>The Linux errno (EBADF for a closed socket), or 0 when the library rejected the input before calling the kernel.</summary>
    public int Errno { get; }

    /// <summary>The errno name (<c>ENODEV</c>), or the validation code (<c>NotMulticast</c>) when <see cref="Errno"/> is 0.</summary>
    public string ErrorName => Errno != 0 ? Native.Errno.Name(Errno) : Error.ToString();

    /// <summary>The arguments of the call, as text.</summary>
    public string? Arguments { get; }

    /// <summary>More about the cause: the kernel limit that was hit, the expected family, …</summary>
    public string? Detail { get; }

    /// <summary>
    /// The <see cref="Protocol.SocketSettings"/> property a socket could not start with (e.g. <c>Groups[2]</c>,
    /// <c>LocalEndPoint</c>), or null. Hosting maps it to the configuration key.
    /// </summary>
    public string? Setting { get; init; }

    /// <summary>The same error, attributed to a setting.</summary>
    internal DatagramSocketException ForSetting(string setting) => new(Operation, Error, Errno, Arguments, Detail) { Setting = setting };

    /// <inheritdoc />
    public override string Message
    {
        get
        {
            string why = Errno != 0 ? $"{Native.Errno.Name(Errno)} ({Native.Errno.Describe(Errno)})" : Error.ToString();
            string args = Arguments is null ? "" : Arguments;
            string text = Detail is null ? $"{Operation}({args}) failed: {why}" : $"{Operation}({args}) failed: {why}: {Detail}";
            return Setting is null ? text : $"{text} (setting {Setting})";
        }
    }

    private static int ValidationErrno(DatagramSocketError error) => error switch
    {
        DatagramSocketError.FamilyMismatch => Native.Errno.EAFNOSUPPORT,
        DatagramSocketError.NotSupportedForFamily => Native.Errno.EOPNOTSUPP,
        DatagramSocketError.Closed => Native.Errno.EBADF,
        _ => Native.Errno.EINVAL,
    };
}
