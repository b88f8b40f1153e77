#!/usr/bin/env bash
# Two sites bridged over the cluster (issue 16, item 10), for `./run.sh --sites 2`: builds the sites inside the lab
# namespace, starts the bridge nodes under supervision, then runs CMD ARGS on site B's receiver host with
# DGRAM_SITES naming a directory that describes the sites (sites.env, node pids and logs, the `wan` script).
#
#   lab/sites.sh CMD [ARGS...]      (inside the lab namespace: unshare -n lab/lab.sh lab/sites.sh ...)
#
#   site A: segment br0 203.0.113.17/28            site B: segment br0 203.0.113.33/28
#     nodes a1 .18  a2 .19  a3 .20                   nodes b1 .34  b2 .35
#     publisher host .21 and .22 (pub)               receiver host .36 (rx), where CMD runs
#   site A wanA 192.0.2.5/30 ------- WAN (routed unicast, no multicast) ------- 192.0.2.6/30 wanB site B
#
# Each host is a namespace of its own held by `unshare -n sleep infinity`, its interface `seg0` a port of its site's
# bridge (no snooping: it floods groups as a plain switch does); the sample's appsettings.sites.json names these
# addresses. Site A runs 3 nodes because the sample hard-kills the node running A's ingress: with keep-majority
# downing, 2 survivors of 3 are a majority, while the survivor of a 2-node site downs itself when the killed node
# had the lower address (docs/cluster-bridge.md). Site B runs 2 (a standby for its re-emitter; nothing kills them).
# A node that exits other than by our SIGTERM (killed, or exit 2 when downed) is started again after 0.2 s.
# Node logs stay in DIR when CMD fails. Exit code: CMD's; 3 when the sites or the nodes could not start.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

die() {
  echo "sites.sh: $*" >&2
  exit 3
}

