#!/usr/bin/env python3
"""Writes the TorchScript targets the C++ tests compare with built-ins, and broken ones.

Usage: make_torchscript_targets.py OUT_DIR. Written with Debian's python3-torch; the modules
are what a user would write: forward(x) -> log pi(x) per row, optionally score(x).
"""
import math
import sys
from pathlib import Path

import numpy as np
import torch


class CorrelatedGauss(torch.nn.Module):
    """N(mean, cov); the score comes from autograd in C++."""

    def __init__(self, mean, cov):
        super().__init__()
        self.dim = len(mean)
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.precision = torch.linalg.inv(torch.tensor(cov, dtype=torch.float64))

    def forward(self, x):
        z = x - self.mean
        return -0.5 * ((z @ self.precision) * z).sum(dim=1)


class Banana(torch.nn.Module):
    """-s^2 (x2 - x1^2)^2 / 2 - (1 - x1)^2 / (2 s^2), with a hand-written score method."""

    def __init__(self, sigma: float):
        super().__init__()
        self.dim = 2
        self.s2 = sigma * sigma

    def forward(self, x):
        a = x[:, 1] - x[:, 0] ** 2
        return -0.5 * self.s2 * a * a - (1 - x[:, 0]) ** 2 / (2 * self.s2)

    @torch.jit.export
    def score(self, x):
        a = x[:, 1] - x[:, 0] ** 2
        g0 = 2 * self.s2 * a * x[:, 0] + (1 - x[:, 0]) / self.s2
        g1 = -self.s2 * a
        return torch.stack([g0, g1], dim=1)


class Logistic(torch.nn.Module):
    """Bayesian logistic regression, N(0, I) prior on [intercept, weights]."""

    def __init__(self, inputs, labels):
        super().__init__()
        self.features = torch.cat([torch.ones(inputs.shape[0], 1, dtype=torch.float64), inputs], 1)
        self.labels = labels

    def forward(self, w):
        eta = w @ self.features.T  # [N, n]
        loglik = (self.labels * eta - torch.nn.functional.softplus(eta)).sum(dim=1)
        return loglik - 0.5 * (w * w).sum(dim=1)


class WrongShape(torch.nn.Module):
    def forward(self, x):
        return x  # [N, d], not [N]


class Float32(torch.nn.Module):
    def forward(self, x):
        return -0.5 * (x * x).sum(dim=1).float()


class NanRow(torch.nn.Module):
    def forward(self, x):
        # log of a negative number at points whose first coordinate is above 3
        return torch.log(3 - x[:, 0]) - 0.5 * (x * x).sum(dim=1)


class NoGrad(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], dtype=torch.float64)


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    cov = [[2.0, 0.9, 0.3], [0.9, 1.0, -0.4], [0.3, -0.4, 1.5]]
    torch.jit.script(CorrelatedGauss([1.0, -0.5, 0.25], cov)).save(str(out / "gauss.pt"))
    torch.jit.script(Banana(1.3)).save(str(out / "banana.pt"))
    inputs = rng.standard_normal((60, 4))
    true_w = np.array([0.5, 1.0, -1.0, 0.5, 0.0])
    p = 1 / (1 + np.exp(-(true_w[0] + inputs @ true_w[1:])))
    labels = (rng.random(60) < p).astype(np.float64)
    np.save(out / "logistic_inputs.npy", inputs)
    np.save(out / "logistic_labels.npy", labels)
    torch.jit.script(Logistic(torch.from_numpy(inputs), torch.from_numpy(labels))).save(
        str(out / "logistic.pt"))
    for name, cls in [("wrong_shape", WrongShape), ("float32", Float32), ("nan_row", NanRow),
                      ("no_grad", NoGrad)]:
        torch.jit.script(cls()).save(str(out / f"{name}.pt"))
    (out / "not_a_module.pt").write_text("this is not a TorchScript archive\n")
    print(f"wrote TorchScript targets to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
