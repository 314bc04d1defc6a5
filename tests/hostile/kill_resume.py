#!/usr/bin/python3
"""Kill test: runs killed by SIGKILL at many instants, each time resumed, end bit-identical to
an uninterrupted run; SIGINT and SIGTERM end a run within a step with exit 130.

Kills land at random instants (seeded) and, through the SCOREFLOW_CRASH_AT hook, at every
point of a checkpoint's commit: after its files, after its manifest, after the directory's
rename, after the pointer's. Usage: kill_resume.py SCOREFLOW_BIN [--kills K]
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

RESULTS = ["samples.npy", "weights.npy", "trace.csv", "model.pt", "loss.csv"]
CRASH_POINTS = ["checkpoint-files", "checkpoint-manifest", "checkpoint-renamed",
                "checkpoint-committed"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def start(binary, args, out, resume, env_extra=None):
    cmd = [binary] + args + ["--out", out] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, **(env_extra or {})))


def finish(binary, args, out):
    """Resumes (or starts, if the kill came before the directory existed) until done."""
    p = start(binary, args, out, resume=os.path.isdir(out))
    text = p.communicate()[0].decode(errors="replace")
    if p.returncode != 0:
        raise AssertionError(f"resume failed ({p.returncode}):\n{text}")


def same_results(ref, out, what):
    for f in RESULTS:
        a, b = os.path.join(ref, f), os.path.join(out, f)
        if os.path.exists(a) != os.path.exists(b):
            raise AssertionError(f"{what}: {f} exists in one run only")
        if os.path.exists(a) and read(a) != read(b):
            raise AssertionError(f"{what}: {f} differs from the uninterrupted run")
    leftovers = [n for n in os.listdir(out) if ".tmp" in n or n.endswith(".partial")]
    if leftovers:
        raise AssertionError(f"{what}: temporary files left behind: {leftovers}")


def crash_points(binary, args, ref, tmp, points):
    for point, k in points:
        out = os.path.join(tmp, f"{point}-{k}")
        p = start(binary, args, out, False, {"SCOREFLOW_CRASH_AT": f"{point}:{k}"})
        p.communicate()
        if p.returncode != -signal.SIGKILL:
            raise AssertionError(f"{point}:{k}: expected a SIGKILL, got {p.returncode}")
        finish(binary, args, out)
        same_results(ref, out, f"killed at {point}:{k}")


def random_kills(binary, args, ref, tmp, kills, seconds, rng):
    out = os.path.join(tmp, "random")
    done = 0
    while done < kills:
        p = start(binary, args, out, resume=os.path.isdir(out))
        time.sleep(rng.uniform(0, seconds))
        p.kill()
        p.communicate()
        done += 1
    finish(binary, args, out)
    same_results(ref, out, f"killed {kills} times at random")


def stop_signals(binary, args, ref, tmp):
    for sig in (signal.SIGINT, signal.SIGTERM):
        # The signal lands mid-run: once the first checkpoint is committed (the handlers are
        # installed before the first step), well before the last step.
        out = os.path.join(tmp, f"signal-{sig.name}")
        p = start(binary, args, out, False)
        while not os.path.exists(os.path.join(out, "checkpoint.json")) and p.poll() is None:
            time.sleep(0.005)
        p.send_signal(sig)
        text = p.communicate()[0].decode(errors="replace")
        if p.returncode != 130:
            raise AssertionError(f"{sig.name}: exit {p.returncode}, expected 130:\n{text}")
        if "--resume" not in text:
            raise AssertionError(f"{sig.name}: the message does not say how to continue:\n{text}")
        finish(binary, args, out)
        same_results(ref, out, f"stopped by {sig.name}")


def check(binary, name, args, kills, points, rng):
    tmp = tempfile.mkdtemp(prefix="sf_kill_")
    try:
        ref = os.path.join(tmp, "reference")
        t0 = time.time()
        p = start(binary, args, ref, False)
        text = p.communicate()[0].decode(errors="replace")
        if p.returncode != 0:
            raise AssertionError(f"reference run failed:\n{text}")
        seconds = time.time() - t0
        crash_points(binary, args, ref, tmp, points)
        random_kills(binary, args, ref, tmp, kills, seconds, rng)
        stop_signals(binary, args, ref, tmp)
        print(f"[ok] {name}: {len(points)} commit-point kills, {kills} random kills "
              f"and SIGINT/SIGTERM resumed bit-identically (run {seconds:.1f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    binary = sys.argv[1]
    # The commit points are covered one by one; random kills add instants between them.
    kills = int(sys.argv[sys.argv.index("--kills") + 1]) if "--kills" in sys.argv else 8
    has_torch = " train " in subprocess.run([binary, "--help"], capture_output=True,
                                            text=True).stdout
    quiet = ["-q", "--no-plot"]
    # Every commit point twice (first and a later checkpoint) on the sampler run; the LibTorch
    # runs share the commit code, so two points each suffice there.
    every_point = [(p, k) for p in CRASH_POINTS for k in (1, 4)]
    two_points = [("checkpoint-files", 2), ("checkpoint-committed", 2)]
    runs = [("wfr-kde with resampling",
             ["sample", "--target", "gmm4", "--sampler", "wfr", "--density", "kde", "--n", "600",
              "--steps", "150", "--checkpoint-every", "4", "--ess-threshold", "0.7", "--seed",
              "5", "--trace-every", "10"] + quiet, kills, every_point)]
    if has_torch:
        runs += [("sbtm (network and optimiser in the checkpoint)",
                  ["sample", "--target", "mix1d-near", "--sampler", "sbtm", "--n", "200",
                   "--steps", "30", "--hidden", "32,32", "--checkpoint-every", "3",
                   "--trace-every", "5"] + quiet, kills // 2, two_points),
                 ("train",
                  ["train", "--data", "moons", "--n", "2000", "--steps", "300", "--hidden",
                   "64,64", "--eval-every", "10", "--checkpoint-every", "7"], kills // 2,
                  two_points)]
    # The runs are independent and spend much of their time starting up or asleep until a
    # kill: they go side by side, each with its own seeded instants.
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        done = [pool.submit(check, binary, name, args, k, points, random.Random(20261201 + i))
                for i, (name, args, k, points) in enumerate(runs)]
        for f in done:
            f.result()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"[FAILED] {e}")
        sys.exit(1)
