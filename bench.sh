#!/usr/bin/env bash
# The benchmark (benchmarks/Dgram.Bench, README "Performance"): receive ceilings by paced sweeps, CPU per
# datagram at one common rate, send CPU at a fixed rate, round trips, fan-out, scale and interface recovery.
# Every path runs in a process of its own pinned to core 1, the C sender (benchmarks/native/pace.c, UDP GSO)
# to core 0, inside a private network namespace with the veth lab (lab/lab.sh): nothing leaves the machine.
# The part `bridge` (benchmarks/bridge.sh) carries a group between two sites' segments in child namespaces:
# routed by the kernel (smcroute), the reference, and by the cluster bridge (samples/Dgram.Bridge, a node per site).
#
#   ./bench.sh [--quick] [--save] [--reps N] [--only receive,cpu,send,rtt,fanout,scale,recovery,bridge,cli] [--no-steering]
#              [--paths P,...] [--sizes 64,1400]      (--paths: only these receive paths, for receive and cpu)
#   ./bench.sh --micro [--save] [BenchmarkDotNet options]    per-operation costs (benchmarks/Dgram.Micro)
#
# Results go to benchmarks/out/ (untracked); --save also copies them to benchmarks/results/, the files
# the README quotes. --quick: fewer paths, shorter steps, coarser bisection (under 5 minutes on 2 cores).
# --no-steering leaves the kernel's receive work on the sender's core (to show why the bench steers it).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1

