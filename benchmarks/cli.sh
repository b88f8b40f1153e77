#!/usr/bin/env bash
# The `dgram` tool against iperf2 (issue 17): one paced feed, iperf2's UDP client (the tool operators use) sending
# 200-byte datagrams to a group out of lab0b at 100 and 192 Mbit/s for 3 s, pinned to core 0; on core 1 the receiver
# under test joined on lab0a: `dgram listen --seq` in each format with its output to /dev/null, or iperf2's own
# server. Runs inside the lab namespace (bench.sh: in_lab). Per receiver and rate, over the repetitions:
#   cli_loss receiver=R mbit=M loss_pct=MEDIAN (MIN-MAX) kernel_drops=MEDIAN sent=MEDIAN
# loss is (what iperf2's client says it sent - what the receiver counted) / sent; kernel drops as dgram's summary
# line reports them (SO_RXQ_OVFL); for iperf2's server, its own lost/total. (iperf2 reads -b 100M as 100 * 2^20
# bit/s: this feed is 104.9 Mbit/s, the same for every receiver.) Then the send side, at the same decimal rate for
# both senders: cli_send lines (below).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
[[ ${DGRAM_LAB:-} == 1 ]] || { echo "cli.sh: run through bench.sh (it needs the lab namespace)" >&2; exit 2; }

reps=3 seconds=3
while (($# > 0)); do
  case $1 in
    --quick) reps=1 ;;
    --reps) reps=$2; shift ;;
    *) echo "cli.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

dgram=(dotnet src/Dgram.Cli/bin/Release/net10.0/dgram.dll)
group=239.255.50.1
port=5001
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One run: prints "sent received kernel_drops".
run() {
  local receiver=$1 mbit=$2 out=$tmp/rx.txt err=$tmp/rx.err pid
  case $receiver in
    iperf) taskset -c 1 iperf -s -u -B "$group%lab0a" -p "$port" -l 2000 >"$out" 2>"$err" & pid=$! ;;
    dgram_*) taskset -c 1 "${dgram[@]}" listen "$group" --port "$port" --iface lab0a --format "${receiver#dgram_}" --seq >/dev/null 2>"$err" & pid=$! ;;
  esac
  # The receiver has joined once the kernel lists the group on lab0a (an event, not a guess).
  for _ in $(seq 200); do ip maddr show dev lab0a | grep -q "inet $group\b" && break; sleep 0.05; done
  local client
  client=$(taskset -c 0 iperf -c "$group" -u -T 1 -B 198.51.100.2 -p "$port" -b "${mbit}M" -l 200 -t "$seconds" 2>&1)
  local sent
  sent=$(grep -oE 'Sent [0-9]+ datagrams' <<<"$client" | grep -oE '[0-9]+' | tail -1)
  if [[ $receiver == iperf ]]; then
    # iperf2's server prints its report when the client's FIN arrives.
    for _ in $(seq 100); do grep -qE '[0-9]+/ *[0-9]+ +\(' "$out" && break; sleep 0.05; done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    local lost total
    read -r lost total < <(grep -oE '[0-9]+/ *[0-9]+ +\(' "$out" | tail -1 | tr -d '(' | tr '/' ' ')
    echo "${sent:-0} $((total - lost)) -"
  else
    sleep 0.5 # what is still in flight after the client's last datagram (0.5 s at 100 Mbit/s is far more than the queue)
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true # a background job ignores SIGINT
    local line received drops
    line=$(grep -E '^summary: received' "$err" | tail -1)
    received=$(grep -oE 'received [0-9]+' <<<"$line" | grep -oE '[0-9]+')
    drops=$(grep -oE 'kernel drops [0-9]+' <<<"$line" | grep -oE '[0-9]+')
    echo "${sent:-0} ${received:-0} ${drops:-0}"
  fi
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "-"; exit} printf "%s", v[int((NR+1)/2)]}'; }
spread() { sort -g | awk 'NR==1{min=$1} {max=$1} END {printf "%s-%s", min, max}'; }

