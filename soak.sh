#!/usr/bin/env bash
# A bounded soak of Dgram.Actors in the test lab (issue 8, part 4): senders and receivers on their own
# veth pairs, any-source and source-specific groups, IPv4 and IPv6, a random fault every few seconds,
# for N seconds. It runs the xUnit soak test through ./test.sh (which builds, then runs it in a private
# network namespace) and prints the figures: datagrams sent and received per stream, faults injected,
# drops by cause, unexplained loss, descriptor and managed-heap levels.
#   ./soak.sh [--duration N] [--seed S]      (N seconds, default 60)
# Exits with ./test.sh's status: non-zero when any loss is unexplained, a level moved, or the run failed.
set -euo pipefail

usage() {
  echo "usage: ./soak.sh [--duration SECONDS] [--seed N]" >&2
  exit 2
}

main() {
  cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  local duration=60 seed=""
  while (($# > 0)); do
    case $1 in
      --duration)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        duration=$2
        shift 2
        ;;
      --seed)
        [[ $# -ge 2 && $2 =~ ^-?[0-9]+$ ]] || usage
        seed=$2
        shift 2
        ;;
      *) usage ;;
    esac
  done

  mkdir -p .soak
  local report="$PWD/.soak/report.txt"
  rm -f "$report"
  local rc=0
  DGRAM_SOAK_SECONDS=$duration DGRAM_SOAK_SEED=$seed DGRAM_SOAK_REPORT=$report \
    ./test.sh --filter "FullyQualifiedName~Dgram.Actors.Tests.Reliability.SoakTests" || rc=$?
  echo
  if [[ -s $report ]]; then
    echo "---- soak figures ($report) ----"
    cat "$report"
  else
    echo "soak.sh: the soak wrote no figures (it failed before the end; see the test output above)" >&2
    ((rc != 0)) || rc=1
  fi
  exit "$rc"
}

main "$@"
