#!/usr/bin/env bash
# Side-by-side benchmark (benchmarks/Dgram.Bench): receive throughput of raw .NET, Akka.IO, the socket
# core, its batched path and the actor + Rx paths against C recvfrom/recvmmsg ceilings, under a C
# sendmmsg sender compiled here; then round-trip latency. Runs inside a private network namespace
# (loopback only). Prints a table, then one line per figure. --quick keeps it under ~90 s.
# --micro runs the BenchmarkDotNet per-operation benchmarks (benchmarks/Dgram.Micro) instead.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1

command -v gcc >/dev/null 2>&1 || { echo "bench.sh: gcc not found (needed for the C sender and ceilings)" >&2; exit 2; }
mkdir -p benchmarks/native/bin
gcc -O2 -o benchmarks/native/bin/blast benchmarks/native/blast.c
gcc -O2 -o benchmarks/native/bin/sink benchmarks/native/sink.c
dotnet build benchmarks/Dgram.Bench/Dgram.Bench.csproj -c Release -v quiet -nologo >&2
if [[ ${1:-} == --micro ]]; then
  shift
  dotnet build benchmarks/Dgram.Micro/Dgram.Micro.csproj -c Release -v quiet -nologo >&2
  # In-process: BenchmarkDotNet would otherwise build a project per run, and the namespace has no NuGet.
  exec unshare -n lab/lab.sh dotnet benchmarks/Dgram.Micro/bin/Release/net10.0/Dgram.Micro.dll --filter '*' --inProcess --job short "$@"
fi
mkdir -p benchmarks/results
bench=(dotnet benchmarks/Dgram.Bench/bin/Release/net10.0/Dgram.Bench.dll --native benchmarks/native/bin --charts benchmarks/results "$@")

# The text results go beside the charts (benchmarks/results/results.txt) as well as to stdout.
if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then
  unshare -n lab/lab.sh "${bench[@]}" | tee benchmarks/results/results.txt
elif unshare -rn true 2>/dev/null; then
  unshare -rn lab/lab.sh "${bench[@]}" | tee benchmarks/results/results.txt
else
  echo "bench.sh: no private network namespace; running on the host's loopback" >&2
  "${bench[@]}" | tee benchmarks/results/results.txt
fi
