#!/usr/bin/env python3
"""Plain NumPy reference for `scoreflow bench kappa`: exact kappa-measure draws in dimension n
(MATH.md section 7): xi ~ N(0, I_n), eta ~ N(0, I_2), z = sqrt(2(|xi|^2+|eta|^2)) xi/|xi|,
E ~ Exp(1), rho = |z|^2/(2n) + 2E/n. Vectorised in blocks; prints samples per second."""
import argparse, json, time
import numpy as np

def kappa(n, m, rng):
    xi = rng.standard_normal((m, n))
    eta = rng.standard_normal((m, 2))
    xi2 = np.sum(xi * xi, 1)
    z2 = 2 * (xi2 + np.sum(eta * eta, 1))
    z = xi * np.sqrt(z2 / xi2)[:, None]
    e = rng.standard_exponential(m)
    rho = z2 / (2 * n) + 2 * e / n
    return z, rho

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--n", type=int, default=2000000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    times = []
    for r in range(a.repeats):
        rng = np.random.default_rng(r)
        t0 = time.perf_counter()
        for s in range(0, a.n, 8192):
            kappa(a.dim, min(8192, a.n - s), rng)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(json.dumps({"benchmark": "kappa-numpy", "dim": a.dim, "n": a.n, "median_seconds": med,
                      "samples_per_second": a.n / med}))

if __name__ == "__main__":
    main()
