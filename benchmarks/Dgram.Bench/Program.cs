// The benchmark: `run` orchestrates (./bench.sh calls it inside the lab namespace); the other modes are
// the processes it starts, one per path, each pinned to a core by the orchestrator.
using Dgram.Bench;
using Dgram.Bench.Child;
using Dgram.Bench.Run;

string usage = string.Join("\n  ", "usage: Dgram.Bench MODE [options]", Bench.Usage, ReceiveChild.Usage, SendChild.Usage, RttChild.Usage, Scale.Usage, RecoveryChild.Usage);
try
{
    return args.Length == 0 ? Fail(usage) : args[0] switch
    {
        "run" => await Bench.RunAsync(args[1..]),
        "receive" => await ReceiveChild.RunAsync(args[1..]),
        "send" => await SendChild.RunAsync(args[1..]),
        "rtt" => await RttChild.RunAsync(args[1..]),
        "scale" => await Scale.RunAsync(args[1..]),
        "recovery" => await RecoveryChild.RunAsync(args[1..]),
        _ => Fail(usage),
    };
}
catch (ArgumentException e)
{
    return Fail($"{e.Message}\n{usage}");
}

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 2;
}
