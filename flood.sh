#!/usr/bin/env bash
# A full-rate flood (the C `blast` sender, sendmmsg, unpaced) into each kind of consumer for N seconds,
# printing resident memory, heap, threads and every drop counter over time. Each consumer takes 10 ms
# per datagram, so only its bound keeps memory flat. Runs in a private network namespace on loopback.
#   ./flood.sh [--duration N] [--size BYTES] [KIND...]   (default 60 s, 1400 B, every kind)
# KINDs: actor pipe drop-oldest drop-newest fail pause inline pull. Reports go to .flood/KIND.txt.
set -euo pipefail

main() {
  cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  local duration=60 size=1400
  local -a kinds=()
  while (($# > 0)); do
    case $1 in
      --duration) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; duration=$2; shift 2 ;;
      --size) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; size=$2; shift 2 ;;
      actor | pipe | drop-oldest | drop-newest | fail | pause | inline | pull) kinds+=("$1"); shift ;;
      *) usage ;;
    esac
  done
  ((${#kinds[@]} > 0)) || kinds=(actor pipe drop-oldest drop-newest fail pause inline pull)

  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
  command -v gcc >/dev/null 2>&1 || { echo "flood.sh: gcc not found (needed for the C sender)" >&2; exit 2; }
  mkdir -p benchmarks/native/bin .flood
  gcc -O2 -o benchmarks/native/bin/blast benchmarks/native/blast.c
  # Restore and build need the network: outside the namespace.
  dotnet build benchmarks/Dgram.Flood -c Release -v quiet -nologo >/dev/null

  local -a netns
  if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then netns=(unshare -n)
  elif unshare -rn true 2>/dev/null; then netns=(unshare -rn)
  else echo "flood.sh: cannot create a private network namespace" >&2; exit 2; fi

  local kind
  for kind in "${kinds[@]}"; do
    "${netns[@]}" lab/lab.sh dotnet benchmarks/Dgram.Flood/bin/Release/net10.0/Dgram.Flood.dll \
      "$kind" "$duration" "$size" benchmarks/native/bin/blast | tee ".flood/$kind.txt"
    echo
  done
}

usage() {
  echo "usage: ./flood.sh [--duration SECONDS] [--size BYTES] [actor|pipe|drop-oldest|drop-newest|fail|pause|inline|pull ...]" >&2
  exit 2
}

main "$@"
