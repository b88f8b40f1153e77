#!/usr/bin/env bash
# Builds the Dgram.Actors veth lab inside a fresh private network namespace,
# then execs CMD ARGS in it.
#
#   unshare -n lab/lab.sh CMD [ARGS...]      (or unshare -rn without root)
#
# Lab (both ends of each pair live in this namespace):
#   lab0a 198.51.100.1/24 fd00:d9a::1/64   <->  lab0b 198.51.100.2,.3,.4/24 fd00:d9a::2,::3,::4/64
#   lab1a 203.0.113.1/24  fd00:d9a:1::1/64 <->  lab1b 203.0.113.2,.3/24     fd00:d9a:1::2,::3/64
# No default route and no address outside 198.51.100.0/24, 203.0.113.0/24 and
# fd00:d9a::/32 is ever added.
#
# Exit codes before exec: 2 usage, 3 not a fresh namespace, 1 lab setup failed.
set -euo pipefail

die() {
  local code=$1
  shift
  echo "lab.sh: $*" >&2
  exit "$code"
}

# Fallback tunnel devices the kernel creates in every new namespace when the
# tunnel modules are loaded. They are down and carry nothing.
readonly FALLBACK_DEVICES=" tunl0 sit0 ip6tnl0 gre0 gretap0 erspan0 ip6gre0 ip_vti0 ip6_vti0 "

