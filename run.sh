#!/usr/bin/env bash
# The main job: builds the sample (samples/Dgram.Sample) and runs it inside a private network
# namespace holding the veth lab (lab/lab.sh), so nothing it sends can leave the machine. Without a
# namespace it says so and falls back to loopback only. Arguments go to the sample:
#   ./run.sh --duration 30          (also --rate N, --plain, --config FILE, --metrics-console, --otlp ENDPOINT)
# In a terminal it shows a live table with the log in a panel under it; otherwise plain lines on stdout and
# the log on stderr. It ends with one line:
#   summary: sent=… received=… lost=… dropped=… restarts=… send-failures=… memberships-restored=…
# Exit codes: 0 passed, 1 failed, 2 bad arguments, 3 could not start (one line on stderr names the setting).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 MSBUILDDISABLENODEREUSE=1

command -v dotnet >/dev/null 2>&1 || { echo "run.sh: dotnet not found on PATH (install the .NET SDK named in global.json)" >&2; exit 2; }
# Restore needs the network: build outside the namespace.
dotnet build samples/Dgram.Sample/Dgram.Sample.csproj -c Release -v quiet -nologo >&2
sample=samples/Dgram.Sample/bin/Release/net10.0/Dgram.Sample.dll

if [[ $EUID -eq 0 ]] && unshare -n true 2>/dev/null; then
  exec unshare -n lab/lab.sh dotnet "$sample" "$@"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn lab/lab.sh dotnet "$sample" "$@"
else
  echo "run.sh: cannot create a private network namespace; running on loopback only" >&2
  exec dotnet "$sample" --loopback "$@"
fi
