#!/usr/bin/env bash
# The cluster bridge's benchmark (issue 16, item 11) and its physical reference: one multicast group carried
# from site A's segment to site B's segment, by the kernel's multicast routing (mode kernel_route: a router
# namespace with a leg on each segment, smcrouted holding an (S,G) route) or, once it is built, by the cluster
# bridge (mode bridge: a bridge node on each segment, the nodes joined over a routed WAN link).
#
#   ./bench.sh --only bridge [--quick] [--reps N] [--save]     (this script runs inside bench.sh's namespace)
#   benchmarks/bridge.sh [--quick] [--reps N] [--steer MASK] [--modes kernel_route[,bridge]] [--native DIR]
#
# Topology (child namespaces of the lab namespace, each held by an `unshare -n sleep infinity` process; veth
# ends moved in by PID, configured with nsenter; nothing here uses `ip netns` or touches the host):
#
#   site A (br0 203.0.113.17/28, no snooping)          site B (br0 203.0.113.33/28, no snooping)
#     |- tx   203.0.113.18  the paced C sender           |- rx   203.0.113.34  the C receiver
#     |- seg  203.0.113.19  the segment receiver         |
#     |- A's leg 203.0.113.20 ----- path ----- B's leg 203.0.113.35 -|
#   site A wanA 192.0.2.5/30 ----------- WAN (unicast only) ----------- 192.0.2.6/30 wanB site B
#
#   kernel_route: both legs belong to one router namespace; smcrouted forwards (203.0.113.18, G) rtA -> rtB.
#   bridge:       each leg is a host of its own (a bridge node); the nodes reach each other over the WAN.
#
# Figures, 64 B datagrams, the sender pinned to core 0, the receiver (and, with steering, every device's receive
# work: bridges, the router, the hosts) on core 1, as bench.sh does:
#   ceiling MODE_64=MEDIAN (MIN-MAX)     the lossless ceiling (loss <= 0.1 %), bench.sh's sweep, per repetition
#   latency MODE p50_us= p99_us= max_us= one-way latency at 10k/s (pace --stamp, sink --latency), medians
#   latency segment ...                  the same from the sender to a receiver on its own segment (the baseline)
#   added_latency MODE p50_us= p99_us=   MODE minus segment, per repetition (paired), medians
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

die() {
  echo "bridge.sh: $*" >&2
  exit 1
}

quick=0 reps=3 steer=2 modes=kernel_route native=benchmarks/native/bin
while (($# > 0)); do
  case $1 in
    --quick) quick=1 ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --steer) steer=${2:?--steer needs a cpu mask}; shift ;;
    --modes) modes=${2:?--modes needs a list}; shift ;;
    --native) native=${2:?--native needs a directory}; shift ;;
    *) die "unknown option '$1' (see the head of this script)" ;;
  esac
  shift
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps: '$reps' is not a positive number"
# Child namespaces and veth pairs are made here first: only inside the lab's private namespace.
[[ ${DGRAM_LAB:-} == 1 ]] || die "run me inside the lab namespace: ./bench.sh --only bridge"
for tool in smcrouted smcroutectl nsenter unshare taskset; do
  command -v "$tool" >/dev/null || die "missing $tool (Debian: apt-get install smcroute util-linux; ./bench.sh installs it)"
done
for bin in pace sink; do [[ -x $native/$bin ]] || die "missing $native/$bin (./bench.sh builds it)"; done

readonly SENDER_CORE=0 PATH_CORE=1 SIZE=64 GROUP=239.255.16.1 SOURCE=203.0.113.18 TTL=8
readonly LATENCY_RATE=10000 RCVBUF=$((4 << 20))
if ((quick)); then
  step_seconds=0.3 precision=1.25 warm_seconds=0.2 latency_seconds=0.5
else
  step_seconds=1.0 precision=1.05 warm_seconds=3.0 latency_seconds=3.0
fi

