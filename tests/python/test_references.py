"""The parts the estimators are built from, from Python: exact kappa draws and Fokker-Planck
reference solutions, against closed forms."""
import os

import numpy as np
import pytest

import scoreflow as sf

Z = 4.0


def test_kappa_draws_have_their_exact_laws():
    n, count = 3, 200000
    k = sf.kappa_draws(n, count, seed=5)
    assert k["z"].shape == (count, n) and k["rho"].shape == (count,) and k["e"].shape == (count,)
    # |z|^2 / 2 ~ chi^2 with n + 2 degrees of freedom; E ~ Exp(1) and rho = |z|^2/(2n) + 2E/n.
    half = 0.5 * np.sum(k["z"] ** 2, axis=1)
    assert abs(half.mean() - (n + 2)) < Z * np.sqrt(2 * (n + 2) / count)
    assert abs(k["e"].mean() - 1) < Z / np.sqrt(count) and k["e"].min() >= 0
    np.testing.assert_allclose(k["rho"], half / n + 2 * k["e"] / n, rtol=1e-12)


def test_heat_ball_points_lie_in_the_ball_with_the_exact_mean_time():
    n, count, t, r = 2, 100000, 1.0, 0.5
    x = np.array([0.3, -0.2])
    k = sf.kappa_draws(n, count, seed=6, x=x, t=t, radius=r)
    tau = r**2 / (4 * np.pi) * np.exp(-k["rho"])
    np.testing.assert_allclose(t - k["s"], tau, rtol=1e-12, atol=1e-15)
    # y = x + sqrt(tau) z, and log(r^n Phi(y - x, tau)) = E >= 0: every point is inside
    # E(x, t; r). (Checked through z: y - x loses digits when tau is tiny.)
    np.testing.assert_allclose(k["y"], x + np.sqrt(tau)[:, None] * k["z"], rtol=1e-12, atol=1e-15)
    log_phi = -0.5 * n * np.log(4 * np.pi * tau) - np.sum(k["z"] ** 2, axis=1) / 4
    np.testing.assert_allclose(n * np.log(r) + log_phi, k["e"], rtol=1e-12, atol=1e-12)
    assert np.all(k["e"] >= 0)
    # E_kappa[tau] / r^2 = (1/4 pi)(1 + 2/n)^-(n/2 + 2).
    exact = (1 + 2 / n) ** -(n / 2 + 2) / (4 * np.pi)
    ratio = tau / r**2
    assert abs(ratio.mean() - exact) < Z * ratio.std() / np.sqrt(count)


def test_kappa_blocks_join_into_one_stream():
    whole = sf.kappa_draws(2, 1000, seed=9)
    tail = sf.kappa_draws(2, 400, seed=9, first=600)
    np.testing.assert_array_equal(whole["z"][600:], tail["z"])


def test_kappa_draws_refuse_half_a_ball():
    with pytest.raises(ValueError, match="x, t and radius go together"):
        sf.kappa_draws(2, 10, x=[0, 0])
    with pytest.raises(ValueError, match="dimension"):
        sf.kappa_draws(2, 10, x=[0, 0, 0], t=1.0, radius=1.0)
    with pytest.raises(ValueError, match="dim is 0"):
        sf.kappa_draws(0, 10)
    with pytest.raises(ValueError, match="must be finite"):
        sf.kappa_draws(2, 10, x=[0, np.nan], t=1.0, radius=1.0)
    with pytest.raises(ValueError, match="in blocks"):
        sf.kappa_draws(2, 10**15)
    # 104 bytes a draw with the heat-ball points, 80 without: only the points tip it over.
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with pytest.raises(ValueError, match="draws and points.*in blocks"):
        sf.kappa_draws(2, int(0.9 * physical / 104), x=[0, 0], t=1.0, radius=1.0)


def ou_law(x0, t, theta=1.0, sigma=np.sqrt(2.0)):
    return x0 * np.exp(-theta * t), sigma**2 * (1 - np.exp(-2 * theta * t)) / (2 * theta)


@pytest.mark.parametrize("x0", [[1.5], [1.0, -0.5]])
def test_fokker_planck_matches_the_exact_ornstein_uhlenbeck_law(x0):
    x0 = np.array(x0)
    d = x0.size
    cells = 800 if d == 1 else 200
    p = sf.fokker_planck("ou:theta=1,sigma=1.4142135623730951", x0, t=1.0, lo=-5, hi=5,
                         cells=cells, steps=1000)
    assert p.density.shape == (cells,) * d and len(p.centres) == d
    assert abs(p.mass - 1) < 1e-8
    mean, var = ou_law(x0, 1.0)
    pts = mean + np.sqrt(var) * np.random.default_rng(0).standard_normal((200, d)).clip(-2, 2)
    exact_density = np.exp(-0.5 * np.sum((pts - mean) ** 2, axis=1) / var) / (
        2 * np.pi * var) ** (d / 2)
    np.testing.assert_allclose(p.density_at(pts), exact_density, rtol=2e-3 * d)
    np.testing.assert_allclose(p.score(pts), -(pts - mean) / var, atol=5e-3 * d)


def test_fokker_planck_refuses_what_it_cannot_solve():
    with pytest.raises(ValueError, match="1 or 2 finite numbers"):
        sf.fokker_planck("ou", [0, 0, 0])
    with pytest.raises(ValueError, match="at least 3 cells"):
        sf.fokker_planck("ou", 0.0, cells=2)
    with pytest.raises(ValueError, match="lo < hi"):
        sf.fokker_planck("ou", 0.0, lo=1, hi=-1)
    with pytest.raises(ValueError, match="lo"):
        sf.fokker_planck("ou", [0, 0], lo=[-1, -1, -1])
    with pytest.raises(ValueError, match="starting point lies outside"):
        sf.fokker_planck("ou", 9.0)
    with pytest.raises(ValueError, match="use fewer cells"):
        sf.fokker_planck("ou", [0, 0], cells=10**6)
