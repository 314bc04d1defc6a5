#!/usr/bin/python3
"""Runs across processes equal the one-process run bit for bit, for 1, 2 and 3 processes.

Training with gradient blocks, sampling (ULA, MALA, annealed ULA with and without Feynman–Kac weights and resampling, AIS,
WFR with both density estimates, birth–death of both kinds, the FK corrector, SBTM; log Z estimates), Malliavin and heat-ball estimates under `mpirun -np K` give the same
files as a plain run; a run whose rank is killed ends with a message naming that rank and a
valid checkpoint, which resumes on another number of processes to the same results, and so
does a job stopped by Ctrl-C (SIGINT to mpirun); a refused run prints its error once and
exits 2.
Usage: rank_invariance.py SCOREFLOW_BIN MPIRUN
"""
import csv
import filecmp
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

BIN, MPIRUN = sys.argv[1], sys.argv[2]
# One thread per process: the 2-core machine runs three processes at once.
ENV = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def command(k, args):
    plain = [BIN] + args
    return plain if k == 0 else [MPIRUN, "--oversubscribe", "-np", str(k)] + plain


def run(k, args, expect=0):
    p = subprocess.run(command(k, args), env=ENV, capture_output=True, text=True, timeout=600)
    if p.returncode != expect:
        raise AssertionError(f"{' '.join(command(k, args))}: exit {p.returncode}, expected "
                             f"{expect}\n{p.stdout}\n{p.stderr}")
    return p


def same_files(a, b, names, what):
    for name in names:
        fa, fb = os.path.join(a, name), os.path.join(b, name)
        if not os.path.exists(fa):
            raise AssertionError(f"{what}: {fa} was not written")
        if not filecmp.cmp(fa, fb, shallow=False):
            raise AssertionError(f"{what}: {name} differs between {a} and {b}")


def same_summary(a, b, keys, what):
    sa = json.load(open(os.path.join(a, "summary.json")))
    sb = json.load(open(os.path.join(b, "summary.json")))
    for key in keys:
        if sa.get(key) != sb.get(key):
            raise AssertionError(f"{what}: summary {key} differs:\n{sa.get(key)}\n{sb.get(key)}")
    return sb


