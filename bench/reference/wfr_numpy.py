#!/usr/bin/env python3
"""Plain NumPy reference for `scoreflow bench wfr` and `bench wfr-gmm4`: the WFR weighted
SDE step on gmm4 as scoreflow does it - ULA move, log pi and its score, a weighted Gaussian
KDE (Silverman bandwidth) or the ULA-kernel mixture for log rho, the Feynman-Kac weight
update, ESS and systematic resampling below ESS/N = 0.5. Row blocks keep memory O(N*d)."""
import argparse, json, time
import numpy as np

MEANS = np.array([[0.0, 8.0], [0.0, 2.0], [-3.0, 5.0], [3.0, 5.0]])
VARS = np.array([[1.2, 0.01], [1.2, 0.01], [0.01, 2.0], [0.01, 2.0]])

def logp_and_score(x):
    diff = x[:, None, :] - MEANS[None]                                   # N x 4 x 2
    logt = -0.5 * np.sum(diff ** 2 / VARS[None], 2) - 0.5 * np.sum(np.log(2 * np.pi * VARS), 1)[None] + np.log(0.25)
    m = logt.max(1, keepdims=True)
    r = np.exp(logt - m)
    s = r.sum(1, keepdims=True)
    score = -np.einsum("nk,nkd->nd", r / s, diff / VARS[None])
    return (m + np.log(s))[:, 0], score

def weighted_kde_logpdf(q, data, logw, h, block=1000):
    lw = logw - logw.max()
    lw = lw - np.log(np.exp(lw).sum())
    out = np.empty(len(q))
    for s in range(0, len(q), block):
        qq = q[s:s + block]
        d2 = np.sum(qq * qq, 1)[:, None] + np.sum(data * data, 1)[None] - 2 * qq @ data.T
        e = lw[None] - d2 / (2 * h * h)
        m = e.max(1, keepdims=True)
        out[s:s + block] = m[:, 0] + np.log(np.exp(e - m).sum(1)) - np.log(2 * np.pi * h * h)
    return out

def silverman(x, logw):
    w = np.exp(logw - logw.max()); w /= w.sum()
    mu = w @ x
    sd = np.sqrt(w @ (x - mu) ** 2).mean()
    ess = 1 / np.sum(w ** 2)
    return sd * (4 / (4 * ess)) ** (1 / 6)

def systematic(w, rng):
    n = len(w)
    u = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), u), n - 1)

def run(n, steps, density, seed):
    rng = np.random.default_rng(seed)
    h = 0.01
    x = np.array([0.0, 8.0]) + rng.standard_normal((n, 2)) * np.sqrt([1.2, 0.01])
    logw = np.zeros(n)
    lp, g = logp_and_score(x)
    for _ in range(steps):
        centres = x + h * g
        x = centres + np.sqrt(2 * h) * rng.standard_normal(x.shape)
        lp, g = logp_and_score(x)
        if density == "kde":
            lrho = weighted_kde_logpdf(x, x, logw, silverman(x, logw))
            factor = h
        else:
            lrho = weighted_kde_logpdf(x, centres, logw, np.sqrt(2 * h))
            factor = 1 - np.exp(-h)
        logw = logw - factor * (lrho - lp)
        logw -= logw.max()
        w = np.exp(logw); w /= w.sum()
        if 1 / np.sum(w ** 2) < 0.5 * n:
            idx = systematic(w, rng)
            x, g, logw = x[idx], g[idx], np.zeros(n)
    return x

def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["wfr", "wfr-gmm4"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=0, help="particles (0: 10,000 for wfr, 500 for wfr-gmm4)")
    p.add_argument("--steps", type=int, default=0, help="steps (0: 20 for wfr, 1,000 for wfr-gmm4)")
    a = p.parse_args()
    n, steps, density = (10000, 20, "kde") if a.what == "wfr" else (500, 1000, "ula-kernel")
    n, steps = a.n or n, a.steps or steps
    times = []
    for r in range(a.repeats):
        t0 = time.perf_counter()
        run(n, steps, density, r)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    out = {"benchmark": a.what + "-numpy", "n": n, "steps": steps, "median_seconds": med,
           "steps_per_second": steps / med}
    if a.what == "wfr":
        out["pair_evaluations_per_second"] = n * n * steps / med
    else:
        out["iterations_per_second"] = steps / med
    print(json.dumps(out))

if __name__ == "__main__":
    main()
