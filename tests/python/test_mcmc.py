"""R-hat and ESS from Python against a second, independent implementation of the definitions
of Vehtari et al. (2021) written here in NumPy, and in the CLI's summary.json."""
import json
import os
import subprocess
from statistics import NormalDist

import numpy as np
import pytest

import scoreflow as sf


def average_ranks(values):
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def z_scale(chains):
    flat = chains.ravel()
    p = (average_ranks(flat) - 0.375) / (flat.size + 0.25)
    return np.array([NormalDist().inv_cdf(q) for q in p]).reshape(chains.shape)


def split(chains):
    half = chains.shape[1] // 2
    return np.concatenate([chains[:, :half], chains[:, -half:]])


def basic_rhat(chains):
    n = chains.shape[1]
    between = n * chains.mean(axis=1).var(ddof=1)
    within = chains.var(axis=1, ddof=1).mean()
    return np.sqrt((between / within + n - 1) / n)


def reference_rhat(chains):
    folded = np.abs(chains - np.median(chains))
    return max(basic_rhat(z_scale(split(chains))), basic_rhat(z_scale(split(folded))))


def chains_of(seed, offsets, rho=0.6, draws=301):
    rng = np.random.default_rng(seed)
    x = np.empty((len(offsets), draws))
    x[:, 0] = rng.normal(size=len(offsets))
    for i in range(1, draws):
        x[:, i] = rho * x[:, i - 1] + np.sqrt(1 - rho**2) * rng.normal(size=len(offsets))
    return x + np.asarray(offsets)[:, None]


@pytest.mark.parametrize("offsets", [[0, 0, 0, 0], [0, 0, 0, 0.7], [0, 0.2, -0.2]])
def test_rhat_equals_an_independent_implementation(offsets):
    x = chains_of(1, offsets)  # odd draw count: the middle draw is dropped
    assert sf.rhat(x) == pytest.approx(reference_rhat(x), rel=1e-12)


def test_several_quantities_at_once():
    x = np.stack([chains_of(2, [0, 0, 0]), chains_of(3, [0, 0, 1.0])], axis=2)
    r = sf.rhat(x)
    assert r.shape == (2,) and r[0] < 1.05 < r[1]
    assert sf.ess_bulk(x).shape == (2,) and sf.ess_tail(x).shape == (2,)
    with pytest.raises(ValueError, match="chains, draws"):
        sf.rhat(np.zeros(10))


def test_the_command_line_reports_them_in_summary_json(tmp_path):
    cli = os.environ.get("SCOREFLOW_CLI")
    if not cli:
        pytest.skip("SCOREFLOW_CLI is not set (ctest sets it)")
    subprocess.run([cli, "sample", "--target", "gauss:d=2", "--sampler", "mala:step_size=0.5",
                    "--n", "100", "--steps", "400", "--trajectory-every", "2", "-q", "--no-plot",
                    "--out", str(tmp_path / "r")], check=True)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    mcmc = summary["mcmc"]
    assert mcmc["chains"] == 100 and len(mcmc["rhat"]) == 2
    traj = np.load(tmp_path / "r" / "trajectory.npy")  # frames x particles x d
    half = traj.shape[0] // 2
    for k in range(2):
        chains = traj[half:, :, k].T
        assert mcmc["rhat"][k] == pytest.approx(reference_rhat(chains), rel=1e-10)
        assert mcmc["rhat"][k] < 1.05  # stationary chains; short ones sit a little above 1


def test_the_trace_follows_rhat_and_a_resumed_run_reports_the_same(tmp_path):
    # The trace's rhat_max is the largest R-hat over the trajectory so far; its last row is the
    # summary's. A run stopped midway and resumed ends with the same trajectory and trace.
    def run(out, progress=False, **kw):
        return sf.mala("gauss:d=2", step_size=0.3, seed=3).run(
            n=64, steps=120, out=out, trajectory_every=2, trace_every=10, checkpoint_every=10,
            progress=progress, **kw)

    full = run(tmp_path / "full")
    rhat = np.asarray(full["trace"]["rhat_max"])
    assert np.isnan(rhat[0]) and np.all(np.isfinite(rhat[-5:]))
    assert np.isclose(rhat[-1], max(full["summary"]["mcmc"]["rhat"]), rtol=1e-9, atol=0)  # CSV: 10 digits
    assert full["trajectory"].shape == (61, 64, 2)

    def stop_at_55(step):
        if step == 55:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", progress=stop_at_55)
    resumed = run(tmp_path / "cut", resume=True)
    np.testing.assert_array_equal(full["trajectory"], resumed["trajectory"])
    np.testing.assert_array_equal(rhat, np.asarray(resumed["trace"]["rhat_max"]))
    assert full["summary"]["mcmc"] == resumed["summary"]["mcmc"]
