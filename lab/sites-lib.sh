# Sourced by lab/sites.sh and benchmarks/bridge.sh: the multi-site lab's namespaces in bash (as LabSites.cs builds
# them in C#). Needs, from the sourcing script, an associative array NS (namespace name -> holder pid) and die.

# ns NAME CMD...: runs CMD in namespace NAME's network namespace.
ns() {
  local name=$1
  shift
  nsenter -t "${NS[$name]}" -n -- "$@"
}

# holder NAME: a child namespace held by `unshare -n sleep infinity` (it dies with that process).
holder() {
  local name=$1 ours pid i
  ours=$(readlink /proc/self/ns/net)
  unshare -n sleep infinity &
  pid=$!
  NS[$name]=$pid
  # unshare makes the namespace, then execs sleep: wait until the holder is in a namespace of its own.
  for ((i = 0; i < 500; i++)); do
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) != "$ours" ]] && break
    sleep 0.01
  done
  [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null || echo gone) != "$ours" ]] || die "namespace $name: unshare -n made no namespace"
  ns "$name" ip link set lo up
}

sysctl_in() { ns "$1" sh -c "echo $3 >/proc/sys/$2"; }

# site NAME N: a site whose segment is a Linux bridge br0 without multicast snooping (it floods the group as a
# plain switch does), 203.0.113.16*N/28 with .1 its own address, routing unicast.
site() {
  local name=$1 n=$2
  holder "$name"
  ns "$name" ip link add br0 type bridge mcast_snooping 0
  ns "$name" ip addr add "203.0.113.$((16 * n + 1))/28" dev br0
  ns "$name" ip link set br0 up
  sysctl_in "$name" net/ipv4/ip_forward 1
}
