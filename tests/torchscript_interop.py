"""TorchScript interchange with Python (Debian's python3-torch), end to end:
1. A score written in PyTorch (the exact score of N(mu, c^2 I) diffused by the VP SDE) is
   scripted, saved, and sampled by `scoreflow generate --torchscript`; the sample mean and
   variance match mu and c^2 within 4 standard errors.
2. A model trained by scoreflow and exported with `scoreflow export` loads in PyTorch, and
   its score equals the score of the same model loaded back into scoreflow (compared
   through generation with the same seed: identical samples)."""
import json, math, os, subprocess, sys, tempfile

import numpy as np
import torch

BIN = sys.argv[1]
work = tempfile.mkdtemp(prefix="sf_ts_")
MU, C = [1.5, -0.5], 0.7


class GaussianVpScore(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mu", torch.tensor(MU))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        theta = 0.5 * (0.1 * t + 0.5 * 19.9 * t * t)
        m = torch.exp(-theta).reshape(-1, 1)
        var = m * m * (0.7 ** 2) + (1.0 - m * m)
        return -(x - m * self.mu) / var


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"scoreflow {' '.join(args)} failed:\n{r.stderr}")
    return r


path = os.path.join(work, "gauss.pt")
torch.jit.script(GaussianVpScore()).save(path)
n = 4000
run("generate", "--torchscript", path, "--sde", "vp", "--dim", "2", "--sampler", "euler",
    "--steps", "500", "--n", str(n), "--out", os.path.join(work, "g"), "--threads", "1")
x = np.load(os.path.join(work, "g", "samples.npy"))
assert x.shape == (n, 2), x.shape
for k in range(2):
    se_mean = C / math.sqrt(n)
    se_var = C * C * math.sqrt(2.0 / (n - 1))
    assert abs(x[:, k].mean() - MU[k]) < 4 * se_mean, (k, x[:, k].mean())
    assert abs(x[:, k].var(ddof=1) - C * C) < 4 * se_var, (k, x[:, k].var(ddof=1))

# scoreflow -> Python
model = os.path.join(work, "m")
run("train", "--data", "moons", "--loss", "nc-dsm", "--steps", "30", "--hidden", "32,32",
    "--eval-every", "10", "--out", model, "--threads", "1")
exported = os.path.join(work, "m.pt")
run("export", "--model", model, "--out", exported)
m = torch.jit.load(exported)
pts = torch.randn(16, 2)
s = m(pts, torch.full((16,), 0.3))
assert s.shape == (16, 2) and torch.isfinite(s).all()
# The exported file drives scoreflow's sampler exactly like the model directory does.
common = ["--sampler", "ode-heun", "--steps", "50", "--n", "200", "--seed", "3", "--threads", "1"]
run("generate", "--model", model, "--out", os.path.join(work, "a"), *common)
run("generate", "--torchscript", exported, "--sde", "vp", "--dim", "2", "--out", os.path.join(work, "b"), *common)
a = np.load(os.path.join(work, "a", "samples.npy"))
b = np.load(os.path.join(work, "b", "samples.npy"))
assert np.allclose(a, b, atol=1e-3), np.abs(a - b).max()
print("torchscript interop ok")
