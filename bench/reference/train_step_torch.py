#!/usr/bin/env python3
"""PyTorch reference for `scoreflow bench train-dsm|train-ism`: the same residual MLP
(d -> 128 -> 128 -> 128 -> d, SiLU, residual connections between equal widths), the same
losses and Adam, timed per optimiser step. ISM's exact divergence uses d double-backward
passes, the way a PyTorch user writes it. Prints JSON (median of repeats).
Usage: train_step_torch.py dsm|ism [--batch B] [--steps S] [--threads T]"""
import argparse, json, time
import torch

from torch_resmlp import ResMlp, ism_loss


def dsm_loss(net, x, sigma=0.1):
    xi = torch.randn_like(x)
    s = net(x + sigma * xi)
    return 0.5 * ((sigma * s + xi) ** 2).sum(1).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("loss", choices=["dsm", "ism"])
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--dim", type=int, default=2)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    batch = a.batch or (256 if a.loss == "dsm" else 100)
    torch.manual_seed(0)
    data = torch.randn(20000, a.dim)
    net = ResMlp(a.dim, [128, 128, 128])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = dsm_loss if a.loss == "dsm" else ism_loss
    rates = []
    for r in range(a.repeats + 1):  # the first repeat warms up
        t0 = time.perf_counter()
        for _ in range(a.steps):
            x = data[torch.randint(0, data.shape[0], (batch,))]
            opt.zero_grad()
            loss = loss_fn(net, x)
            loss.backward()
            opt.step()
        if r:
            rates.append(a.steps / (time.perf_counter() - t0))
    rates.sort()
    print(json.dumps({"loss": a.loss, "batch": batch, "threads": a.threads,
                      "steps_per_second": rates[len(rates) // 2], "torch": torch.__version__}))


if __name__ == "__main__":
    main()
