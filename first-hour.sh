#!/usr/bin/env bash
# A newcomer's first hour, as a script CI runs (.ci/run): the README's Install steps and its hosting
# quickstart, in a fresh project, against the packages of this checkout.
#   1. packs Dgram.Actors, Dgram.Rx and the dgram tool (Dgram.Cli) into a temporary folder;
#   2. `dotnet new worker`, `dotnet add package` from that folder (plus OpenTelemetry.Extensions.Hosting and
#      OpenTelemetry.Exporter.Console, which the quickstart uses), `dotnet tool install` of the packed tool;
#   3. pastes the README's quickstart into the project: the fenced blocks right below the markers
#      <!-- first-hour: appsettings.json --> and <!-- first-hour: Program.cs --> in README.md (the README is
#      what a newcomer pastes, so no copy is kept here), and builds it (restore needs the network: outside
#      any namespace; a C# warning in the README's code fails the run);
#   4. runs it inside a private network namespace holding the veth lab (lab/lab.sh, as test.sh does) and
#      sends five datagrams with the packed `dgram send` from lab0b (198.51.100.3) to 232.10.0.1:5101.
# What it checks (--help before the lab, the rest in it):
#   - the packed tool runs: `dgram --help` lists its commands, `dgram listen` prints a datagram that
#     `dgram send` sent (the tool package holds only the DLLs it loads, so a missing one shows here);
#   - started: the app logs "market-data: receiving" and its group 232.10.0.1 is in /proc/net/igmp on
#     lab0a, and the packed `dgram info --iface lab0a` lists it too;
#   - received: the app's log has each of the five payloads ("first-hour 1" … "first-hour 5");
#   - exported: the console exporter printed the instrument dgram.datagrams.received with the value 5
#     (OTEL_METRIC_EXPORT_INTERVAL=1000 makes it export every second instead of every 10 s);
#   - left the group at shutdown, by the library and not by the process's exit (which would drop it too):
#     after SIGTERM the app logs the socket's SocketStopped status event (the library's word that the
#     socket actor stopped for good), the group leaves /proc/net/igmp while the process is still running
#     (read every ~5 ms from SIGTERM to exit), and the process exits with 0.
# The last line is `first-hour: ok (…)` or `first-hour: FAILED: why`; exit 0, 1 (a check or a step
# failed) or 2 (cannot run here). About 2 minutes on 2 cores, most of it packing and restoring.
#   ./first-hour.sh [--keep]     (--keep leaves the temporary folder and prints where it is)
set -euo pipefail

readonly GROUP=232.10.0.1 PORT=5101 SOURCE=198.51.100.3 RX_IFACE=lab0a TX_IFACE=lab0b COUNT=5
readonly APP=FirstHour TOOL_GROUP=239.255.10.1 TOOL_PORT=5102

fail() {
  echo "first-hour: FAILED: $*"
  [[ -z ${REPORTED:-} ]] || : >"$REPORTED"
  exit 1
}

# fail, after printing the tail of the app's log to stderr.
fail_log() {
  tail -n 40 "$LOG" >&2
  fail "$* (the app's log tail is above)"
}

# Runs a command with its output in LOG; on failure prints the log's tail and fails naming STEP.
quiet() {
  local step=$1 log=$2
  shift 2
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$log" >&2
    fail "$step (exit $rc; the output's tail is above)"
  fi
}

elapsed() {
  echo "$((EPOCHSECONDS - FIRST_HOUR_START))s"
}

# /proc/net/igmp prints a group as the hex of its 32-bit value in host byte order under its device's line.
igmp_hex() {
  local -a o
  IFS=. read -r -a o <<<"$1"
  if [[ $(printf '\1\0' | od -An -tu2 | tr -d ' ') == 1 ]]; then
    printf '%02X%02X%02X%02X' "${o[3]}" "${o[2]}" "${o[1]}" "${o[0]}"
  else
    printf '%02X%02X%02X%02X' "${o[0]}" "${o[1]}" "${o[2]}" "${o[3]}"
  fi
}

