"""A real posterior written as a TorchScript target: Bayesian logistic regression on Sonar.

This is the user-target path of E7's `logreg:data=sonar` written out by hand, as you would
write your own model: read the data, standardise the inputs, add an intercept, put a
N(0, I) prior on the 61 coefficients, and return log p(w | data) per row of a batch w —
including the prior's normaliser, so that log Z is the model's log marginal likelihood.
The module is scripted and saved; scoreflow loads the file (`torchscript:path=...`) and
takes the score by autograd in C++.

The script checks the saved module against the built-in target (log density and score at
random points, to 1e-10 relative), then runs the same MALA chains on both and prints how far
apart they end.

    /usr/bin/python3 examples/python/sonar_torchscript.py --out /tmp/sonar

Exit status 1 when the two disagree. The data come from `make data`
($SCOREFLOW_DATA_DIR or ~/.cache/scoreflow, file posteriors/sonar.csv).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

import scoreflow as sf


class LogisticPosterior(torch.nn.Module):
    """log p(w | X, y) for a batch w (N, p + 1): intercept first, then one weight per input."""

    def __init__(self, inputs: np.ndarray, labels: np.ndarray):
        super().__init__()
        x = (inputs - inputs.mean(0)) / inputs.std(0)  # standardised (population sd)
        design = np.hstack([np.ones((x.shape[0], 1)), x])
        self.design = torch.from_numpy(design)
        self.labels = torch.from_numpy(labels)
        self.log_norm = -0.5 * design.shape[1] * math.log(2 * math.pi)
        self.dim = design.shape[1]  # scoreflow reads the dimension from this attribute

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        z = w @ self.design.T  # (N, n) logits
        log_lik = (self.labels * z - torch.nn.functional.softplus(z)).sum(dim=1)
        return log_lik - 0.5 * (w * w).sum(dim=1) + self.log_norm


def data_dir():
    return os.environ.get("SCOREFLOW_DATA_DIR") or os.path.expanduser("~/.cache/scoreflow")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the saved module")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    table = np.loadtxt(os.path.join(data_dir(), "posteriors", "sonar.csv"), delimiter=",",
                       skiprows=1)
    inputs, labels = table[:, :-1], table[:, -1]
    path = os.path.join(args.out, "sonar_logreg.pt")
    torch.jit.script(LogisticPosterior(inputs, labels)).save(path)

    mine = sf.target(f"torchscript:path={path}")
    builtin = sf.target("logreg:data=sonar")
    w = 0.3 * np.random.default_rng(0).standard_normal((64, builtin.dim))
    lp_mine, lp_builtin = mine.log_density(w), builtin.log_density(w)
    g_mine, g_builtin = mine.score(w), builtin.score(w)
    dlp = np.max(np.abs(lp_mine - lp_builtin) / (1 + np.abs(lp_builtin)))
    dg = np.max(np.abs(g_mine - g_builtin)) / (1 + np.max(np.abs(g_builtin)))
    print(f"sonar: d = {builtin.dim}; TorchScript vs built-in: log density {dlp:.1e}, "
          f"score {dg:.1e} (relative)")

    # The same chains on both targets: equal scores up to rounding give the same draws up to
    # rounding (autograd and the hand-written score sum in different orders).
    x0 = 0.1 * np.random.default_rng(1).standard_normal((8, builtin.dim))
    ends = []
    for target in (mine, builtin):
        sampler = sf.mala(target, step_size=0.005, seed=3)
        state, _ = sampler.step(sampler.init(x0), 200)
        ends.append(state.x)
    dx = np.max(np.abs(ends[0] - ends[1]))
    print(f"after 200 MALA steps of 8 chains the two differ by at most {dx:.1e}")
    ok = dlp < 1e-10 and dg < 1e-10 and dx < 1e-6
    print("agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