# Refuses to touch a namespace that already has real interfaces: run on the
# host, every later step would reconfigure the host's network. This must stay
# the first thing the script does, and it only reads.
check_fresh_namespace() {
  local links line name flags
  links=$(ip -o link show) || die 3 "cannot list network interfaces ('ip -o link show' failed); refusing to build the lab"
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    # "2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ..."
    name=${line#*: }
    name=${name%%: *}
    name=${name%%@*}
    flags=${line#*<}
    flags=${flags%%>*}
    [[ $name == lo ]] && continue
    if [[ $FALLBACK_DEVICES == *" $name "* && ,$flags, != *,UP,* ]]; then
      continue
    fi
    die 3 "interface '$name' exists: this is not a fresh network namespace (run me under 'unshare -n' or 'unshare -rn'); refusing to touch this network"
  done <<<"$links"
}

check_fresh_namespace

[[ $# -ge 1 ]] || die 2 "usage: lab/lab.sh CMD [ARGS...] (inside a fresh network namespace)"

# Writes /proc/sys directly: no dependency on procps, and a failure names the key.
set_sysctl() {
  local key=$1 value=$2
  printf '%s\n' "$value" >"/proc/sys/${key//.//}" 2>/dev/null ||
    die 1 "cannot set sysctl $key=$value"
}

# The dotnet test runner and its test host talk over 127.0.0.1.
ip link set lo up

# Both ends of a pair are local addresses of this namespace: without
# accept_local=1 and rp_filter=0, IPv4 drops datagrams crossing a veth as
# martians. 'default' covers interfaces created below; 'all' is needed too
# because the kernel applies max(all, interface) for rp_filter.
set_sysctl net.ipv4.conf.all.accept_local 1
set_sysctl net.ipv4.conf.default.accept_local 1
set_sysctl net.ipv4.conf.all.rp_filter 0
set_sysctl net.ipv4.conf.default.rp_filter 0
# A tentative (DAD-pending) IPv6 address cannot be bound (EADDRNOTAVAIL).
set_sysctl net.ipv6.conf.all.accept_dad 0
set_sysctl net.ipv6.conf.default.accept_dad 0

readonly IFACES=(lab0a lab0b lab1a lab1b)
# IPv6 addresses are in canonical form (fd00:d9a:0::1 == fd00:d9a::1) so tests
# can compare them as strings with what the kernel reports.
declare -A PEER=([lab0a]=lab0b [lab0b]=lab0a [lab1a]=lab1b [lab1b]=lab1a)
declare -A IPV4=(
  [lab0a]="198.51.100.1"
  [lab0b]="198.51.100.2 198.51.100.3 198.51.100.4"
  [lab1a]="203.0.113.1"
  [lab1b]="203.0.113.2 203.0.113.3"
)
declare -A IPV6=(
  [lab0a]="fd00:d9a::1"
  [lab0b]="fd00:d9a::2 fd00:d9a::3 fd00:d9a::4"
  [lab1a]="fd00:d9a:1::1"
  [lab1b]="fd00:d9a:1::2 fd00:d9a:1::3"
)

ip link add lab0a type veth peer name lab0b
ip link add lab1a type veth peer name lab1b

for dev in "${IFACES[@]}"; do
  set_sysctl "net.ipv4.conf.$dev.accept_local" 1
  set_sysctl "net.ipv4.conf.$dev.rp_filter" 0
  # A namespace may inherit disable_ipv6=1 from the host (devconf_inherit_init_net).
  set_sysctl "net.ipv6.conf.$dev.disable_ipv6" 0
  set_sysctl "net.ipv6.conf.$dev.accept_dad" 0
  ip link set dev "$dev" multicast on

  # The first IPv4 address is the primary (default source); the rest are secondaries.
  for addr in ${IPV4[$dev]}; do
    ip addr add "$addr/24" dev "$dev"
  done
  # IPv6 uses the newest address as the default source, so add them in reverse:
  # the first listed (::1 / ::2) is then the default source, as for IPv4.
  read -r -a v6 <<<"${IPV6[$dev]}"
  for ((i = ${#v6[@]} - 1; i >= 0; i--)); do
    ip addr add "${v6[i]}/64" dev "$dev" nodad
  done
done

for dev in "${IFACES[@]}"; do
  ip link set dev "$dev" up
done

# Ready = every veth has carrier, a link-local fe80 address, and no tentative
# address. Bounded: at most ~5 s.
lab_ready() {
  local dev out
  for dev in "${IFACES[@]}"; do
    [[ $(ip -o link show dev "$dev") == *LOWER_UP* ]] || return 1
    out=$(ip -6 addr show dev "$dev") || return 1
    [[ $out == *"inet6 fe80:"* ]] || return 1
    [[ $out != *tentative* ]] || return 1
  done
}

ready=0
for ((attempt = 0; attempt < 100; attempt++)); do
  if lab_ready; then
    ready=1
    break
  fi
  sleep 0.05
done
if ((!ready)); then
  ip -6 addr show >&2 || true
  die 1 "lab not ready after ~5 s: a veth lacks carrier or a link-local address, or an IPv6 address is still tentative"
fi

# Optional key=value description for test fixtures (lists are space-separated).
if [[ -n ${LAB_INFO:-} ]]; then
  {
    echo "# Dgram.Actors lab, written by lab/lab.sh"
    echo "interfaces=${IFACES[*]}"
    echo "subnet0.ipv4=198.51.100.0/24"
    echo "subnet0.ipv6=fd00:d9a::/64"
    echo "subnet1.ipv4=203.0.113.0/24"
    echo "subnet1.ipv6=fd00:d9a:1::/64"
    for dev in "${IFACES[@]}"; do
      index=$(ip -o link show dev "$dev")
      index=${index%%:*}
      link_local=$(ip -6 -o addr show dev "$dev" scope link |
        awk '{ sub(/\/.*/, "", $4); print $4; exit }')
      echo "$dev.index=$index"
      echo "$dev.peer=${PEER[$dev]}"
      echo "$dev.ipv4=${IPV4[$dev]}"
      echo "$dev.ipv6=${IPV6[$dev]}"
      echo "$dev.link_local=$link_local"
    done
  } >"$LAB_INFO" || die 1 "cannot write LAB_INFO file '$LAB_INFO'"
fi

# Lets test fixtures check that they run inside the lab.
export DGRAM_LAB=1
exec "$@"