save=0 micro=0 quick=0 steer=1 only=0
args=() bridge_args=() cli_args=()
# --only's parts for Dgram.Bench; `bridge` is benchmarks/bridge.sh's, `cli` benchmarks/cli.sh's (the dgram tool
# against iperf2's server; without --only: every part, except `cli` under --quick, which keeps --quick within 5 min).
dotnet_parts=receive,cpu,send,rtt,fanout,scale,recovery bridge=1 cli=1
# The modes benchmarks/bridge.sh measures: the kernel's route, then the cluster bridge.
bridge_modes=kernel_route,bridge
while (($# > 0)); do
  case $1 in
    --save) save=1 ;;
    --micro) micro=1 ;;
    --no-steering) steer=0 ;;
    --quick) quick=1; args+=("$1"); bridge_args+=("$1"); cli_args+=("$1") ;;
    --reps) args+=("$1" "${2:-}"); bridge_args+=("$1" "${2:-}"); cli_args+=("$1" "${2:-}"); shift ;;
    --only)
      parts=,${2:-},
      only=1 bridge=0 cli=0
      [[ $parts == *,bridge,* ]] && bridge=1
      [[ $parts == *,cli,* ]] && cli=1
      parts=${parts//,bridge,/,}
      parts=${parts//,cli,/,}
      parts=${parts#,}
      dotnet_parts=${parts%,}
      [[ -n $dotnet_parts ]] && args+=(--only "$dotnet_parts")
      shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

if ((quick && !only)); then cli=0; fi

missing=()
for tool in gcc taskset ss; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
# smcroute: the bridge part's kernel multicast router (it runs only inside the bench's namespaces).
if ((bridge && !micro)) && ! command -v smcrouted >/dev/null 2>&1; then missing+=(smcroute); fi
if ((cli && !micro)) && ! command -v iperf >/dev/null 2>&1; then missing+=(iperf); fi
if ((${#missing[@]} > 0)); then
  # Debian/Ubuntu: gcc, util-linux (taskset), iproute2 (ss) and smcroute; installed when we may, else named.
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2 && apt-get install -y -qq gcc util-linux iproute2 >&2
    if [[ " ${missing[*]} " == *" smcroute "* ]]; then apt-get install -y -qq smcroute >&2; fi
    if [[ " ${missing[*]} " == *" iperf "* ]]; then apt-get install -y -qq iperf >&2; fi
  else
    echo "bench.sh: missing ${missing[*]} (Debian: apt-get install gcc util-linux iproute2 smcroute iperf)" >&2
    exit 2
  fi
fi
if [[ $(nproc) -lt 2 ]]; then
  echo "bench.sh: needs 2 cores (the sender on one, the path under test on the other)" >&2
  exit 2
fi

mkdir -p benchmarks/native/bin benchmarks/out
gcc -O2 -Wall -Wextra -Werror -o benchmarks/native/bin/pace benchmarks/native/pace.c
gcc -O2 -Wall -Wextra -Werror -pthread -o benchmarks/native/bin/sink benchmarks/native/sink.c
# Restore and build need the network: outside the namespace.
if [[ -n $dotnet_parts ]] || ((micro)); then
  dotnet build benchmarks/Dgram.Bench/Dgram.Bench.csproj -c Release -v quiet -nologo >&2
fi
if ((bridge && !micro)) && [[ ,$bridge_modes, == *,bridge,* ]]; then
  dotnet build samples/Dgram.Bridge/Dgram.Bridge.csproj -c Release -v quiet -nologo >&2
fi
if ((cli && !micro)); then
  dotnet build src/Dgram.Cli/Dgram.Cli.csproj -c Release -v quiet -nologo >&2
fi

in_lab() {
  if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then
    unshare -n lab/lab.sh "$@"
  elif unshare -rn true 2>/dev/null; then
    unshare -rn lab/lab.sh "$@"
  else
    echo "bench.sh: cannot make a private network namespace (unshare -n); refusing to run on the host's network" >&2
    exit 2
  fi
}

if ((micro)); then
  dotnet build benchmarks/Dgram.Micro/Dgram.Micro.csproj -c Release -v quiet -nologo >&2
  rm -rf benchmarks/out/micro
  # In-process: BenchmarkDotNet would otherwise build a project per run, and the namespace has no NuGet.
  in_lab dotnet benchmarks/Dgram.Micro/bin/Release/net10.0/Dgram.Micro.dll --filter '*' --inProcess --job short \
    --artifacts benchmarks/out/micro "${args[@]}"
  if ((save)); then
    cat benchmarks/out/micro/results/*-report-github.md >benchmarks/results/micro.md
    echo "bench.sh: saved benchmarks/results/micro.md" >&2
  fi
  exit 0
fi

out=benchmarks/out/bench.txt
name=bench
if [[ -z $dotnet_parts ]]; then
  if ((bridge)); then out=benchmarks/out/bridge.txt name=bridge; else out=benchmarks/out/cli.txt name=cli; fi
fi
: >"$out"
# 1,000 socket actors (the scale lines) need more than the default 1,024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Receive steering (RPS) to core 1: on lo and veth the kernel's receive work (IP, UDP, socket queueing,
# wake-ups) otherwise runs as softirq on the *sender's* core, and the sender, not the path under test,
# sets the ceiling. With it, the receiving core pays the kernel's receive work as a real host does.
# rps_cpus is per device in sysfs: a sysfs of the lab namespace, mounted in a mount namespace of its own.
mask=2
((steer)) || mask=0
steer_cmd="mount -t sysfs sysfs /sys && for q in /sys/class/net/*/queues/rx-*/rps_cpus; do echo $mask >\"\$q\"; done && exec \"\$@\""

# The orchestrator stays off core 1 (it starts each process with the core it belongs on).
if [[ -n $dotnet_parts ]]; then
  in_lab unshare -m sh -c "$steer_cmd" steer taskset -c 0 \
    dotnet benchmarks/Dgram.Bench/bin/Release/net10.0/Dgram.Bench.dll run --native benchmarks/native/bin "${args[@]}" | tee -a "$out"
fi
if ((bridge)); then
  # Its own namespace (a fresh lab): it makes child namespaces for the sites and steers their devices itself.
  in_lab taskset -c 0 benchmarks/bridge.sh --steer "$mask" --modes "$bridge_modes" --native benchmarks/native/bin \
    "${bridge_args[@]}" | tee -a "$out"
fi
if ((cli)); then
  # The dgram tool beside iperf2's server on one paced iperf2 feed (its own fresh lab, lab0b -> lab0a).
  in_lab benchmarks/cli.sh "${cli_args[@]}" | tee -a "$out"
fi
if ((save)); then
  if ((quick)); then name+=-quick; fi
  if ((!steer)); then name+=-no-steering; fi
  cp "$out" "benchmarks/results/$name.txt"
  echo "bench.sh: saved benchmarks/results/$name.txt" >&2
fi