echo "# benchmarks/cli.sh: $(date -u +%Y-%m-%dT%H:%MZ), iperf2 $(iperf -v 2>&1 | awk '{print $3}'), ${seconds} s per run, $reps repetition(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for mbit in 100 192; do
  for receiver in iperf dgram_text dgram_hex dgram_json; do
    losses=() drops=() sents=()
    for ((r = 1; r <= reps; r++)); do
      read -r sent received kd < <(run "$receiver" "$mbit")
      loss=$(awk -v s="$sent" -v r="$received" 'BEGIN { if (s == 0) print "nan"; else printf "%.3f", (s > r ? s - r : 0) * 100 / s }')
      echo "  $receiver ${mbit}M rep $r: sent $sent received $received kernel_drops $kd loss ${loss}%"
      losses+=("$loss") drops+=("$kd") sents+=("$sent")
    done
    echo "cli_loss receiver=$receiver mbit=$mbit loss_pct=$(printf '%s\n' "${losses[@]}" | median) ($(printf '%s\n' "${losses[@]}" | spread)) kernel_drops=$(printf '%s\n' "${drops[@]}" | median) sent=$(printf '%s\n' "${sents[@]}" | median)"
  done
done

# The send side: `dgram send --seq` against iperf2's client at the same asked rate, each into `dgram listen --seq`
# (core 1); per sender: the payload Mbit/s it reports, its CPU (user + system, /usr/bin/time), the receiver's loss.
#   cli_send sender=S mbit=M achieved_mbit=MEDIAN (MIN-MAX) cpu_s=MEDIAN loss_pct=MEDIAN
send_run() {
  local sender=$1 mbit=$2 err=$tmp/rx.err pid achieved cpu
  taskset -c 1 "${dgram[@]}" listen "$group" --port "$port" --iface lab0a --format hex --seq >/dev/null 2>"$err" & pid=$!
  for _ in $(seq 200); do ip maddr show dev lab0a | grep -q "inet $group\b" && break; sleep 0.05; done
  local out=$tmp/tx.txt
  case $sender in
    dgram)
      taskset -c 0 /usr/bin/time -f 'cpu %U %S' -o "$tmp/time" "${dgram[@]}" send "$group" --port "$port" --iface lab0b \
        --source 198.51.100.2 --rate "${mbit}M" --size 200 --duration "$seconds" --seq >"$out" 2>&1
      achieved=$(grep -oE '[0-9.]+ Mbit/s' "$out" | grep -oE '^[0-9.]+' | tail -1) ;;
    iperf)
      taskset -c 0 /usr/bin/time -f 'cpu %U %S' -o "$tmp/time" iperf -c "$group" -u -T 1 -B 198.51.100.2 -p "$port" \
        -b "$((mbit * 1000000))" -l 200 -t "$seconds" >"$out" 2>&1 # decimal: iperf2's "M" is 2^20
      achieved=$(grep -oE '[0-9.]+ Mbits/sec' "$out" | grep -oE '^[0-9.]+' | tail -1) ;;
  esac
  cpu=$(awk '/^cpu/ {printf "%.2f", $2 + $3}' "$tmp/time")
  sleep 0.5 # what is still in flight
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  local lost
  lost=$(grep -oE 'lost [0-9]+ \([0-9.]+%\)' "$err" | grep -oE '\([0-9.]+' | tr -d '(' | sort -g | tail -1)
  echo "${achieved:-0} ${cpu:-0} ${lost:-nan}"
}
for mbit in 100 192; do
  for sender in dgram iperf; do
    achs=() cpus=() losses=()
    for ((r = 1; r <= reps; r++)); do
      read -r ach cpu lost < <(send_run "$sender" "$mbit")
      echo "  send $sender ${mbit}M rep $r: $ach Mbit/s, cpu $cpu s, receiver lost $lost%"
      achs+=("$ach") cpus+=("$cpu") losses+=("$lost")
    done
    echo "cli_send sender=$sender mbit=$mbit achieved_mbit=$(printf '%s\n' "${achs[@]}" | median) ($(printf '%s\n' "${achs[@]}" | spread)) cpu_s=$(printf '%s\n' "${cpus[@]}" | median) loss_pct=$(printf '%s\n' "${losses[@]}" | median)"
  done
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
