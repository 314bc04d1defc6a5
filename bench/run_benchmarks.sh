#!/usr/bin/env bash
# Runs each scoreflow benchmark next to its NumPy reference in the same session and prints
# a Markdown table for BENCHMARKS.md. Usage: bench/run_benchmarks.sh [build-dir]
set -euo pipefail
build=${1:-build}
py=/usr/bin/python3   # Debian's python3 with python3-numpy
here=$(cd "$(dirname "$0")" && pwd)
field() { "$py" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

ula=$("$build/scoreflow" bench ula --repeats 5)
ula_np=$("$py" "$here/reference/ula_numpy.py" --repeats 3)
kde=$("$build/scoreflow" bench kde --repeats 7)
kde_np=$("$py" "$here/reference/kde_numpy.py" --repeats 3)

u=$(echo "$ula" | field particle_steps_per_second); un=$(echo "$ula_np" | field particle_steps_per_second)
k=$(echo "$kde" | field pair_evaluations_per_second); kn=$(echo "$kde_np" | field pair_evaluations_per_second)
"$py" - "$u" "$un" "$k" "$kn" <<'PY'
import sys
u, un, k, kn = map(float, sys.argv[1:])
print("| benchmark | scoreflow | NumPy reference | ratio |")
print("|---|---|---|---|")
print(f"| ULA on gmm-grid16, N = 20,000, 1,000 steps (particle-steps/s) | {u:.3g} | {un:.3g} | {u/un:.1f}x |")
print(f"| KDE log-density + score, N = 10,000, d = 2 (pair evaluations/s) | {k:.3g} | {kn:.3g} | {k/kn:.1f}x |")
PY
