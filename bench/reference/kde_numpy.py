#!/usr/bin/env python3
"""Plain NumPy reference for `scoreflow bench kde`: Gaussian-KDE log-density and score of N
points against themselves (Silverman bandwidth), in row blocks so the N x N matrix never
exists whole. Prints JSON with pair evaluations per second (median of repeats)."""
import argparse, json, time
import numpy as np

def kde_logp_and_score(x, h, block=1000):
    n, d = x.shape
    logp, score = np.empty(n), np.empty((n, d))
    for s in range(0, n, block):
        q = x[s:s + block]
        d2 = np.sum(q * q, 1)[:, None] + np.sum(x * x, 1)[None, :] - 2 * q @ x.T
        e = -d2 / (2 * h * h)
        m = e.max(axis=1, keepdims=True)
        w = np.exp(e - m)
        tot = w.sum(axis=1)
        logp[s:s + block] = np.log(tot) + m[:, 0] - np.log(n) - 0.5 * d * np.log(2 * np.pi * h * h)
        score[s:s + block] = (w @ x / tot[:, None] - q) / (h * h)
    return logp, score

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    x = np.random.default_rng(1).standard_normal((a.n, a.dim))
    sd = x.std(axis=0).mean()
    h = sd * (4 / ((a.dim + 2) * a.n)) ** (1 / (a.dim + 4))
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        kde_logp_and_score(x, h)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(json.dumps({"benchmark": "kde-numpy", "n": a.n, "dim": a.dim, "median_seconds": med,
                      "pair_evaluations_per_second": a.n * a.n / med, "repeats": a.repeats}))

if __name__ == "__main__":
    main()