def check_samplers(tmp):
    weighted = ["weights.npy"]
    # name, sampler, its options, files besides the common ones, the trace column that must
    # show the coupling between particles at work (resampling, jumps)
    cases = [("ula", "ula", [], [], None), ("mala", "mala", [], [], None),
             ("annealed-ula", "annealed-ula", [], [], None),
             ("annealed-ula-fk", "annealed-ula", ["--fk-weights", "--path", "geometric"],
              weighted, "resamplings"),
             ("ais", "ais", [], weighted, "resamplings"),
             ("wfr-ula-kernel", "wfr", ["--density", "ula-kernel", "--ess-threshold", "0.99"],
              weighted, "resamplings"),
             ("wfr-kde", "wfr", ["--density", "kde", "--ess-threshold", "0.99"], weighted,
              "resamplings"),
             # Every scheme migrates particles by prefix sums: systematic (above),
             # stratified, residual and multinomial.
             # Sweeps over blocks of 256 particles instead of gathering them all; blocks
             # straddle the shards.
             ("wfr-kde-blocks", "wfr:exchange=blocks,exchange_block=256",
              ["--density", "kde", "--ess-threshold", "0.99"], weighted, "resamplings"),
             ("wfr-ula-kernel-blocks", "wfr:exchange=blocks,exchange_block=256",
              ["--density", "ula-kernel", "--ess-threshold", "0.99"], weighted, "resamplings"),
             ("wfr-stratified", "wfr", ["--resampler", "stratified", "--ess-threshold", "0.99"],
              weighted, "resamplings"),
             ("ais-residual", "ais", ["--resampler", "residual"], weighted, "resamplings"),
             ("wfr-multinomial", "wfr", ["--resampler", "multinomial", "--ess-threshold", "0.99"],
              weighted, "resamplings"),
             ("fk-corrector", "fk-corrector", ["--ess-threshold", "0.9"], weighted,
              "resamplings"),
             ("birth-death", "birth-death", [], [], "jump_rate"),
             ("birth-death-kl", "birth-death-kl", [], [], "jump_rate"),
             # Every process trains the same network on all particles and moves its shard;
             # then data-parallel training in gradient blocks, with Heun's two velocities.
             ("sbtm", "sbtm:train_steps=3,init_steps=100", [], [], None),
             ("sbtm-blocks", "sbtm:grad_blocks=3,train_steps=2,integrator=heun,init_steps=100", [], [], None),
             # Enough particles for the kernel sums to go through the lattice (every process
             # builds the same one from all particles).
             ("wfr-kde-lattice", "wfr", ["--density", "kde", "--ess-threshold", "0.99", "--n", "3000"],
              weighted, "resamplings"),
             # In 5-D at --kde-tol 1e-4 the sums run on float32 kernels (the choice is made from
             # all particles, alike on every process).
             ("wfr-kde-float32", "wfr", ["--density", "kde", "--ess-threshold", "0.99", "--n", "2000",
                                         "--target", "gauss:d=5", "--kde-tol", "1e-4"],
              weighted, "resamplings")]
    for name, sampler, extra, files, coupling in cases:
        n, target = "301", "gmm4"
        if "--n" in extra:
            i = extra.index("--n")
            n, extra = extra[i + 1], extra[:i] + extra[i + 2:]
        if "--target" in extra:
            i = extra.index("--target")
            target, extra = extra[i + 1], extra[:i] + extra[i + 2:]
        args = ["sample", "--target", target, "--sampler", sampler, "--n", n, "--steps", "40",
                "--seed", "7", "--trajectory-every", "5", "--no-plot", "--quiet", "--force"]
        args += extra
        ref = os.path.join(tmp, f"{name}-plain")
        run(0, args + ["--out", ref])
        if coupling:
            rows = csv.DictReader(open(os.path.join(ref, "trace.csv")))
            if not sum(float(r[coupling]) for r in rows if r[coupling] not in ("nan", "")):
                raise AssertionError(f"{name}: {coupling} stayed 0; the case does not test it")
        snaps = sorted(os.listdir(os.path.join(ref, "snapshots")))
        for k in [1, 2, 3]:
            out = os.path.join(tmp, f"{name}-{k}")
            run(k, args + ["--out", out])
            what = f"{name} on {k} processes"
            same_files(ref, out, ["samples.npy", "trace.csv", "trajectory.npy"] + files, what)
            same_files(ref, out, [os.path.join("snapshots", s) for s in snaps], what)
            s = same_summary(ref, out, ["metrics", "mcmc", "weighted"], what)
            if s["processes"] != k:
                raise AssertionError(f"{what}: summary says {s['processes']} processes")
        print(f"{name}: bit-identical on 1, 2 and 3 processes")
    for density in ["kde", "ula-kernel"]:
        same_files(os.path.join(tmp, f"wfr-{density}-plain"),
                   os.path.join(tmp, f"wfr-{density}-blocks-plain"),
                   ["samples.npy", "weights.npy", "trace.csv"], f"wfr-{density} in blocks")
    print("wfr: sweeping over blocks gives the same files as gathering all particles")
    lattice = os.path.join(tmp, "wfr-kde-lattice-plain")
    exact = os.path.join(tmp, "wfr-kde-exact")
    run(0, ["sample", "--target", "gmm4", "--sampler", "wfr", "--density", "kde", "--ess-threshold",
            "0.99", "--n", "3000", "--steps", "40", "--seed", "7", "--trajectory-every", "5",
            "--no-plot", "--quiet", "--kde-tol", "0", "--out", exact])
    if filecmp.cmp(os.path.join(lattice, "weights.npy"), os.path.join(exact, "weights.npy"),
                   shallow=False):
        raise AssertionError("wfr-kde-lattice: the same weights as exact sums; the lattice was "
                             "not used")
    float32 = os.path.join(tmp, "wfr-kde-float32-plain")
    exact = os.path.join(tmp, "wfr-kde-float32-exact")
    run(0, ["sample", "--target", "gauss:d=5", "--sampler", "wfr", "--density", "kde",
            "--ess-threshold", "0.99", "--n", "2000", "--steps", "40", "--seed", "7",
            "--trajectory-every", "5", "--no-plot", "--quiet", "--kde-tol", "0", "--out", exact])
    if filecmp.cmp(os.path.join(float32, "weights.npy"), os.path.join(exact, "weights.npy"),
                   shallow=False):
        raise AssertionError("wfr-kde-float32: the same weights as exact sums; the float32 "
                             "kernels were not used")


def check_malliavin(tmp):
    args = ["estimate", "malliavin", "--sde", "ou-cubic", "--x0", "1.5", "--paths", "3001",
            "--steps", "50", "--save-paths", "--force"]
    ref = os.path.join(tmp, "malliavin-plain")
    run(0, args + ["--out", ref])
    for k in [1, 2, 3]:
        out = os.path.join(tmp, f"malliavin-{k}")
        run(k, args + ["--out", out])
        what = f"malliavin on {k} processes"
        same_files(ref, out, ["score.npy", "stderr.npy", "at.npy", "x_T.npy", "delta.npy",
                              "reference.npy", "score.csv"], what)
        same_summary(ref, out, ["rmse_vs_fokker_planck", "mean_standard_error", "bandwidth"],
                     what)
    print("malliavin: bit-identical on 1, 2 and 3 processes")


