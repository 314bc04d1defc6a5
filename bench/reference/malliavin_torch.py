#!/usr/bin/env python3
"""PyTorch reference for `scoreflow bench malliavin`: Malliavin weights (MATH.md §6) of the
paper's nonlinear SDE dX = -beta(t)(X-a)/(1+(X-a)^2) dt + sqrt(beta(t)) dW in d = 2, as a
PyTorch user would write them: all paths as one batch, einsum for the tensor contractions,
the same one-pass accumulators as scoreflow (first and second variation, Malliavin
covariance, Skorokhod correction). float64. Prints JSON: median weights per second, and the
integration-by-parts gap E[phi'(X_T)] - E[phi(X_T) delta] (phi = tanh) with its standard
error, to show the computation is the real one.
Usage: malliavin_torch.py --n 20000 --steps 250 --threads 2"""
import argparse, json, time
import torch


def drift(x, t, a=0.0, b0=1.0, b1=25.0):
    beta = b0 + t * (b1 - b0)
    u = x - a
    q = 1 / (1 + u * u)
    f = -beta * u * q
    df = -beta * (1 - u * u) * q * q
    ddf = -beta * (2 * u ** 3 - 6 * u) * q ** 3
    n, d = x.shape
    eye = torch.eye(d, dtype=x.dtype)
    jac = df[:, :, None] * eye                       # [n, i, j]
    hess = ddf[:, :, None, None] * torch.einsum("ij,il->ijl", eye, eye)  # [n, i, j, l]
    return f, jac, hess, beta ** 0.5


def weights(x0, steps, T=1.0):
    n, d = x0.shape
    h = T / steps
    x = x0.clone()
    y = torch.eye(d, dtype=x.dtype).expand(n, d, d).clone()
    z = torch.zeros(n, d, d, d, dtype=x.dtype)
    ito = torch.zeros(n, d, dtype=x.dtype)
    c_int = torch.zeros(n, d, d, dtype=x.dtype)
    t_int = torch.zeros(n, d, d, d, dtype=x.dtype)
    v_int = torch.zeros_like(t_int)
    w_int = torch.zeros_like(t_int)
    for k in range(steps):
        t = k * h
        b, jac, hess, sigma = drift(x, t)
        dw = torch.randn(n, d, dtype=x.dtype) * h ** 0.5
        yn = y + h * jac @ y
        hy = torch.einsum("nipq,nql->nipl", hess, y)
        zn = z + h * (torch.einsum("nip,npjl->nijl", jac, z) + torch.einsum("npj,nipl->nijl", y, hy))
        p = torch.linalg.inv(yn)
        cc = sigma ** 2 * p @ p.transpose(1, 2)
        ito = ito + sigma * torch.einsum("naj,nj->na", p, dw)
        c_old = c_int
        c_int = c_int + h * cc
        nn = torch.einsum("nai,nijl->najl", p, zn)
        q = torch.einsum("nxj,najl->nxal", cc, nn)
        r = torch.einsum("nxj,najl->nxal", c_int, nn)
        t_int = t_int + h * q
        v_int = v_int + h * torch.einsum("nxal,nlb->nxab", q, c_old)
        w_int = w_int + h * torch.einsum("nxal,nlb->nxab", r, cc)
        x = x + h * b + sigma * dw
        y, z = yn, zn
    alpha = torch.linalg.inv(c_int)
    g = alpha @ p
    tc = torch.einsum("nxal,nlb->nxab", t_int, c_int)
    m1 = -torch.einsum("nax,nxab->nab", alpha, v_int + w_int)
    m2 = torch.einsum("nbx,nxab->nab", alpha, tc - v_int - w_int)
    m3 = torch.einsum("nax,nxab->nab", alpha, r)
    delta = (torch.einsum("nai,na->ni", g, ito) + torch.einsum("nab,nbi->ni", m1, g)
             + torch.einsum("nab,nai->ni", m2, g) + torch.einsum("nab,nbi->ni", m3, p))
    return x, delta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64).expand(a.n, 2).contiguous()
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        x, delta = weights(x0, a.steps)
        rates.append(a.n / (time.perf_counter() - t0))
    th = torch.tanh(x[:, 0])
    gap = (1 - th * th) - th * delta[:, 0]
    rates.sort()
    print(json.dumps({"impl": "pytorch", "n": a.n, "steps": a.steps, "threads": a.threads,
                      "weights_per_second": rates[len(rates) // 2],
                      "ibp_gap": gap.mean().item(),
                      "ibp_gap_se": (gap.std() / a.n ** 0.5).item()}))


if __name__ == "__main__":
    main()