tmp=$(mktemp -d /tmp/dgram-bridge.XXXXXX)
declare -A NS=() # namespace name -> holder pid
daemons=()        # pids of what runs inside the namespaces (smcrouted, bridge nodes), ended before the holders
cleanup() {
  local pid ended=()
  for pid in "${daemons[@]}" "${NS[@]}"; do kill "$pid" 2>/dev/null && ended+=("$pid"); done
  for pid in "${ended[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------------------
# Namespaces

# ns, holder, sysctl_in and site (a segment: a bridge without snooping, routing unicast).
source lab/sites-lib.sh

# attach NAME SITE N SITE_NUMBER IFACE: a veth port of SITE's bridge whose other end, IFACE in namespace NAME,
# has 203.0.113.16*SITE_NUMBER+N/28. The pair is made here and each end moved in by its holder's pid.
# gso_max_segs 1: a veth otherwise passes a UDP GSO send (64 datagrams) on as one packet through the bridge
# and the router, to be split only at the receiving socket (measured: 99,584 datagrams crossed the router as
# 1,559 packets, and the route's "ceiling" was 673k/s). With it the sending device splits each send, and every
# datagram crosses the segments and the router as a packet of its own, as on a wire.
attach() {
  local name=$1 site=$2 n=$3 number=$4 iface=$5
  ip link add "$iface" gso_max_segs 1 type veth peer name "$iface-p" gso_max_segs 1
  ip link set "$iface" netns "${NS[$name]}"
  ip link set "$iface-p" netns "${NS[$site]}"
  ns "$site" ip link set "$iface-p" master br0
  ns "$site" ip link set "$iface-p" up
  ns "$name" ip addr add "203.0.113.$((16 * number + n))/28" dev "$iface"
  ns "$name" ip link set "$iface" up
}

# host NAME SITE SITE_NUMBER N IFACE: a namespace on SITE's segment, default route via the site.
host() {
  local name=$1 site=$2 number=$3 n=$4 iface=$5
  holder "$name"
  attach "$name" "$site" "$n" "$number" "$iface"
  ns "$name" ip route add default via "203.0.113.$((16 * number + 1))"
}

# Receive steering (RPS) as bench.sh sets it in its namespace, for every device of every child namespace:
# rps_cpus lives in a sysfs of that namespace, mounted in a mount namespace of its own.
steer_all() {
  local name
  for name in "${!NS[@]}"; do
    ns "$name" unshare -m sh -c "mount -t sysfs sysfs /sys && for q in /sys/class/net/*/queues/rx-*/rps_cpus; do echo $steer >\"\$q\"; done"
  done
}

# The segments, the sender, the receivers and the WAN: the same for every mode.
segments_up() {
  site siteA 1
  site siteB 2
  host tx siteA 1 2 tx0   # 203.0.113.18, the sender
  host seg siteA 1 3 seg0 # 203.0.113.19, the segment receiver (the latency baseline)
  host rx siteB 2 2 rx0   # 203.0.113.34, the receiver on site B
  # The WAN: a routed link between the sites, unicast only (nothing routes multicast over it).
  ip link add wanA type veth peer name wanB
  ip link set wanA netns "${NS[siteA]}"
  ip link set wanB netns "${NS[siteB]}"
  ns siteA ip addr add 192.0.2.5/30 dev wanA
  ns siteB ip addr add 192.0.2.6/30 dev wanB
  ns siteA ip link set wanA up
  ns siteB ip link set wanB up
  ns siteA ip route add 203.0.113.32/28 via 192.0.2.6
  ns siteB ip route add 203.0.113.16/28 via 192.0.2.5
}

# ---------------------------------------------------------------------------------------------------------------
# The path under test: path_up_MODE builds it on the segments (after segments_up), path_down_MODE removes it.

# kernel_route: a router namespace with leg rtA on site A's segment (.20) and rtB on site B's (.35); smcrouted
# in it, foreground, its socket, pid file and (empty) configuration in a temporary directory, forwards
# (203.0.113.18, G) from rtA to rtB. The sender's TTL (8) passes the interfaces' threshold (1).
path_up_kernel_route() {
  holder router
  attach router siteA 4 1 rtA
  attach router siteB 3 2 rtB
  : >"$tmp/smcroute.conf"
  ns router smcrouted -n -i dgram-bench -f "$tmp/smcroute.conf" -u "$tmp/smcroute.sock" -P "$tmp/smcroute.pid" -l notice \
    >"$tmp/smcrouted.log" 2>&1 &
  daemons+=($!)
  local i
  for ((i = 0; i < 500; i++)); do
    [[ -S $tmp/smcroute.sock ]] && break
    sleep 0.01
  done
  [[ -S $tmp/smcroute.sock ]] || die "smcrouted did not start: $(cat "$tmp/smcrouted.log")"
  ns router smcroutectl -u "$tmp/smcroute.sock" add rtA "$SOURCE" "$GROUP" rtB ||
    die "smcroutectl add failed: $(cat "$tmp/smcrouted.log")"
  ns router ip mroute show | grep -q "($SOURCE,$GROUP)" || die "no ($SOURCE,$GROUP) in the router's multicast routes"
}

path_down_kernel_route() {
  ns router smcroutectl -u "$tmp/smcroute.sock" kill >/dev/null 2>&1 || true
  kill "${NS[router]}" 2>/dev/null || true
  wait "${NS[router]}" 2>/dev/null || true
  unset 'NS[router]'
}

# bridge: the cluster bridge (src/Dgram.Cluster, run as samples/Dgram.Bridge), one node per site: nodeA on site
# A's segment (203.0.113.20, nodeA0), nodeB on site B's (203.0.113.35, nodeB0), each a single-node cluster of its
# own; the sites' clusters talk over the WAN (ClusterClient to the other site's receptionist). Both nodes carry the
# group both ways (Ingress and Emit on both, as a deployment would): A's ingress takes the sender's datagrams to
# B's re-emitter, which sends them onto B's segment (TTL 1, its own source address); B's ingress blocks B's own
# address, so nothing comes back. The group has one port ($BRIDGE_PORT): in this mode every receiver binds it.
# The nodes run on both cores (taskset -c 0,1: the sender's core and the receiver's), as the sender and the
# receiver they share them with are pinned.
readonly BRIDGE_PORT=31999 NODE_CORES=0,1 NODE_DLL=samples/Dgram.Bridge/bin/Release/net10.0/Dgram.Bridge.dll
declare -A NODE_PID=()
sent_total=0 # datagrams the sender sent in bridge mode (every step, probe and latency run), for the counters

# node_config SITE OTHER ADDRESS IFACE OTHER_ADDRESS: a node's JSON (BridgeLab.WriteConfig's shape).
node_config() {
  local site=$1 other=$2 address=$3 iface=$4 other_address=$5
  cat <<JSON
{
  "Node": { "Hostname": "$address", "Port": 4053, "SeedNodes": ["akka.tcp://dgram@$address:4053"] },
  "DgramBridge": {
    "Site": "$site", "Interface": "$iface", "EmitterAddresses": ["$address"],
    "Peers": { "$other": ["akka.tcp://dgram@$other_address:4053"] },
    "Groups": [ { "Name": "bench", "Group": "$GROUP", "Port": $BRIDGE_PORT, "Ttl": 1, "Sources": [], "Ingress": true, "Emit": true } ],
    "StatsInterval": "00:00:01"
  }
}
JSON
}

# node_start NAME SITE OTHER ADDRESS IFACE OTHER_ADDRESS: the node in namespace NAME, output in $tmp/NAME.log.
# nsenter and taskset exec, so the pid is dotnet's (SIGTERM reaches the node itself).
node_start() {
  local name=$1
  node_config "$2" "$3" "$4" "$5" "$6" >"$tmp/$name.json"
  nsenter -t "${NS[$name]}" -n -- taskset -c "$NODE_CORES" dotnet "$NODE_DLL" --config "$tmp/$name.json" >"$tmp/$name.log" 2>&1 &
  NODE_PID[$name]=$!
  daemons+=($!)
}

# node_wait NAME PATTERN: until NAME's log has a line matching PATTERN (the node's own event), at most 60 s.
node_wait() {
  local name=$1 pattern=$2 i
  for ((i = 0; i < 600; i++)); do
    grep -q -- "$pattern" "$tmp/$name.log" && return 0
    kill -0 "${NODE_PID[$name]}" 2>/dev/null || die "node $name exited before '$pattern': $(tail -5 "$tmp/$name.log")"
    sleep 0.1
  done
  die "node $name: no '$pattern' within 60 s: $(tail -5 "$tmp/$name.log")"
}

path_up_bridge() {
  [[ -f $NODE_DLL ]] || die "missing $NODE_DLL (./bench.sh builds it)"
  fixed_port=$BRIDGE_PORT sent_total=0
  host nodeA siteA 1 4 nodeA0 # 203.0.113.20
  host nodeB siteB 2 3 nodeB0 # 203.0.113.35
  node_start nodeA a b 203.0.113.20 nodeA0 203.0.113.35
  node_start nodeB b a 203.0.113.35 nodeB0 203.0.113.20
  local clock=$SECONDS count=0 i
  node_wait nodeA "bridge-node: member up"
  node_wait nodeB "bridge-node: member up"
  node_wait nodeA "bridge: ingress started group=bench"
  node_wait nodeB "bridge: emitter started group=bench"
  # Warm-up: 100 datagrams at a time until one crosses (the ClusterClient found B's receptionist), at most 60 s.
  sink_start rx rx0
  for ((i = 0; i < 600 && count == 0; i++)); do
    pace 1000 0.1
    sleep 0.02
    mark
    count=$(field count "$reply")
  done
  sink_stop
  ((count > 0)) || die "the bridge carried nothing to site B within 60 s: $(tail -3 "$tmp/nodeA.log") / $(tail -3 "$tmp/nodeB.log")"
  echo "# bridge: nodes up and carrying after $((SECONDS - clock)) s (nodes on cores $NODE_CORES; Ingress and Emit on both; A's ingress -> B's re-emitter)"
}

# counters LINE NAME...: "NAME=VALUE ..." from a counter line ("?" for one it lacks).
counters() {
  local line=$1 name out=()
  shift
  for name in "$@"; do
    if [[ $line =~ (^|[[:space:]])$name=([^[:space:]]+) ]]; then out+=("$name=${BASH_REMATCH[2]}"); else out+=("$name=?"); fi
  done
  echo "${out[*]}"
}

# The last counter line of ROLE (ingress, emitter) on site SITE in NAME's log, without the log's prefix.
last_counters() { grep -o "bridge: $2 group=bench site=$3 .*" "$tmp/$1.log" | tail -1; }

# accounting_bridge: where datagrams are lost at fixed rates (ACCOUNT_RATES, 3 s each): what the sender sent, what
# arrived at site B's receiver, and the change of the nodes' counters over the step (read 1.3 s before and after it,
# the counters being logged every second): A's ingress received (the rest overflowed its socket) and sent, its drops
# (queue: the ingress actor's mailbox full; window: MaxInFlightEnvelopes unacknowledged), B's emitted and lost.
readonly ACCOUNT_RATES="50000 100000 150000 200000"
accounting_bridge() {
  local rate a0 b0 a1 b1 c0 f d
  key=bridge_accounting rep=0
  for rate in $ACCOUNT_RATES; do
    sink_start rx rx0
    sleep 1.3 # the previous traffic's counters logged
    a0=$(last_counters nodeA ingress a) b0=$(last_counters nodeB emitter b)
    mark
    c0=$(field count "$reply")
    pace "$rate" 3
    sleep 1.3
    mark
    a1=$(last_counters nodeA ingress a) b1=$(last_counters nodeB emitter b)
    sink_stop
    d=
    for f in received sent drops_queue drops_window written_off; do d+=" $f=$(($(field $f "$a1") - $(field $f "$a0")))"; done
    d+=" emitter_b"
    for f in emitted lost duplicates; do d+=" $f=$(($(field $f "$b1") - $(field $f "$b0")))"; done
    echo "bridge_accounting rate=$rate offered=$(field offered_rate "$paced") sent=$(field sent "$paced") arrived=$(($(field count "$reply") - c0)) ingress_a$d"
  done
}

# profile_bridge: the accounting above, then where the nodes' time goes at the goal rate (PROFILE_RATE, 3 s, into site B):
# per node and thread name, CPU as % of one core (utime + stime of /proc/PID/task/*, threads of one name summed,
# their number in brackets; 2 % and more), each core's busy share (/proc/stat), and what arrived of what was sent.
readonly PROFILE_RATE=200000
thread_ticks() {
  local name d st rest f
  for name in nodeA nodeB; do
    for d in /proc/"${NODE_PID[$name]}"/task/*; do
      st=$(<"$d/stat") || continue
      rest=${st##*) }
      read -r -a f <<<"$rest"
      printf '%s\t%s\t%s\t%s\n' "$name" "${d##*/}" "$((f[11] + f[12]))" "$(<"$d/comm")"
    done
  done
}
core_ticks() { awk '/^cpu[0-9]/ { print $1, $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
profile_bridge() {
  local t0 t1 seconds hz
  accounting_bridge
  hz=$(getconf CLK_TCK)
  key=bridge_profile rep=0
  sink_start rx rx0
  mark
  local c0
  c0=$(field count "$reply")
  thread_ticks >"$tmp/threads0"
  core_ticks >"$tmp/cores0"
  t0=$EPOCHREALTIME
  pace "$PROFILE_RATE" 3
  t1=$EPOCHREALTIME
  thread_ticks >"$tmp/threads1"
  core_ticks >"$tmp/cores1"
  sleep 0.02
  mark
  sink_stop
  seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  echo "bridge_profile rate=$PROFILE_RATE offered=$(field offered_rate "$paced") sent=$(field sent "$paced") arrived=$(($(field count "$reply") - c0)) cores $(join -j1 "$tmp/cores0" "$tmp/cores1" |
    awk '{ printf "%s=%.0f%% ", $1, 100 * ($4 - $2) / ($5 - $3) }')"
  awk -F'\t' -v hz="$hz" -v s="$seconds" 'NR == FNR { t0[$1 FS $2] = $3; next }
    { d = $3 - t0[$1 FS $2]; k = $1 FS $4; cpu[k] += d; n[k]++ }
    END { for (k in cpu) { p = 100 * cpu[k] / hz / s; if (p >= 2) { split(k, a, FS); printf "bridge_profile %s thread=\"%s\"[%d] cpu=%.0f%%\n", a[1], a[2], n[k], p } } }' \
    "$tmp/threads0" "$tmp/threads1" | sort -t= -k3 -rn
}