def check_heat_ball(tmp):
    args = ["estimate", "heatball", "--points", "3", "--samples", "20000", "--force"]
    ref = os.path.join(tmp, "heatball-plain")
    run(0, args + ["--out", ref])
    for k in [1, 2, 3]:
        out = os.path.join(tmp, f"heatball-{k}")
        run(k, args + ["--out", out])
        same_files(ref, out, ["density.npy", "score.npy", "score_se.npy", "log_density.npy",
                              "entropy.npy", "at.npy", "estimates.csv"],
                   f"heat ball on {k} processes")
    print("heat ball: bit-identical on 1, 2 and 3 processes")


def check_training(tmp):
    """Data-parallel training: the batch's fixed gradient blocks split over the processes."""
    for loss in ["dsm", "nc-dsm"]:
        args = ["train", "--data", "moons", "--loss", loss, "--steps", "40", "--eval-every", "10",
                "--grad-blocks", "3", "--threads", "1", "--force"]
        ref = os.path.join(tmp, f"train-{loss}-plain")
        run(0, args + ["--out", ref])
        for k in [1, 2, 3]:
            out = os.path.join(tmp, f"train-{loss}-{k}")
            run(k, args + ["--out", out])
            same_files(ref, out, ["model.pt", "loss.csv"], f"train {loss} on {k} processes")
        # Stopped on 2 processes, resumed on 3.
        out = os.path.join(tmp, f"train-{loss}-resumed")
        run(2, args + ["--out", out, "--stop-after", "20"])
        run(3, [a for a in args if a != "--force"] + ["--out", out, "--resume"])
        same_files(ref, out, ["model.pt", "loss.csv"], f"train {loss} resumed on 3 of 2")
    p = run(2, ["train", "--data", "moons", "--steps", "5", "--out",
                os.path.join(tmp, "train-refused")], 2)
    if "--grad-blocks" not in p.stderr:
        raise AssertionError(f"training across processes without blocks: {p.stderr}")
    print("train (dsm, nc-dsm): the same weights on 1, 2 and 3 processes; resumes on another count")


PYTHON_RUN = """
import sys
import numpy as np
if sys.argv[3] == "mpi4py":
    from mpi4py import MPI  # initialises MPI first, as a user's script would
import scoreflow as sf

out, size = sys.argv[1], int(sys.argv[2])
rank, count = sf.processes()
assert count == size, (count, size)
r = sf.mala(sf.target("gmm4"), step_size=0.05, seed=4, steps=30).run(n=301, out=out,
                                                                      progress=False)
est = sf.malliavin_score(paths=2001, steps=30)
model = sf.train("moons", steps=12, batch=60, n=600, n_heldout=120, hidden=(16, 16),
                 grad_blocks=3, out=out + "-model", force=True)
kappa = sf.kappa_draws(3, 1001, seed=5, x=[0.1, 0.2, 0.3], t=1.0, radius=0.5)
for result in (r, est, model, kappa):
    assert (result is None) == (rank != 0)
if rank == 0:
    np.save(out + "-score.npy", est["score"])
    np.savez(out + "-kappa.npz", **kappa)
"""


def check_python(tmp):
    """The package under `mpirun -np K python3 script.py`, with mpi4py and without."""
    script = os.path.join(tmp, "mpi_run.py")
    with open(script, "w") as f:
        f.write(PYTHON_RUN)
    env = dict(ENV, PYTHONPATH=os.path.join(os.path.dirname(BIN), "python"))
    outs = {}
    for k, how in [(0, "plain"), (2, "mpi4py"), (3, "plain")]:
        out = os.path.join(tmp, f"python-{k}")
        cmd = ["/usr/bin/python3", script, out, str(max(k, 1)), how]
        if k:
            cmd = [MPIRUN, "--oversubscribe", "-np", str(k)] + cmd
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        outs[k] = out
    for k in [2, 3]:
        same_files(outs[0], outs[k], ["samples.npy", "trace.csv"], f"python on {k} processes")
        same_files(outs[0] + "-model", outs[k] + "-model", ["model.pt", "loss.csv"],
                   f"python train on {k} processes")
        for name in ["-score.npy", "-kappa.npz"]:
            if not filecmp.cmp(outs[0] + name, outs[k] + name, shallow=False):
                raise AssertionError(f"python: {name} differs on {k} processes")
    print("python: sampling, Malliavin, training and kappa draws bit-identical on 2 (mpi4py) "
          "and 3 processes")


