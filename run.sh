#!/usr/bin/env bash
# The main job: builds the sample (samples/Dgram.Sample) and runs it inside a private network
# namespace holding the veth lab (lab/lab.sh), so nothing it sends can leave the machine. Without a
# namespace it says so and falls back to loopback only. Arguments go to the sample:
#   ./run.sh --duration 30          (also --rate N, --plain, --config FILE, --metrics-console, --otlp ENDPOINT, --sites 2)
# In a terminal it shows a live table with the log in a panel under it; otherwise plain lines on stdout and
# the log on stderr. It ends with one line:
#   summary: sent=… received=… lost=… dropped=… restarts=… send-failures=… memberships-restored=…
# ./run.sh --sites 2 runs it across two sites bridged by the cluster (lab/sites.sh: namespaces, bridge nodes
# under supervision; 30 s by default) and ends with
#   summary: sent=… received=… lost=… dropped=… restarts=… send-failures=… sites=2 duplicates=0 bridge-lost=… node-restarts=…
# Exit codes: 0 passed, 1 failed, 2 bad arguments, 3 could not start (one line on stderr names the setting).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1

command -v dotnet >/dev/null 2>&1 || { echo "run.sh: dotnet not found on PATH (install the .NET SDK named in global.json)" >&2; exit 2; }
# --sites 2 (the sample takes it too): the sites and their bridge nodes are built around the sample.
sites=1
for ((i = 1; i < $#; i++)); do [[ ${!i} == --sites ]] && j=$((i + 1)) && sites=${!j}; done
# Restore needs the network: build outside the namespace.
dotnet build samples/Dgram.Sample/Dgram.Sample.csproj -c Release -v quiet -nologo >&2
sample=samples/Dgram.Sample/bin/Release/net10.0/Dgram.Sample.dll
around=()
if [[ $sites == 2 ]]; then
  dotnet build samples/Dgram.Bridge/Dgram.Bridge.csproj -c Release -v quiet -nologo >&2
  around=(lab/sites.sh)
fi

if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then
  exec unshare -n lab/lab.sh "${around[@]}" dotnet "$sample" "$@"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn lab/lab.sh "${around[@]}" dotnet "$sample" "$@"
elif [[ $sites == 2 ]]; then
  echo "run.sh: --sites 2 needs a private network namespace (unshare -n or unshare -rn) for its sites" >&2
  exit 3
else
  echo "run.sh: cannot create a private network namespace; running on loopback only" >&2
  exec dotnet "$sample" --loopback "$@"
fi