# path_down_bridge: the nodes stopped (SIGTERM, each must leave
# and exit 0), then the bridge's own counters: what A's ingress took and sent, what B's re-emitter emitted, lost
# (gaps in the origin's sequence) and dropped as duplicates, against what the sender sent in this mode.
path_down_bridge() {
  local name code ingress emitter
  for name in nodeA nodeB; do
    kill -TERM "${NODE_PID[$name]}" 2>/dev/null || true
  done
  for name in nodeA nodeB; do
    code=0
    wait "${NODE_PID[$name]}" || code=$?
    ((code == 0)) || echo "# bridge: node $name exited $code after SIGTERM: $(tail -3 "$tmp/$name.log")"
  done
  fixed_port=
  ingress=$(last_counters nodeA ingress a)
  emitter=$(last_counters nodeB emitter b)
  echo "bridge_counters sender_sent=$sent_total ingress_a $(counters "$ingress" received sent drops_queue drops_window written_off) emitter_b $(counters "$emitter" emitted lost duplicates send_failures)"
  echo "# bridge counters (the nodes' last lines): ${ingress:-none} | ${emitter:-none}"
  for name in nodeA nodeB; do
    kill "${NS[$name]}" 2>/dev/null || true
    wait "${NS[$name]}" 2>/dev/null || true
    unset "NS[$name]"
  done
}
# ===============================================================================================================

