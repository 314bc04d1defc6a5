"""What driving scoreflow from Python costs, measured side by side in one session.

1. A built-in target: ULA on gmm-grid16 (N = 20,000, 1,000 steps) through
   `scoreflow bench ula` (C++) and through `scoreflow.ula(...).step(state, 1000)` (Python),
   and one Python call per step.
2. A NumPy callable target f(x) -> (log p, score) for N(0, I), N = 20,000, d = 2: the time
   per ULA step and the part spent inside f.
3. The crossing: what an evaluation costs beyond f itself (copying the particles into a
   NumPy array, calling f, checking and copying what it returns), from the target's own
   timings, for that f and for one that returns precomputed arrays.
4. scoreflow's ULA on that NumPy target against a plain NumPy ULA loop on the same target.

Usage: /usr/bin/python3 bench/python_overhead.py BUILD_DIR [--repeats 5]
Prints one JSON object; every figure is the median of the repeats.
"""
import argparse
import json
import subprocess
import time

import numpy as np

import scoreflow as sf

N, D, H = 20000, 2, 0.01


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def builtin_from_python(cli, repeats):
    """Interleaved: each repeat times `scoreflow bench ula` (one run) and then the same
    1,000 steps from Python, so both see the machine in the same state; this machine's
    speed drifts by a third within minutes, which sequential blocks of repeats mistake for
    overhead."""
    steps = 1000
    sampler = sf.ula("gmm-grid16", step_size=H, seed=7)
    start = sampler.init(sf.target("gauss:d=2").sample(N, seed=0))

    def one_call_per_step():
        state = start
        for _ in range(steps):
            state, _ = sampler.step(state)

    cpp, whole, per_call = [], [], []
    for _ in range(repeats):
        bench = json.loads(subprocess.run([cli, "bench", "ula", "--repeats", "1"], check=True,
                                          capture_output=True, text=True).stdout)
        cpp.append(bench["median_seconds"] / steps)
        whole.append(median_time(lambda: sampler.step(start, steps), 1) / steps)
        per_call.append(median_time(one_call_per_step, 1) / steps)
    cpp, whole, per_call = np.array(cpp), np.array(whole), np.array(per_call)
    return {"cpp_seconds_per_step": float(np.median(cpp)),
            "python_seconds_per_step": float(np.median(whole)),
            "python_one_call_per_step_seconds": float(np.median(per_call)),
            "python_over_cpp": float(np.median(whole / cpp)),
            "one_call_per_step_over_cpp": float(np.median(per_call / cpp))}


class Timed:
    """N(0, I) in NumPy, timing its own calls."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, x):
        t0 = time.perf_counter()
        out = -0.5 * np.einsum("ij,ij->i", x, x), -x
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


class Constant:
    """Returns the same precomputed arrays: a callable that costs next to nothing itself."""

    def __init__(self):
        self.logp, self.score = np.zeros(N), np.zeros((N, D))

    def __call__(self, x):
        return self.logp, self.score


def crossing(repeats, steps=1000):
    """What an evaluation costs beyond the callable, from the target's own timings (time in
    the engine's log_density/score calls minus time inside f), for a trivial f and for the
    NumPy N(0, I)."""
    out = {}
    for name, f in (("constant", Constant()), ("numpy_gauss", Timed())):
        target = sf.target(f, dim=D, name=name)
        sampler = sf.ula(target, step_size=H, seed=7)
        start = sampler.init(np.random.default_rng(0).standard_normal((N, D)))
        per_call = []
        for _ in range(repeats):
            before = target.timings
            sampler.step(start, steps)
            after = target.timings
            calls = after["calls"] - before["calls"]
            outside = (after["seconds"] - after["seconds_in_callable"]) - \
                (before["seconds"] - before["seconds_in_callable"])
            per_call.append(outside / calls)
        out[f"{name}_crossing_seconds_per_evaluation"] = float(np.median(per_call))
    return out


def numpy_callable(repeats, steps=200):
    f = Timed()
    sampler = sf.ula(sf.target(f, dim=D, name="gauss-numpy"), step_size=H, seed=7)
    start = sampler.init(np.random.default_rng(0).standard_normal((N, D)))
    per_step, inside = [], []
    for _ in range(repeats):
        f.seconds, f.calls = 0.0, 0
        t0 = time.perf_counter()
        sampler.step(start, steps)
        per_step.append((time.perf_counter() - t0) / steps)
        inside.append(f.seconds / f.calls)
    return {"seconds_per_step": float(np.median(per_step)),
            "seconds_inside_callable": float(np.median(inside))}


def numpy_ula(repeats, steps=200):
    f = Timed()
    x0 = np.random.default_rng(0).standard_normal((N, D))

    def plain():
        rng = np.random.default_rng(7)
        x = x0.copy()
        _, score = f(x)
        for _ in range(steps):
            x = x + H * score + np.sqrt(2 * H) * rng.standard_normal(x.shape)
            _, score = f(x)
        return x

    numpy_step = median_time(plain, repeats) / steps
    sampler = sf.ula(sf.target(f, dim=D), step_size=H, seed=7)
    start = sampler.init(x0)
    ours = median_time(lambda: sampler.step(start, steps), repeats) / steps
    return {"numpy_seconds_per_step": numpy_step, "scoreflow_seconds_per_step": ours,
            "speedup": numpy_step / ours}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps({"threads": sf.thread_count(), "n": N, "d": D,
                      "builtin": builtin_from_python(f"{args.build}/scoreflow", args.repeats),
                      "crossing": crossing(args.repeats),
                      "numpy_callable": numpy_callable(args.repeats),
                      "numpy_ula": numpy_ula(args.repeats)}, indent=1))


if __name__ == "__main__":
    main()
