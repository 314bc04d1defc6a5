#!/usr/bin/env python3
"""Plain NumPy reference for `scoreflow bench ula`: ULA on gmm-grid16 (16 unit-variance
components on {-6,-2,2,6}^2), the same step as scoreflow's: x += h*score(x) + sqrt(2h)*xi.
Prints JSON with particle-steps per second (median of repeats)."""
import argparse, json, time
import numpy as np

def grid16_means():
    c = np.array([-6.0, -2.0, 2.0, 6.0])
    return np.array([[a, b] for a in c for b in c])

def score(x, means):
    diff = x[:, None, :] - means[None, :, :]            # N x K x 2
    logt = -0.5 * np.sum(diff * diff, axis=2)           # equal weights, unit variance
    logt -= logt.max(axis=1, keepdims=True)
    r = np.exp(logt)
    r /= r.sum(axis=1, keepdims=True)
    return -np.einsum("nk,nkd->nd", r, diff)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    means, h = grid16_means(), 0.01
    times = []
    for r in range(a.repeats):
        rng = np.random.default_rng(r)
        x = rng.standard_normal((a.n, 2))
        t0 = time.perf_counter()
        g = score(x, means)
        for _ in range(a.steps):
            x = x + h * g + np.sqrt(2 * h) * rng.standard_normal(x.shape)
            g = score(x, means)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(json.dumps({"benchmark": "ula-numpy", "n": a.n, "steps": a.steps, "median_seconds": med,
                      "particle_steps_per_second": a.n * a.steps / med, "repeats": a.repeats}))

if __name__ == "__main__":
    main()