# ---------------------------------------------------------------------------------------------------------------
# The C receiver (sink.c's mark protocol over two fifos) and the C sender (pace.c)

port=31000 fixed_port=
sink_pid=
# sink_start NAME IFACE [--latency]: the receiver in NAME joined to the group on IFACE, on a fresh port, core 1.
sink_start() {
  local name=$1 iface=$2 line
  shift 2
  port=${fixed_port:-$((port + 1))}
  rm -f "$tmp/sink.in" "$tmp/sink.out"
  mkfifo "$tmp/sink.in" "$tmp/sink.out"
  ns "$name" taskset -c "$PATH_CORE" "$native/sink" --bind "$GROUP" --port "$port" --group "$GROUP" --iface "$iface" \
    --rcvbuf "$RCVBUF" "$@" <"$tmp/sink.in" >"$tmp/sink.out" 2>"$tmp/sink.err" &
  sink_pid=$!
  exec {sink_w}>"$tmp/sink.in" {sink_r}<"$tmp/sink.out"
  read -r -t 10 line <&"$sink_r" && [[ $line == ready* ]] || die "the sink in $name did not start: $(cat "$tmp/sink.err")"
}

sink_stop() {
  echo quit >&"$sink_w" || true
  wait "$sink_pid" || true
  exec {sink_w}>&- {sink_r}<&-
}

