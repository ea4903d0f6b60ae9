#!/usr/bin/env bash
# Runs the same corekv-loadgen load against two running servers, alternating rounds so
# that machine noise hits both alike, and draws their latency curves side by side.
#
#   bench/loadgen/compare.sh NAME_A PORT_A NAME_B PORT_B [ROUNDS] -- [loadgen flags]
#   bench/loadgen/compare.sh corekv 6379 redis 6380 3 -- --rate 50000 --duration 20
#
# Writes OUT_DIR (default bench/loadgen/out)/NAME-roundN.json (and .txt, the table)
# and compare.svg (the last round of each), and prints one summary line per run.
# Start the servers first, pinned away from the loadgen (e.g. `taskset -c 0
# redis-server --port 6380`, loadgen flag `--cpus 1`).
set -euo pipefail

if [ $# -lt 4 ]; then
  sed -n '2,11p' "$0"
  exit 2
fi
name_a=$1 port_a=$2 name_b=$3 port_b=$4
shift 4
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  rounds=$1
  shift
fi
[ "${1:-}" = "--" ] && shift

cd "$(dirname "$0")/../.."
out_dir=${OUT_DIR:-bench/loadgen/out}
mkdir -p "$out_dir"
cargo build --release -q -p corekv-loadgen
loadgen=target/release/corekv-loadgen

plot_args=()
for round in $(seq 1 "$rounds"); do
  for side in a b; do
    if [ $side = a ]; then name=$name_a port=$port_a; else name=$name_b port=$port_b; fi
    result="$out_dir/$name-round$round.json"
    "$loadgen" -p "$port" -q --json "$@" > "$result" 2> "${result%.json}.txt"
    python3 - "$result" "$name" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["total"]
l = r["latency_ms"]
print(f"{sys.argv[2]:>12} round {sys.argv[3]}: {r['requests_per_s']:>11.0f} req/s  "
      f"p50 {l['p50']:.3f}  p99 {l['p99']:.3f}  p99.9 {l['p99_9']:.3f}  max {l['max']:.3f} ms")
PY
    [ "$round" = "$rounds" ] && plot_args+=(--plot-input "$result")
  done
done
"$loadgen" --plot "$out_dir/compare.svg" "${plot_args[@]}"
echo "chart: $out_dir/compare.svg"