# True while GROUP_HEX is listed under IFACE in /proc/net/igmp. Builtins only: it runs in a tight loop.
igmp_has() {
  local iface=$1 hex=$2 line device=""
  while IFS= read -r line; do
    if [[ $line =~ ^[0-9]+[[:space:]]+([^[:space:]]+)[[:space:]]*: ]]; then
      device=${BASH_REMATCH[1]}
    elif [[ $device == "$iface" && $line =~ ^[[:space:]]+$hex[[:space:]] ]]; then
      return 0
    fi
  done </proc/net/igmp
  return 1
}

# Waits up to SECONDS_MAX for CONDITION (a command), failing with WHAT; gives up early when PID ends.
wait_for() {
  local what=$1 seconds_max=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + seconds_max))
  until "$@"; do
    running "$pid" || fail_log "$what: the app exited first"
    ((SECONDS < deadline)) || fail_log "$what: not within ${seconds_max}s"
    sleep 0.1
  done
}

log_has() { grep -qF -- "$1" "$LOG"; }

# True while PID runs: not gone, not a zombie (kill -0 succeeds on a zombie). Builtins only.
running() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  [[ $stat != *") Z "* ]]
}

# The largest value the console exporter printed for the instrument NAME (nothing if never printed).
exported_value() {
  awk -v name="Metric Name: $1," '
    index($0, name) == 1 { inside = 1; next }
    /^Metric Name: / { inside = 0 }
    inside && /^Value: / { v = $2 + 0; if (!seen || v > max) max = v; seen = 1 }
    END { if (seen) print max }
  ' "$LOG"
}

exported_at_least() { local v; v=$(exported_value "$1"); [[ -n $v ]] && ((v >= $2)); }

# Inside the lab (lab/lab.sh execs this script with --in-lab TMP): runs the app and the checks.
in_lab() {
  local tmp=$1
  local dgram=$tmp/tools/dgram hex out n exported
  hex=$(igmp_hex "$GROUP")
  LOG=$tmp/app.log
  REPORTED=$tmp/failure-reported

  # The packed tool on its own first (its package leaves out what it never loads): listen gets what send sends.
  local tool_hex tool_pid
  tool_hex=$(igmp_hex "$TOOL_GROUP")
  LOG=$tmp/listen.log
  "$dgram" listen "$TOOL_GROUP" --port "$TOOL_PORT" --iface "$RX_IFACE" --count 1 --timeout 30 >"$LOG" 2>&1 &
  tool_pid=$!
  wait_for "the packed 'dgram listen' joining $TOOL_GROUP" 30 "$tool_pid" igmp_has "$RX_IFACE" "$tool_hex"
  quiet "dgram send to dgram listen" "$tmp/tool-send.log" "$dgram" send "$TOOL_GROUP" --port "$TOOL_PORT" --iface "$TX_IFACE" 'tool check'
  wait "$tool_pid" || fail_log "the packed 'dgram listen' failed"
  log_has "tool check" || fail_log "the packed 'dgram listen' did not print what 'dgram send' sent"
  LOG=$tmp/app.log

  cd "$tmp/$APP"
  : >"$LOG"
  OTEL_METRIC_EXPORT_INTERVAL=1000 dotnet "bin/Release/net10.0/$APP.dll" >"$LOG" 2>&1 &
  APP_PID=$!
  # The namespace ends with this script: never leave the app behind after a failed check.
  trap 'kill -KILL "$APP_PID" 2>/dev/null || true' EXIT

  wait_for "start (the log line 'market-data: receiving')" 60 "$APP_PID" log_has "market-data: receiving"
  wait_for "membership ($GROUP on $RX_IFACE in /proc/net/igmp)" 10 "$APP_PID" igmp_has "$RX_IFACE" "$hex"
  out=$("$dgram" info --iface "$RX_IFACE") || fail "the packed 'dgram info --iface $RX_IFACE' failed"
  [[ $out == *"$GROUP"* ]] || fail "the packed 'dgram info --iface $RX_IFACE' does not list $GROUP: $out"
  echo "first-hour: [$(elapsed)] the packed dgram listen printed what dgram send sent; the app runs in the lab and joined $GROUP on $RX_IFACE"

  quiet "dgram send" "$tmp/send.log" "$dgram" send "$GROUP" --port "$PORT" --iface "$TX_IFACE" --source "$SOURCE" \
    --count "$COUNT" --rate 50 'first-hour {n}'
  for ((n = 1; n <= COUNT; n++)); do
    wait_for "datagram 'first-hour $n' in the app's log" 10 "$APP_PID" log_has "first-hour $n"
  done
  wait_for "dgram.datagrams.received >= $COUNT from the console exporter" 15 "$APP_PID" \
    exported_at_least dgram.datagrams.received "$COUNT"
  exported=$(exported_value dgram.datagrams.received)
  ((exported == COUNT)) || fail_log "dgram.datagrams.received was exported as $exported, not $COUNT"
  echo "first-hour: [$(elapsed)] $COUNT/$COUNT datagrams logged, dgram.datagrams.received=$exported exported"

  # The group counts as left while running when a read of /proc/net/igmp without it is followed by the
  # process still running: read first, then look at the process.
  kill -TERM "$APP_PID"
  local left_while_running=0 deadline=$((SECONDS + 30)) rc=0 absent
  while running "$APP_PID"; do
    absent=0
    igmp_has "$RX_IFACE" "$hex" || absent=1
    ((absent)) && running "$APP_PID" && left_while_running=1
    ((SECONDS < deadline)) || fail_log "the app did not exit within 30 s of SIGTERM"
    sleep 0.005
  done
  wait "$APP_PID" || rc=$?
  trap - EXIT
  ((rc == 0)) || fail_log "the app exited with $rc after SIGTERM"
  log_has "SocketStopped { Socket = market-data }" || fail_log "no SocketStopped status for market-data in the app's log"
  ! igmp_has "$RX_IFACE" "$hex" || fail "$GROUP is still in /proc/net/igmp on $RX_IFACE after the app exited"
  ((left_while_running)) ||
    fail "$GROUP left /proc/net/igmp only when the process exited, not when the library stopped the socket"
  echo "first-hour: [$(elapsed)] SIGTERM: SocketStopped logged, $GROUP left $RX_IFACE before the process exited, exit 0"
}

