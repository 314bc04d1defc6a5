#!/bin/bash
# What the `sample` command costs beyond the sampler steps: a short ULA run (gmm-grid16,
# N = 20,000, 1,000 steps) with the trace, snapshots and checkpoints switched on one by one,
# against `scoreflow bench ula` on the same run, interleaved; medians of REPEATS runs of the
# timed loop (summary.json's timing.seconds).
# Usage: bench/trace_overhead.sh BUILD_DIR [REPEATS]
set -euo pipefail
BIN="$1/scoreflow"
REPEATS="${2:-5}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
RUN="sample --target gmm-grid16 --sampler ula --n 20000 --steps 1000 --no-plot --quiet --force"
declare -A CASES=(
  ["1 steps only (a row at the start and the end)"]="--trace-every 1000 --snapshots 0 --checkpoint-every 1000"
  ["2 + default trace (O(m^2) metrics on 6 rows)"]="--snapshots 0 --checkpoint-every 1000"
  ["3 + default snapshots"]="--checkpoint-every 1000"
  ["4 + default checkpoints (all defaults)"]=""
  ["5 O(m^2) metrics on every row"]="--trace-full-rows 0 --snapshots 0 --checkpoint-every 1000"
)
for r in $(seq "$REPEATS"); do
  s=$("$BIN" bench ula --n 20000 --steps 1000 --repeats 1 |
      /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['median_seconds'])")
  echo "0 scoreflow bench ula|$s"
  for name in "${!CASES[@]}"; do
    # shellcheck disable=SC2086
    "$BIN" $RUN --out "$OUT/run" ${CASES[$name]} >/dev/null
    s=$(/usr/bin/python3 -c "import json; print(json.load(open('$OUT/run/summary.json'))['timing']['seconds'])")
    echo "$name|$s"
  done
done | /usr/bin/python3 -c "
import sys, collections, statistics
d = collections.defaultdict(list)
for line in sys.stdin:
    k, v = line.strip().rsplit('|', 1)
    d[k].append(float(v))
for k in sorted(d):
    print(f'{k:50s} median {statistics.median(d[k]):.3f} s  ({len(d[k])} runs)')"