# mark: the sink's reply to "mark" in $reply.
mark() {
  echo mark >&"$sink_w"
  read -r -t 10 reply <&"$sink_r" || die "the sink did not answer a mark: $(cat "$tmp/sink.err")"
}

# field NAME TEXT: the value of NAME=... in TEXT.
field() {
  [[ $2 =~ (^|[[:space:]])$1=([^[:space:]]+) ]] || die "no $1= in '$2'"
  echo "${BASH_REMATCH[2]}"
}

# pace RATE SECONDS [ARGS...]: the sender in tx, core 0, out of tx0 with TTL 8; its line in $paced.
pace() {
  local rate=$1 seconds=$2
  shift 2
  paced=$(ns tx taskset -c "$SENDER_CORE" "$native/pace" --dest "$GROUP" --port "$port" --size "$SIZE" \
    --seconds "$seconds" --rate "$rate" --source "$SOURCE" --iface tx0 --ttl "$TTL" "$@") || die "pace failed at $rate/s"
  sent_total=$((sent_total + $(field sent "$paced")))
}

# step RATE: one paced step into the running sink as Dgram.Bench's Measure.StepAsync does it: what arrived within
# 20 ms of the sender stopping counts, then the sink drains (two 20 ms polls without change). Sets step_sent,
# step_received, step_offered (datagrams/s the sender achieved) and step_lossless (loss <= 0.1 %).
step() {
  local rate=$1 c0 c1 last still=0
  mark
  c0=$(field count "$reply")
  pace "$rate" "$step_seconds"
  sleep 0.02
  mark
  c1=$(field count "$reply")
  last=$c1
  while ((still < 2)); do
    sleep 0.02
    mark
    if [[ $(field count "$reply") == "$last" ]]; then still=$((still + 1)); else still=0; fi
    last=$(field count "$reply")
  done
  step_sent=$(field sent "$paced")
  step_received=$((c1 - c0))
  step_offered=$(awk -v n="$step_sent" -v s="$(field seconds "$paced")" 'BEGIN { printf "%.0f", n / s }')
  step_lossless=0
  (((step_sent - step_received) * 1000 <= step_sent)) && step_lossless=1
  echo "  $key rep $rep: asked $rate/s, offered $step_offered/s, got $step_received of $step_sent" >&2
  ((step_sent > 0)) || die "the sender sent nothing at $rate/s: $paced"
}