main() {
  cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1
  export FIRST_HOUR_START=${FIRST_HOUR_START:-$EPOCHSECONDS}

  if [[ ${1:-} == --in-lab ]]; then
    in_lab "$2"
    return
  fi
  local keep=0
  case ${1:-} in
    --keep) keep=1 ;;
    "") ;;
    *)
      echo "usage: ./first-hour.sh [--keep]" >&2
      exit 2
      ;;
  esac

  command -v dotnet >/dev/null 2>&1 || {
    echo "first-hour: FAILED: dotnet not found on PATH (install the .NET SDK named in global.json)"
    exit 2
  }
  source lab/netns.sh
  lab_netns || {
    echo "first-hour: FAILED: cannot create a private network namespace (need root for 'unshare -n' or unprivileged user namespaces for 'unshare -rn')"
    exit 2
  }

  # A version of its own per run: NuGet caches packages by id and version, so a fixed one would let a
  # package cached by an earlier run stand in for the one packed now. Those cache entries go at exit.
  local base version cache
  base=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
  [[ -n $base ]] || fail "no <Version> in Directory.Build.props"
  version=$base-first-hour-$(date +%Y%m%d%H%M%S)-$$
  cache=$(dotnet nuget locals global-packages --list)
  cache=${cache#global-packages: }
  TMP=$(mktemp -d -t first-hour.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the names are fixed for this run
  trap "cleanup $keep '$cache' '$version'" EXIT
  # A fresh project must not inherit this repository's Directory.*.props (central versions, warnings as errors).
  [[ $TMP/ != "$PWD"/* ]] || fail "the temporary folder $TMP is inside this repository (TMPDIR): a fresh project must live outside it"

  # One build of the three packages (a solution filter), a package version of this run's own: the
  # assemblies keep the version of Directory.Build.props, so the build is the one test.sh reuses.
  local p
  printf '{ "solution": { "path": "%s", "projects": [ %s ] } }\n' "$PWD/Dgram.Actors.sln" \
    '"src/Dgram.Actors/Dgram.Actors.csproj", "src/Dgram.Rx/Dgram.Rx.csproj", "src/Dgram.Cli/Dgram.Cli.csproj"' \
    >"$TMP/packages.slnf"
  quiet "dotnet pack" "$TMP/pack.log" dotnet pack "$TMP/packages.slnf" -c Release -o "$TMP/packages" -p:PackageVersion="$version"
  if grep -q ': warning ' "$TMP/pack.log"; then
    grep ': warning ' "$TMP/pack.log" | sort -u >&2
    fail "packing gave warnings (above)"
  fi
  for p in Dgram.Actors Dgram.Rx Dgram.Cli; do
    [[ -f $TMP/packages/$p.$version.nupkg && -f $TMP/packages/$p.$version.snupkg ]] || fail "dotnet pack made no $p.$version.nupkg and .snupkg"
  done
  echo "first-hour: [$(elapsed)] packed Dgram.Actors, Dgram.Rx, Dgram.Cli $version"

  # The README's steps; --no-restore where a later step restores anyway (each restore takes seconds).
  # `--source` replaces the feeds for its restore: the packages' dependencies come from NuGet's cache,
  # which the pack above and the OpenTelemetry restore filled.
  local project=$TMP/$APP/$APP.csproj
  quiet "dotnet new worker" "$TMP/new.log" dotnet new worker --name "$APP" --output "$TMP/$APP" --no-restore
  quiet "dotnet add package OpenTelemetry.Extensions.Hosting" "$TMP/add-otel-hosting.log" \
    dotnet add "$project" package OpenTelemetry.Extensions.Hosting --version 1.20.1 --no-restore
  quiet "dotnet add package OpenTelemetry.Exporter.Console" "$TMP/add-otel-console.log" \
    dotnet add "$project" package OpenTelemetry.Exporter.Console --version 1.20.1
  quiet "dotnet add package Dgram.Actors" "$TMP/add-actors.log" \
    dotnet add "$project" package Dgram.Actors --version "$version" --no-restore
  quiet "dotnet add package Dgram.Rx" "$TMP/add-rx.log" \
    dotnet add "$project" package Dgram.Rx --version "$version" --source "$TMP/packages"
  quiet "dotnet tool install Dgram.Cli" "$TMP/tool.log" \
    dotnet tool install --tool-path "$TMP/tools" --add-source "$TMP/packages" --version "$version" Dgram.Cli
  local help
  help=$("$TMP/tools/dgram" --help) || fail "the packed tool's 'dgram --help' failed"
  [[ $help == *listen*send*info* ]] || fail "the packed tool's 'dgram --help' does not list listen, send, info: $help"
  echo "first-hour: [$(elapsed)] worker project with the packages, dgram tool installed"

  local file
  for file in appsettings.json Program.cs; do
    readme_block "$file" "$TMP/$APP/$file"
  done
  quiet "dotnet build of the quickstart" "$TMP/build.log" dotnet build "$project" -c Release --no-restore
  if grep -q 'warning CS' "$TMP/build.log"; then
    grep 'warning CS' "$TMP/build.log" | sort -u >&2
    fail "the README's quickstart code compiles with warnings (above)"
  fi
  echo "first-hour: [$(elapsed)] the README's quickstart builds"

  local rc=0
  "${LAB_NETNS[@]}" lab/lab.sh "$PWD/first-hour.sh" --in-lab "$TMP" || rc=$?
  if ((rc != 0)); then
    [[ -e $TMP/failure-reported ]] || fail "the run in the lab ended with exit $rc (lab/lab.sh's message is above)"
    exit 1
  fi
  echo "first-hour: ok ($COUNT datagrams received and logged, a dgram. metric exported, the group left at shutdown; $(elapsed))"
}

# Writes to OUT the fenced block right below <!-- first-hour: FILE --> in README.md (one such marker).
readme_block() {
  local marker="<!-- first-hour: $1 -->" out=$2 count
  count=$(grep -cxF -- "$marker" README.md || true)
  ((count == 1)) || fail "README.md has $count lines '$marker' (one is needed, right above the block)"
  awk -v marker="$marker" '
    $0 == marker { state = 1; next }
    state == 1 { if ($0 !~ /^```/) exit 3; state = 2; next }
    state == 2 && /^```/ { state = 3; exit }
    state == 2 { print }
    END { if (state != 3) exit 3 }
  ' README.md >"$out" || fail "README.md: no fenced block right below '$marker'"
}

cleanup() {
  local keep=$1 cache=$2 version=$3 id
  for id in dgram.actors dgram.rx dgram.cli; do
    rm -rf "${cache%/}/$id/${version,,}"
    rmdir --ignore-fail-on-non-empty "${cache%/}/$id" 2>/dev/null || true
  done
  if ((keep)); then
    echo "first-hour: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}

main "$@"
