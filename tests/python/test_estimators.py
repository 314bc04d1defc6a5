"""Estimators from Python: the Malliavin score and heat-ball estimates against the exact law
of an Ornstein-Uhlenbeck process, a drift given as a torch module equal to the built-in one,
and the same numbers as `scoreflow estimate`."""
import os
import subprocess

import numpy as np
import pytest

import scoreflow as sf

torch = pytest.importorskip("torch")

AT = np.array([[-0.5], [0.0], [0.5], [1.0]])


def ou_score(y, x0, t, theta=1.0, sigma=np.sqrt(2.0), x0_std=0.0):
    """Score of X_t for dX = -theta X dt + sigma dW, X_0 ~ N(x0, x0_std^2)."""
    mean = x0 * np.exp(-theta * t)
    var = x0_std**2 * np.exp(-2 * theta * t) + sigma**2 / (2 * theta) * (1 - np.exp(-2 * theta * t))
    return -(y - mean) / var


class OuDrift(torch.nn.Module):
    def forward(self, x, t: float):
        return -x


def test_malliavin_score_of_an_ou_process_is_its_exact_score():
    r = sf.malliavin_score(sde="ou:theta=1,sigma=1.4142135623730951", x0=0.5, t=1.0,
                           paths=20000, steps=100, at=AT)
    exact = ou_score(AT, 0.5, 1.0)
    # Euler's error at 100 steps dominates the (tiny) Monte Carlo error here.
    np.testing.assert_allclose(r["score"], exact, atol=0.05)
    assert r["stderr"].shape == AT.shape and "summary" in r


def test_a_torch_drift_gives_the_builtin_numbers():
    builtin = sf.malliavin_score(sde="ou:theta=1,sigma=1.4142135623730951", x0=0.5, paths=5000,
                                 steps=50, at=AT, reference=False)
    scripted = sf.malliavin_score(sde=OuDrift(), sigma=np.sqrt(2.0), x0=0.5, paths=5000,
                                  steps=50, at=AT, reference=False)
    np.testing.assert_allclose(scripted["score"], builtin["score"], rtol=1e-9, atol=1e-12)


def test_heat_ball_score_is_within_four_standard_errors_of_the_exact_one():
    r = sf.heat_ball(samples=200000, at=AT, seed=3)
    exact = ou_score(AT, 0.8, 1.0, x0_std=0.5)
    assert np.all(np.abs(r["score"] - exact) < 4 * r["score_se"] + 1e-3)
    assert np.all(r["density"] > 0)


def test_the_same_numbers_as_the_command_line(tmp_path):
    cli = os.environ.get("SCOREFLOW_CLI")
    if not cli:
        pytest.skip("SCOREFLOW_CLI is not set (ctest sets it)")
    subprocess.run([cli, "estimate", "heatball", "--samples", "20000", "--seed", "4",
                    "--out", str(tmp_path / "cli")], check=True, capture_output=True)
    r = sf.heat_ball(samples=20000, seed=4, out=tmp_path / "py")
    np.testing.assert_array_equal(r["score"], np.load(tmp_path / "cli" / "score.npy"))


def test_bad_options_are_refused_by_name():
    with pytest.raises(ValueError, match="nosuch"):
        sf.malliavin_score(sde="nosuch")
    with pytest.raises(ValueError, match="samples"):
        sf.heat_ball(samples=1)
    with pytest.raises(ValueError, match="at: expected a 2-D array"):
        sf.heat_ball(at=np.zeros(3))