def rank_pids(out):
    """PIDs of the scoreflow processes writing to `out` (not mpirun)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"scoreflow") and out.encode() in cmd:
            pids.append(int(pid))
    return sorted(pids)


def start_until_checkpoint(k, args, out):
    """Starts `args` on k processes and returns the job once it has committed a checkpoint."""
    p = subprocess.Popen(command(k, args + ["--out", out]), env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(out, "checkpoint.json")):
        if time.time() > deadline or p.poll() is not None:
            raise AssertionError("no checkpoint was committed before the signal")
        time.sleep(0.02)
    return p


def ended(p, out, what):
    """The job's output once it has ended, which it must, with an error and without results."""
    try:
        text = p.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError(f"the job hung after {what}")
    if p.returncode == 0:
        raise AssertionError(f"the job exited 0 after {what}:\n{text}")
    if os.path.exists(os.path.join(out, "samples.npy")):
        raise AssertionError(f"the job finished before {what}; lengthen the run")
    return text


def check_killed_rank_interrupt_and_resume(tmp):
    args = ["sample", "--target", "gauss:d=2", "--sampler", "mala", "--n", "20000", "--steps",
            "4000", "--checkpoint-every", "100", "--seed", "3", "--no-plot", "--quiet"]
    ref = os.path.join(tmp, "kill-plain")
    run(0, args + ["--out", ref])

    out = os.path.join(tmp, "kill-3")
    p = start_until_checkpoint(3, args, out)
    pids = rank_pids(out)
    if len(pids) != 3:
        raise AssertionError(f"expected 3 rank processes, found {pids}")
    os.kill(pids[1], signal.SIGKILL)
    text = ended(p, out, "a rank was killed")
    if "rank" not in text:
        raise AssertionError(f"the message does not name the killed rank:\n{text}")
    run(2, args + ["--out", out, "--resume"])
    same_files(ref, out, ["samples.npy", "trace.csv"], "killed on 3 processes, resumed on 2")
    print("a killed rank ends the job naming it; resumed on 2 processes it equals one run")

    # Ctrl-C at a terminal: mpirun gets SIGINT and sends the ranks SIGTERM; every rank stops
    # after the same step, the root commits a checkpoint of it and says so once.
    out = os.path.join(tmp, "interrupt-2")
    p = start_until_checkpoint(2, args, out)
    p.send_signal(signal.SIGINT)
    text = ended(p, out, "Ctrl-C")
    if text.count("stopped by SIG") != 1 or "--resume" not in text:
        raise AssertionError(f"Ctrl-C under mpirun was not reported once:\n{text}")
    run(3, args + ["--out", out, "--resume"])
    same_files(ref, out, ["samples.npy", "trace.csv"], "interrupted on 2 processes, resumed on 3")
    print("Ctrl-C under mpirun stops every rank at one step; resumed on 3 processes it equals one run")


def check_sbtm_resume(tmp):
    """SBTM's network is in its checkpoint: cut on 2 processes, resumed on 3, it equals one run."""
    args = ["sample", "--target", "gmm4", "--sampler", "sbtm:train_steps=3,init_steps=100", "--n", "301",
            "--steps", "12", "--checkpoint-every", "3", "--seed", "7", "--no-plot", "--quiet"]
    ref = os.path.join(tmp, "sbtm-resume-plain")
    run(0, args + ["--out", ref])
    out = os.path.join(tmp, "sbtm-resume")
    env = dict(ENV, SCOREFLOW_CRASH_AT="checkpoint-committed:2")  # killed after step 6's
    p = subprocess.run(command(2, args + ["--out", out]), env=env, capture_output=True, timeout=600)
    if p.returncode == 0 or os.path.exists(os.path.join(out, "samples.npy")):
        raise AssertionError("the SBTM run was not cut after its second checkpoint")
    run(3, args + ["--out", out, "--resume"])
    same_files(ref, out, ["samples.npy", "trace.csv"], "sbtm cut on 2 processes, resumed on 3")
    print("sbtm: cut on 2 processes and resumed on 3, it equals one run")


def check_refusal(tmp):
    out = os.path.join(tmp, "refused")
    p = run(2, ["sample", "--sampler", "ula", "--step-size", "-1", "--n", "100", "--out", out], 2)
    said = p.stderr.count("--step-size")
    if said != 1:
        raise AssertionError(f"the refusal was printed {said} times:\n{p.stderr}")
    if os.path.exists(out):
        raise AssertionError("a refused run left its directory behind")
    p = run(3, ["sample", "--sampler", "birth-death", "--n", "5", "--steps", "5", "--out", out], 2)
    if p.stderr.count("--n 5 is too few for 3 processes") != 1 or "rank " in p.stderr:
        raise AssertionError(f"too few particles per process:\n{p.stderr}")
    print("a bad option, or too few particles, is refused once with exit 2")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_samplers(tmp)
        check_malliavin(tmp)
        check_heat_ball(tmp)
        check_training(tmp)
        if os.path.isdir(os.path.join(os.path.dirname(BIN), "python")):
            check_python(tmp)
        check_killed_rank_interrupt_and_resume(tmp)
        check_sbtm_resume(tmp)
        check_refusal(tmp)


if __name__ == "__main__":
    main()