# ---------------------------------------------------------------------------------------------------------------
# The ceiling: Dgram.Bench's Sweep.FindAsync (benchmarks/Dgram.Bench/Run/Sweep.cs) in bash, rates in whole
# datagrams/s. Without a hint: from 100k/s, doubling up to 3.2M/s until a step is lossy or the sender falls 10 %
# short, halving down if the first step is lossy; with a hint (the previous repetition's ceiling), the bracket
# starts at hint/1.3 and hint*1.3. Then bisection on a log scale to the precision. The ceiling is the best
# lossless offered rate below every lossy one; steps at 1.3x it (up to six) give the sender-limited check its
# evidence: a ceiling the sender never offered 1.2x of is the sender's, not the path's.

# lossless_at RATE: a step, remembered; succeeds when it was lossless.
lossless_at() {
  step "$1"
  offered+=("$step_offered")
  lossless+=("$step_lossless")
  ((step_lossless))
}

# best: the best lossless offered rate below the lowest lossy one (0 if none).
best() {
  local i low=999999999 b=0
  for i in "${!offered[@]}"; do ((lossless[i] || offered[i] >= low)) || low=${offered[i]}; done
  for i in "${!offered[@]}"; do ((lossless[i] && offered[i] < low && offered[i] > b)) && b=${offered[i]}; done
  echo "$b"
}

max_offered() {
  local o m=0
  for o in "${offered[@]}"; do ((o > m)) && m=$o; done
  echo "$m"
}

# climb: up from lo (lossless) to hi; sets lo and hi (hi == lo: the sender, not the path, was the limit).
climb() {
  while ((hi <= 3200000)); do
    lossless_at "$hi" || return 0
    lo=$hi
    if ((step_offered * 10 < hi * 9)); then hi=$lo; return 0; fi
    hi=$((hi * 2))
  done
  hi=$lo
}

# sweep HINT: sets sweep_rate (the ceiling) and sweep_max (the most the sender offered).
sweep() {
  local hint=$1 asked i
  offered=() lossless=()
  if ((hint > 0)); then
    lo=$((hint * 10 / 13)) hi=$((hint * 13 / 10))
    while ((lo > 1000)) && ! lossless_at "$lo"; do hi=$lo lo=$((lo / 2)); done
    ((lo > 1000)) && climb
  else
    lo=0 hi=100000
    climb
    while ((lo == 0 && hi > 1000)); do
      hi=$((hi / 2))
      if lossless_at "$hi"; then lo=$hi hi=$((hi * 2)); fi
    done
  fi
  while ((lo > 1000)) && awk -v l="$lo" -v h="$hi" -v p="$precision" 'BEGIN { exit !(h / l > p) }'; do
    mid=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.0f", sqrt(l * h) }')
    if lossless_at "$mid"; then lo=$mid; else hi=$mid; fi
  done
  for ((i = 0; i < 6; i++)); do
    local b
    b=$(best)
    ((b > 0 && $(max_offered) * 10 < b * 12)) || break
    asked=$((b * 13 / 10))
    lossless_at "$asked" || break
    ((step_offered * 10 >= asked * 9)) || break
  done
  sweep_rate=$(best) sweep_max=$(max_offered)
}

