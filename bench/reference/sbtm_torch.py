#!/usr/bin/env python3
"""PyTorch reference for `scoreflow bench sbtm`: one SBTM time step as MATH.md §3 writes it
(and as a PyTorch user would): 10 AdamW minibatch steps of ISM with the exact divergence
(d double-backward passes) on the current particles, then a forward-Euler move
X += h (grad log pi(X) - s(X)) with pi = N(0, I). ResNet-MLP with softsign activations.
Prints JSON: median wall time per time step.
Usage: sbtm_torch.py --n 1000 --dim 1 --hidden 128,128"""
import argparse, json, time
import torch

from torch_resmlp import ResMlp, ism_loss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--dim", type=int, default=1)
    p.add_argument("--hidden", default="128,128")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = ResMlp(a.dim, [int(w) for w in a.hidden.split(",")], torch.nn.functional.softsign)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4, weight_decay=1e-4)
    x = 0.4 * torch.randn(a.n, a.dim)
    h = 0.002
    times = []
    for step in range(a.steps + 3):  # three warm-up steps
        t0 = time.perf_counter()
        for _ in range(10):
            batch = x[torch.randint(0, a.n, (100,))]
            opt.zero_grad()
            ism_loss(net, batch).backward()
            opt.step()
        with torch.no_grad():
            x = x + h * (-x - net(x))
        if step >= 3:
            times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"n": a.n, "dim": a.dim, "hidden": a.hidden, "threads": a.threads,
                      "seconds_per_step": times[len(times) // 2]}))


if __name__ == "__main__":
    main()