[[ $# -ge 1 ]] || { echo "usage: lab/sites.sh CMD [ARGS...] (inside the lab namespace)" >&2; exit 2; }
# Child namespaces and veth pairs are made here: only inside the lab's private namespace.
[[ ${DGRAM_LAB:-} == 1 ]] || die "run me inside the lab namespace: ./run.sh --sites 2"
bridge_dll=samples/Dgram.Bridge/bin/Release/net10.0/Dgram.Bridge.dll
[[ -f $bridge_dll ]] || die "missing $bridge_dll (./run.sh --sites 2 builds it)"
readonly START_TIMEOUT=90 RESTART_DELAY=0.2

dir=$(mktemp -d /tmp/dgram-sites.XXXXXX)
declare -A NS=()   # namespace name -> holder pid
supervisors=()     # supervisor pids (one per node)
keep_logs=0
cleanup() {
  local pid f
  : >"$dir/stop"
  # Nodes first (a namespace lives on while a process is in it), then their supervisors, then the holders.
  for f in "$dir"/*.pid; do [[ -e $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null || true; done
  for pid in "${supervisors[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${NS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((keep_logs)); then echo "sites.sh: node logs kept in $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ns, holder and site (a segment: a bridge without snooping, routing unicast).
source lab/sites-lib.sh

# host NAME SITE N ADDRESS...: a namespace whose seg0 is a port of SITE's bridge, default route via the site.
host() {
  local name=$1 site=$2 n=$3 a
  shift 3
  holder "$name"
  ip link add seg0 netns "${NS[$name]}" type veth peer name "$name" netns "${NS[$site]}"
  ns "$site" ip link set "$name" master br0 up
  for a in "$@"; do ns "$name" ip addr add "$a/28" dev seg0; done
  ns "$name" ip link set seg0 up
  ns "$name" ip route add default via "203.0.113.$((16 * n + 1))"
}

site a 1
site b 2
declare -A NODE_ADDR=([a1]=203.0.113.18 [a2]=203.0.113.19 [a3]=203.0.113.20 [b1]=203.0.113.34 [b2]=203.0.113.35)
readonly NODES_A=(a1 a2 a3) NODES_B=(b1 b2)
for node in "${NODES_A[@]}"; do host "$node" a 1 "${NODE_ADDR[$node]}"; done
for node in "${NODES_B[@]}"; do host "$node" b 2 "${NODE_ADDR[$node]}"; done
host pub a 1 203.0.113.21 203.0.113.22
host rx b 2 203.0.113.36
ip link add wanA netns "${NS[a]}" type veth peer name wanB netns "${NS[b]}"
ns a ip addr add 192.0.2.5/30 dev wanA
ns b ip addr add 192.0.2.6/30 dev wanB
ns a ip link set wanA up
ns b ip link set wanB up
ns a ip route add 203.0.113.32/28 via 192.0.2.6
ns b ip route add 203.0.113.16/28 via 192.0.2.5

# The WAN cut the sample injects: blackhole routes both ways (taking an end down would flush its routes too).
cat >"$dir/wan" <<EOF
#!/usr/bin/env bash
# wan cut|restore: site A's and site B's routes to each other's segment.
set -euo pipefail
case \${1:-} in
  cut) nsenter -t ${NS[a]} -n -- ip route replace blackhole 203.0.113.32/28
       nsenter -t ${NS[b]} -n -- ip route replace blackhole 203.0.113.16/28 ;;
  restore) nsenter -t ${NS[a]} -n -- ip route replace 203.0.113.32/28 via 192.0.2.6
           nsenter -t ${NS[b]} -n -- ip route replace 203.0.113.16/28 via 192.0.2.5 ;;
  *) echo "usage: wan cut|restore" >&2; exit 2 ;;
esac
EOF
chmod +x "$dir/wan"

# The nodes' configuration: the same bridge settings on every node of a site. Site A carries the pipeline's two
# groups (the source-specific one from the publisher's second address only) to B; B re-emits them on its segment.
seeds() {
  local n out=
  for n in "$@"; do out+="${out:+,}\"akka.tcp://dgram@${NODE_ADDR[$n]}:4053\""; done
  echo "[$out]"
}
addresses() {
  local n out=
  for n in "$@"; do out+="${out:+,}\"${NODE_ADDR[$n]}\""; done
  echo "[$out]"
}
config() {
  local node=$1 site=$2 peer=$3 ingress=$4 emit=$5 ours peers
  if [[ $site == a ]]; then ours=("${NODES_A[@]}") peers=("${NODES_B[@]}"); else ours=("${NODES_B[@]}") peers=("${NODES_A[@]}"); fi
  cat >"$dir/$node.json" <<EOF
{
  "Node": { "Hostname": "${NODE_ADDR[$node]}", "Port": 4053, "SeedNodes": $(seeds "${ours[@]}") },
  "DgramBridge": {
    "Site": "$site",
    "Interface": "seg0",
    "EmitterAddresses": $(addresses "${ours[@]}"),
    "Peers": { "$peer": $(seeds "${peers[@]}") },
    "Groups": [
      { "Name": "asm", "Group": "239.255.10.1", "Port": 5100, "Ingress": $ingress, "Emit": $emit },
      { "Name": "ssm", "Group": "232.10.0.1", "Port": 5101, "Sources": ["203.0.113.22"], "Ingress": $ingress, "Emit": $emit }
    ]
  }
}
EOF
}
for node in "${NODES_A[@]}"; do config "$node" a b true false; done
for node in "${NODES_B[@]}"; do config "$node" b a false true; done

# supervise NODE: runs the node in its namespace, again after any exit but ours (cleanup's SIGTERM, exit 0).
# Each incarnation starts its log with a line of its own; NODE.pid is the current incarnation's pid.
supervise() {
  local node=$1 incarnation=0 pid rc
  while [[ ! -e $dir/stop ]]; do
    incarnation=$((incarnation + 1))
    echo "supervisor: incarnation $incarnation" >>"$dir/$node.log"
    # nsenter execs the node in place: $! is the node itself.
    nsenter -t "${NS[$node]}" -n -- dotnet "$bridge_dll" --config "$dir/$node.json" >>"$dir/$node.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/$node.pid"
    rc=0
    wait "$pid" || rc=$?
    ((rc == 0)) && break
    echo "supervisor: exit $rc, restarting" >>"$dir/$node.log"
    sleep "$RESTART_DELAY"
  done
  rm -f "$dir/$node.pid"
}

# wait_up NODE...: until each node's current incarnation says it is a member (bounded).
wait_up() {
  local node deadline=$((SECONDS + START_TIMEOUT))
  for node in "$@"; do
    until awk '/^supervisor: incarnation/ { up = 0 } /bridge-node: member up/ { up = 1 } END { exit !up }' "$dir/$node.log" 2>/dev/null; do
      if ((SECONDS > deadline)); then
        keep_logs=1
        die "node $node is not up after ${START_TIMEOUT} s: $(tail -5 "$dir/$node.log" 2>/dev/null)"
      fi
      sleep 0.1
    done
  done
}

start() {
  local node
  for node in "$@"; do
    supervise "$node" 2>>"$dir/$node.log" & # bash's own "Killed" line goes to the node's log
    supervisors+=($!)
  done
}

# Each site's first seed node first (it forms the cluster and is its oldest member), then the others.
echo "sites.sh: two sites, nodes a1 a2 a3 (site A) and b1 b2 (site B) starting" >&2
start a1 b1
wait_up a1 b1
start a2 a3 b2
wait_up a2 a3 b2
echo "sites.sh: every node is up" >&2

{
  echo "# written by lab/sites.sh: what the sample needs to know of the sites"
  echo "publisher_pid=${NS[pub]}"
  echo "nodes_a=${NODES_A[*]}"
  echo "nodes_b=${NODES_B[*]}"
} >"$dir/sites.env"

rc=0
DGRAM_SITES=$dir nsenter -t "${NS[rx]}" -n -- "$@" || rc=$?
if ((rc != 0)); then
  keep_logs=1
  # Where datagrams were dropped: every namespace's interface and UDP counters beside the node logs.
  for name in "${!NS[@]}"; do
    { ns "$name" ip -s link; ns "$name" cat /proc/net/snmp; } >"$dir/counters-$name.txt" 2>&1 || true
  done
  cat /proc/net/softnet_stat >"$dir/softnet_stat.txt"
fi
exit "$rc"
