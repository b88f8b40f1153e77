#!/usr/bin/env bash
# Where a receive path's time goes: runs one path as ./bench.sh does (its own process pinned to core 1,
# receive steering to core 1, the C pacer on core 0) at a fixed rate, records it with perf, and prints
# CPU per datagram, CPU by thread and the hottest symbols (JIT frames named through the runtime's perf map).
#
#   benchmarks/profile.sh PATH RATE SIZE     e.g. benchmarks/profile.sh actor_rx_inline 113000 64
#
# Environment variables reach the process under test, so a runtime setting can be compared:
#   DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 benchmarks/profile.sh actor_rx_inline 113000 64
# Build first (./bench.sh does). Needs perf (Debian: linux-perf).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
if [[ $# -ne 3 && ${1:-} != --inner ]]; then
  echo "usage: benchmarks/profile.sh PATH RATE SIZE" >&2
  exit 2
fi
command -v perf >/dev/null 2>&1 || { echo "profile.sh: perf not found (Debian: apt-get install linux-perf)" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "profile.sh: perf needs root here" >&2; exit 2; }
[[ -x benchmarks/native/bin/pace && -f benchmarks/Dgram.Bench/bin/Release/net10.0/Dgram.Bench.dll ]] ||
  { echo "profile.sh: build first (./bench.sh --quick --only scale builds everything)" >&2; exit 2; }
mkdir -p benchmarks/out

# Inside the lab namespace, with its own sysfs for the steering.
inner() {
  local path=$1 rate=$2 size=$3 data=benchmarks/out/perf.$1.data
  mount -t sysfs sysfs /sys
  for q in /sys/class/net/*/queues/rx-*/rps_cpus; do echo 2 >"$q"; done
  # Perf names JIT frames from /tmp/perf-PID.map only for code in anonymous memory (no W^X double mapping).
  export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
  coproc RX { exec taskset -c 1 dotnet benchmarks/Dgram.Bench/bin/Release/net10.0/Dgram.Bench.dll receive \
    --path "$path" --bind 127.0.0.1 --port 9300 2>/dev/null; }
  local ready m0 m1
  read -r ready <&"${RX[0]}"
  pace() { taskset -c 0 benchmarks/native/bin/pace --dest 127.0.0.1 --port 9300 --size "$size" --rate "$rate" --seconds "$1" >/dev/null; }
  pace 3 # warm-up: tiered compilation settles
  sleep 0.2
  echo mark >&"${RX[1]}"
  read -r m0 <&"${RX[0]}"
  pace 5 &
  perf record -q -F 4999 -g -p "$RX_PID" -o "$data" -- sleep 4 2>/dev/null
  wait %%
  sleep 0.2
  echo mark >&"${RX[1]}"
  read -r m1 <&"${RX[0]}"
  echo quit >&"${RX[1]}"
  wait "$RX_PID" || true
  python3 - "$m0" "$m1" "$path" "$rate" "$size" <<'EOF'
import sys
a = dict(x.split('=') for x in sys.argv[1].split()); b = dict(x.split('=') for x in sys.argv[2].split())
n = int(b['count']) - int(a['count'])
print(f"{sys.argv[3]} at {sys.argv[4]}/s of {sys.argv[5]} B: {n} datagrams, "
      f"{(float(b['cpu_us']) - float(a['cpu_us'])) / max(n, 1):.3f} us of process CPU per datagram (whole run)")
EOF
  echo "--- CPU by thread (perf samples, 4 s)"
  # (|| true: head closing the pipe early is not a failure)
  perf report -i "$data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
  echo "--- hottest symbols"
  perf report -i "$data" --no-children --sort comm,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 | cut -c1-180 || true
  echo "--- thread-pool workers: managed frames by inclusive share (what they run and where they wait)"
  perf report -i "$data" --children --comm ".NET TP Worker" --sort symbol --stdio -g none 2>/dev/null |
    grep -F '[.]' | grep -F '::' | head -12 | cut -c1-220 || true
}

if [[ ${1:-} == --inner ]]; then
  shift
  inner "$@"
  exit
fi
unshare -n lab/lab.sh unshare -m "$0" --inner "$@"
