// Per-operation costs with BenchmarkDotNet: an option change and a send through the socket actor
// (against the socket core directly), and one received datagram fanned out to N Rx subscribers.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Dgram.Micro.ActorOperations).Assembly).Run(args);
