#!/usr/bin/env python3
"""Writes N(0, S) with S = (1 - rho) I + rho 11^T as a TorchScript target, the same density as
the built-in gauss:d=D,rho=RHO, to time a TorchScript target against the built-in.

Usage: make_torchscript_gauss.py D RHO OUT.pt
"""
import sys

import torch


class Gauss(torch.nn.Module):
    def __init__(self, d: int, rho: float):
        super().__init__()
        self.dim = d
        cov = (1 - rho) * torch.eye(d, dtype=torch.float64) + rho * torch.ones(
            d, d, dtype=torch.float64)
        self.precision = torch.linalg.inv(cov)

    def forward(self, x):
        return -0.5 * ((x @ self.precision) * x).sum(dim=1)


if __name__ == "__main__":
    d, rho, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    torch.jit.script(Gauss(d, rho)).save(out)
