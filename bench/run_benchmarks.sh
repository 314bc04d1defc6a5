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
wfr=$("$build/scoreflow" bench wfr --repeats 5)
wfr_np=$("$py" "$here/reference/wfr_numpy.py" wfr --repeats 3)
gmm4=$("$build/scoreflow" bench wfr-gmm4 --repeats 5)
gmm4_np=$("$py" "$here/reference/wfr_numpy.py" wfr-gmm4 --repeats 3)
kappa=$("$build/scoreflow" bench kappa --repeats 5)
kappa_np=$("$py" "$here/reference/kappa_numpy.py" --repeats 3)
# PyTorch at one thread: on this 2-core machine it ran 3.6x (DSM) and 3.7x (ISM) faster
# than at two, so this is the reference's best setting.
dsm=$("$build/scoreflow" bench train-dsm --repeats 7)
dsm_pt=$("$py" "$here/reference/train_step_torch.py" dsm --repeats 5 --threads 1)
ism=$("$build/scoreflow" bench train-ism --repeats 7)
ism_pt=$("$py" "$here/reference/train_step_torch.py" ism --repeats 5 --threads 1)
# SBTM and Malliavin: the PyTorch reference at whichever thread count (1 or 2) is faster.
# best KEY min|max: the JSON line (of those on stdin) with the smallest or largest KEY.
best() { "$py" -c "import json,sys; print(json.dumps($2((json.loads(l) for l in sys.stdin), key=lambda r: r['$1'])))"; }
sb1=$("$build/scoreflow" bench sbtm --n 1000 --dim 1 --steps 30)
sb1_pt=$(for t in 1 2; do "$py" "$here/reference/sbtm_torch.py" --n 1000 --dim 1 --hidden 128,128 --threads $t; done | best seconds_per_step min)
sb2=$("$build/scoreflow" bench sbtm --n 20000 --dim 2 --steps 10)
sb2_pt=$(for t in 1 2; do "$py" "$here/reference/sbtm_torch.py" --n 20000 --dim 2 --hidden 128,128,128,128 --steps 10 --threads $t; done | best seconds_per_step min)
mall=$("$build/scoreflow" bench malliavin --repeats 5)
mall_pt=$(for t in 1 2; do "$py" "$here/reference/malliavin_torch.py" --n 20000 --steps 250 --threads $t; done | best weights_per_second max)

row() {  # label, scoreflow value, numpy value
  "$py" -c "import sys; a, b = float(sys.argv[2]), float(sys.argv[3]); print(f'| {sys.argv[1]} | {a:.3g} | {b:.3g} | {a/b:.1f}x |')" "$@"
}
echo "| benchmark | scoreflow | NumPy / PyTorch reference | ratio |"
echo "|---|---|---|---|"
row "ULA on gmm-grid16, N = 20,000, 1,000 steps (particle-steps/s)" \
    "$(echo "$ula" | field particle_steps_per_second)" "$(echo "$ula_np" | field particle_steps_per_second)"
row "KDE log-density + score, N = 10,000, d = 2 (pair evaluations/s)" \
    "$(echo "$kde" | field pair_evaluations_per_second)" "$(echo "$kde_np" | field pair_evaluations_per_second)"
row "WFR step with KDE weights, gmm4, N = 10,000 (KDE pair evaluations/s)" \
    "$(echo "$wfr" | field pair_evaluations_per_second)" "$(echo "$wfr_np" | field pair_evaluations_per_second)"
row "WFR (ULA-kernel mixture) iteration on gmm4, N = 500 (iterations/s)" \
    "$(echo "$gmm4" | field iterations_per_second)" "$(echo "$gmm4_np" | field iterations_per_second)"
row "Exact kappa-measure draws, n = 256 (samples/s)" \
    "$(echo "$kappa" | field samples_per_second)" "$(echo "$kappa_np" | field samples_per_second)"
row "DSM training step, batch 256, MLP 2-128-128-128-2 (steps/s; PyTorch reference)" \
    "$(echo "$dsm" | field steps_per_second)" "$(echo "$dsm_pt" | field steps_per_second)"
row "ISM step, exact divergence, batch 100, same MLP (steps/s; PyTorch reference)" \
    "$(echo "$ism" | field steps_per_second)" "$(echo "$ism_pt" | field steps_per_second)"
row "Malliavin weights with correction, nonlinear SDE, d = 2, 250 steps (weights/s; PyTorch reference)" \
    "$(echo "$mall" | field weights_per_second)" "$(echo "$mall_pt" | field weights_per_second)"
# Times per step: the ratio is reference / scoreflow.
rowt() { "$py" -c "import sys; a, b = float(sys.argv[2]), float(sys.argv[3]); print(f'| {sys.argv[1]} | {a*1e3:.3g} ms | {b*1e3:.3g} ms | {b/a:.1f}x |')" "$@"; }
rowt "SBTM time step, n = 1,000, d = 1, [128,128], 10 ISM steps of 100 (wall time; PyTorch reference)" \
    "$(echo "$sb1" | field seconds_per_step)" "$(echo "$sb1_pt" | field seconds_per_step)"
rowt "SBTM time step, n = 20,000, d = 2, 4x128, 10 ISM steps of 100 (wall time; PyTorch reference)" \
    "$(echo "$sb2" | field seconds_per_step)" "$(echo "$sb2_pt" | field seconds_per_step)"
echo
echo "peak memory (MB): wfr $(echo "$wfr" | field peak_rss_mb), wfr-gmm4 $(echo "$gmm4" | field peak_rss_mb)"
