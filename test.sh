#!/usr/bin/env bash
# Builds Dgram.Actors and runs its tests inside a private network namespace
# holding the veth lab (lab/lab.sh). Extra arguments go to `dotnet test`:
#   ./test.sh --filter Area=Kernel
# The last line printed is always "tests: N passed, N failed, N skipped".
# Exits non-zero when the build or `dotnet test` fails, a test fails, or no test ran.
set -euo pipefail

readonly RESULTS_DIR=.test-results

# Sums the <Counters .../> element of every given .trx file and prints
# "passed failed skipped counters_found". failed counts failed, error, timeout
# and aborted; skipped is notExecuted, or total - executed when larger.
# Attribute values may be in ' or ".
trx_counts() {
  awk '
    # Value of attribute name, or -1 when absent. The leading space keeps
    # "passed" from matching "passedButRunAborted".
    function attr(rec, name,    v) {
      if (!match(rec, "[ \t\r\n]" name "=[\"\047][0-9]+[\"\047]")) return -1
      v = substr(rec, RSTART, RLENGTH)
      gsub(/[^0-9]/, "", v)
      return v + 0
    }
    function n(rec, name,    v) { v = attr(rec, name); return v < 0 ? 0 : v }
    BEGIN { RS = "<"; passed = failed = skipped = found = 0 }
    /^Counters[ \t\r\n\/>]/ {
      found++
      passed += n($0, "passed")
      failed += n($0, "failed") + n($0, "error") + n($0, "timeout") + n($0, "aborted")
      # The VSTest trx logger leaves notExecuted at 0 for skipped tests and
      # counts them only as total - executed; take whichever is larger.
      s = n($0, "notExecuted")
      if (attr($0, "total") >= 0 && attr($0, "executed") >= 0 && n($0, "total") - n($0, "executed") > s)
        s = n($0, "total") - n($0, "executed")
      skipped += s
    }
    END { print passed, failed, skipped, found }
  ' "$@"
}

summary() {
  echo "tests: $1 passed, $2 failed, $3 skipped"
}

# Prints the summary line last on every path, so a caller can always read it.
fail_early() {
  local code=$1
  shift
  echo "test.sh: $*" >&2
  summary 0 0 0
  exit "$code"
}

main() {
  cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
  # No MSBuild worker nodes left running after the script (they would keep its
  # output pipes open, and nothing inside the namespace could reuse them).
  export MSBUILDDISABLENODEREUSE=1

  command -v dotnet >/dev/null 2>&1 ||
    fail_early 2 "dotnet not found on PATH (install the .NET SDK named in global.json)"

  # The dgram tool's tests compare it with iperf2 (Debian's iperf), the tool operators use.
  if ! command -v iperf >/dev/null 2>&1; then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      { apt-get install -y -qq iperf || { apt-get update -qq && apt-get install -y -qq iperf; }; } >&2 ||
        fail_early 2 "could not install iperf (apt-get install iperf)"
    else
      fail_early 2 "iperf (iperf2) not found: apt-get install iperf"
    fi
  fi

  # Restore needs the network, so restore and build run outside the namespace.
  local rc=0
  dotnet restore Dgram.Actors.sln || rc=$?
  ((rc == 0)) || fail_early "$rc" "dotnet restore failed (exit $rc)"
  dotnet build Dgram.Actors.sln -c Release --no-restore || rc=$?
  ((rc == 0)) || fail_early "$rc" "dotnet build failed (exit $rc)"

  # Tests change sysctls and add interfaces: never on the host's network.
  source lab/netns.sh
  lab_netns ||
    fail_early 2 "cannot create a private network namespace (need root for 'unshare -n' or unprivileged user namespaces for 'unshare -rn'); refusing to run tests on the host network"

  rm -rf "$RESULTS_DIR"
  mkdir -p "$RESULTS_DIR"

  rc=0
  LAB_INFO="$PWD/$RESULTS_DIR/lab-info.txt" "${LAB_NETNS[@]}" lab/lab.sh \
    dotnet test Dgram.Actors.sln -c Release --no-restore --no-build \
    --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
    --results-directory "$PWD/$RESULTS_DIR" "$@" || rc=$?

  local -a trx_files=()
  local f
  while IFS= read -r -d '' f; do
    trx_files+=("$f")
  done < <(find "$RESULTS_DIR" -type f -name '*.trx' -print0)

  local passed=0 failed=0 skipped=0 found=0 status=0
  if ((${#trx_files[@]} == 0)); then
    echo "test.sh: no .trx file in $RESULTS_DIR: dotnet test produced no results" >&2
    status=1
  else
    local counts
    counts=$(trx_counts "${trx_files[@]}") || counts="0 0 0 0"
    read -r passed failed skipped found <<<"$counts"
    if ((found < ${#trx_files[@]})); then
      echo "test.sh: $((${#trx_files[@]} - found)) .trx file(s) without a <Counters> element (test run cut short?)" >&2
      status=1
    fi
  fi

  if ((rc != 0)); then
    echo "test.sh: dotnet test failed (exit $rc)" >&2
    status=$rc
  fi
  if ((failed > 0 && status == 0)); then
    status=1
  fi
  if ((passed + failed == 0)); then
    echo "test.sh: no test ran" >&2
    ((status != 0)) || status=1
  fi

  summary "$passed" "$failed" "$skipped"
  exit "$status"
}

# Sourcing the script (e.g. to check trx_counts) defines the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