# spread FORMAT VALUES...: "MEDIAN (MIN-MAX)" as Dgram.Bench's Spread prints it.
spread() {
  local format=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v f="$format" '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf f " (" f "-" f ")\n", m, v[1], v[NR] }'
}

# ceiling MODE: the receiver on site B, a warm-up step, then reps sweeps (each from the previous ceiling).
# Prints `ceiling MODE_64=...`; leaves each repetition's ceiling in ceilings_MODE (sender-limited ones as -1).
ceiling() {
  local mode=$1 hint=0 valid=() all=() maxes=() limited=0 r
  key=${mode}_$SIZE rep=warm-up
  sink_start rx rx0
  step 100000
  declare -ga "ceilings_$mode"
  local -n reps_out=ceilings_$mode
  reps_out=()
  for ((rep = 0; rep < reps; rep++)); do
    sweep "$hint"
    hint=$sweep_rate
    all+=("$sweep_rate")
    maxes+=("$sweep_max")
    if ((sweep_max * 10 < sweep_rate * 12)); then
      limited=$((limited + 1))
      reps_out+=(-1)
      echo "$key rep $rep: ceiling $sweep_rate/s, sender offered at most $sweep_max/s (sender-limited)" >&2
    else
      valid+=("$sweep_rate")
      reps_out+=("$sweep_rate")
      echo "$key rep $rep: ceiling $sweep_rate/s, sender offered at most $sweep_max/s" >&2
    fi
  done
  sink_stop
  if ((${#valid[@]} == 0)); then
    r=$(spread %.0f "${all[@]}")
    echo "ceiling $key=sender_limited (lossless at ${r%% *}, sender offered at most $(spread %.0f "${maxes[@]}" | cut -d' ' -f1))"
  elif ((limited > 0)); then
    echo "ceiling $key=$(spread %.0f "${valid[@]}"); $limited of $reps repetitions sender_limited"
  else
    echo "ceiling $key=$(spread %.0f "${valid[@]}")"
  fi
}

# ---------------------------------------------------------------------------------------------------------------
# Latency: one-way, at 10k/s, one datagram per call (sendto: GSO's first call would send a 64-datagram burst
# that alone fills the top 1 % of a short run), each datagram stamped with its send time.

# latency_once NAME IFACE: the sink (--latency) in NAME on IFACE, a warm-up, then a measured run; sets lat_p50,
# lat_p99, lat_max (µs) and lat_lost (datagrams sent but not received within 20 ms).
latency_once() {
  local name=$1 iface=$2 c0 n
  sink_start "$name" "$iface" --latency
  pace "$LATENCY_RATE" "$warm_seconds" --mode sendto --stamp
  sleep 0.02
  mark
  c0=$(field count "$reply")
  pace "$LATENCY_RATE" "$latency_seconds" --mode sendto --stamp
  sleep 0.02
  mark
  sink_stop
  n=$(field lat_n "$reply")
  lat_p50=$(field p50_us "$reply") lat_p99=$(field p99_us "$reply") lat_max=$(field max_us "$reply")
  lat_lost=$(($(field sent "$paced") - ($(field count "$reply") - c0)))
  echo "  latency in $name: $n datagrams, p50 $lat_p50 µs, p99 $lat_p99 µs, max $lat_max µs, lost $lat_lost" >&2
  ((n > 0)) || die "latency in $name: nothing arrived"
}

seg_p50=() seg_p99=() seg_max=()
# latency MODE: reps pairs (segment, then MODE's receiver on site B); prints `latency MODE` and `added_latency
# MODE` (per repetition MODE minus the segment of the same repetition); keeps the segment's figures for the end.
latency() {
  local mode=$1 p50=() p99=() max=() add50=() add99=() lost=0
  for ((rep = 0; rep < reps; rep++)); do
    latency_once seg seg0
    seg_p50+=("$lat_p50") seg_p99+=("$lat_p99") seg_max+=("$lat_max")
    local s50=$lat_p50 s99=$lat_p99
    latency_once rx rx0
    p50+=("$lat_p50") p99+=("$lat_p99") max+=("$lat_max")
    lost=$((lost + lat_lost))
    add50+=("$(awk -v a="$lat_p50" -v b="$s50" 'BEGIN { print a - b }')")
    add99+=("$(awk -v a="$lat_p99" -v b="$s99" 'BEGIN { print a - b }')")
  done
  echo "latency $mode p50_us=$(spread %.1f "${p50[@]}") p99_us=$(spread %.1f "${p99[@]}") max_us=$(spread %.1f "${max[@]}")$( ((lost == 0)) || echo " (lost $lost)")"
  echo "added_latency $mode p50_us=$(spread %.1f "${add50[@]}") p99_us=$(spread %.1f "${add99[@]}")"
  declare -ga "added_p50_$mode" "added_p99_$mode"
  local -n out50=added_p50_$mode out99=added_p99_$mode
  out50=("${add50[@]}") out99=("${add99[@]}")
}

# ---------------------------------------------------------------------------------------------------------------
# A mode: its path up, a probe that the group reaches site B at all, the ceiling, the latency, its path down.
measure_mode() {
  local mode=$1
  "path_up_$mode"
  steer_all
  key=${mode}_probe rep=0
  sink_start rx rx0
  step 1000
  sink_stop
  if ((step_received == 0)); then
    echo "failed $mode: none of $step_sent datagrams of $GROUP from $SOURCE reached site B's receiver"
  else
    ceiling "$mode"
    latency "$mode"
    if declare -F "profile_$mode" >/dev/null; then "profile_$mode"; fi
  fi
  "path_down_$mode"
}

# ratio NAME A B: per repetition ceiling A / ceiling B over repetitions clean on both sides (at least 3).
ratio() {
  local name=$1 i r=() limited=0
  local -n a=ceilings_$2 b=ceilings_$3
  for i in "${!a[@]}"; do
    if ((a[i] < 0 || b[i] < 0)); then limited=$((limited + 1)); continue; fi
    ((b[i] > 0)) && r+=("$(awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { print x / y }')")
  done
  if ((${#r[@]} >= 3)); then
    echo "ratio ${name}_$SIZE=$(spread %.2f "${r[@]}")$( ((limited == 0)) || echo " ($limited repetitions sender_limited)")"
  else
    echo "ratio ${name}_$SIZE=n/a (only ${#r[@]} repetitions clean on both sides, $limited sender_limited)"
  fi
}

# ---------------------------------------------------------------------------------------------------------------
clock=$SECONDS
echo "# benchmarks/bridge.sh$( ((quick)) && echo " --quick"): $(date -u '+%Y-%m-%d %H:%MZ'), cores $(cat /sys/devices/system/cpu/online), $(uname -sr), $(smcrouted -v 2>&1 | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the cores)"
echo "# group $GROUP from $SOURCE (TTL $TTL), site A 203.0.113.16/28 -> site B 203.0.113.32/28; $SIZE B; pace (UDP GSO, 64 per call) on core $SENDER_CORE, sink (recvmmsg) on core $PATH_CORE; receive steering (RPS) mask $steer on every device; every veth gso_max_segs 1 (a datagram a packet)"
echo "# $reps repetitions; ceiling steps of $step_seconds s, bisection to $precision, lossless = loss <= 0.1 %; latency at $LATENCY_RATE/s, $latency_seconds s per run after $warm_seconds s"
segments_up
IFS=, read -r -a mode_list <<<"$modes"
for mode in "${mode_list[@]}"; do
  declare -F "path_up_$mode" >/dev/null || die "--modes: unknown mode '$mode' (kernel_route, bridge)"
  measure_mode "$mode"
done
((${#seg_p50[@]} == 0)) ||
  echo "latency segment p50_us=$(spread %.1f "${seg_p50[@]}") p99_us=$(spread %.1f "${seg_p99[@]}") max_us=$(spread %.1f "${seg_max[@]}")"
if [[ ,$modes, == *,bridge,* && ,$modes, == *,kernel_route,* ]]; then
  ratio bridge_ceiling_vs_kernel_route bridge kernel_route
fi
if [[ ,$modes, == *,bridge,* && -v added_p50_bridge ]]; then
  echo "bridge_latency p50_us=$(spread %.1f "${added_p50_bridge[@]}") p99_us=$(spread %.1f "${added_p99_bridge[@]}")"
fi
echo "# bridge elapsed: $((SECONDS - clock)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
