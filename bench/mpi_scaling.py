#!/usr/bin/python3
"""Strong scaling across MPI processes on this machine: each job at 1 process x 1 thread,
1 process x 2 threads and 2 processes x 1 thread, the median of several runs, with the time
and bytes the root spent in communication. Prints a Markdown table for BENCHMARKS.md.
Usage: bench/mpi_scaling.py [BUILD_DIR] [--repeats R]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_WAIT_POLICY="passive")

# name, arguments, summary key of the timed part, steps per run (for per-step figures)
JOBS = [
    ("ULA, N = 10^6, d = 2 (gauss)",
     ["sample", "--target", "gauss:d=2", "--sampler", "ula", "--n", "1000000", "--steps", "300",
      "--trace-every", "300", "--checkpoint-every", "300", "--snapshots", "1"], "timing", 300),
    ("WFR-KDE, N = 40,000, d = 2 (gmm4)",
     ["sample", "--target", "gmm4", "--sampler", "wfr", "--density", "kde", "--n", "40000",
      "--steps", "6", "--trace-every", "6", "--checkpoint-every", "6", "--snapshots", "1"],
     "timing", 6),
    ("Malliavin, 10^6 paths, 100 steps (nonlinear, d = 2)",
     ["estimate", "malliavin", "--sde", "nonlinear", "--x0", "1,-0.5", "--paths", "1000000",
      "--steps", "100", "--no-reference"], "seconds_paths", 100),
    ("DSM training, moons, MLP 3x128, batch 1024, --grad-blocks 2, 500 steps",
     ["train", "--data", "moons", "--loss", "dsm", "--steps", "500", "--batch", "1024",
      "--eval-every", "500", "--grad-blocks", "2"], "seconds", 500),
]
LAYOUTS = [(1, 1), (1, 2), (2, 1)]  # (processes, threads each)


def run_once(binary, args, processes, threads, out):
    cmd = [binary] + args + ["--out", out, "--force"]
    if args[0] == "sample":
        cmd += ["--quiet", "--no-plot"]
    if args[0] == "train":
        cmd += ["--threads", str(threads)]
    if processes > 1:
        cmd = ["mpirun", "--oversubscribe", "-np", str(processes), "-x",
               f"OMP_NUM_THREADS={threads}"] + cmd
    env = dict(ENV, OMP_NUM_THREADS=str(threads))
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def seconds_of(summary, key):
    return summary["timing"]["seconds"] if key == "timing" else summary[key]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="run the jobs whose name contains this")
    a = ap.parse_args()
    binary = os.path.join(a.build, "scoreflow")
    print("| job | layout | seconds (median) | speed-up vs 1x1 | root: bytes in / out per "
          "step | root: seconds in collectives |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, key, steps in JOBS:
            if a.only not in name:
                continue
            base = None
            for processes, threads in LAYOUTS:
                times, last = [], None
                for r in range(a.repeats):
                    last = run_once(binary, args, processes, threads, os.path.join(tmp, "run"))
                    times.append(seconds_of(last, key))
                t = statistics.median(times)
                base = base or t
                c = last.get("communication", {})
                per = (f"{c.get('bytes_in', 0) / steps:.3g} / {c.get('bytes_out', 0) / steps:.3g}"
                       if c else "-")
                comm_s = f"{c['seconds']:.3f}" if c else "-"
                print(f"| {name} | {processes} x {threads} | {t:.3f} | {base / t:.2f} | {per} | "
                      f"{comm_s} |", flush=True)


if __name__ == "__main__":
    main()
