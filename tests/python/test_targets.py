"""Targets from Python (built-in, callable, TorchScript, torch.nn.Module), arrays at the
boundary, errors, diagnostics and the Parzen estimator against exact answers."""
import math

import numpy as np
import pytest

import scoreflow as sf

torch = pytest.importorskip("torch")


def gauss_logp_score(x):
    return -0.5 * np.sum(x**2, axis=1) - np.log(2 * np.pi), -x


class GaussModule(torch.nn.Module):
    def forward(self, x):
        return -0.5 * (x * x).sum(1) - math.log(2 * math.pi)


def test_a_callable_a_torch_module_and_the_builtin_give_the_same_numbers():
    x0 = np.random.default_rng(0).normal(size=(300, 2))
    targets = [sf.target("gauss:d=2"), sf.target(gauss_logp_score, dim=2),
               sf.target(GaussModule(), dim=2)]
    for t in targets:
        np.testing.assert_allclose(t.log_density(x0), targets[0].log_density(x0), atol=1e-12)
        np.testing.assert_allclose(t.score(x0), -x0, atol=1e-12)
    finals = []
    for t in targets:
        s = sf.mala(t, step_size=0.3, seed=2)
        state, _ = s.step(s.init(x0), 50)
        finals.append(state.x)
    np.testing.assert_array_equal(finals[0], finals[1])  # same doubles, same accept decisions
    np.testing.assert_allclose(finals[2], finals[0], atol=1e-9)


def test_a_torchscript_file_is_a_target(tmp_path):
    path = str(tmp_path / "g.pt")
    torch.jit.save(torch.jit.script(GaussModule()), path)
    t = sf.target(path, dim=2)
    x = np.ones((4, 2))
    np.testing.assert_allclose(t.score(x), -x, atol=1e-12)


def test_a_callable_runs_through_run_with_checkpoints(tmp_path):
    out = sf.ula(sf.target(gauss_logp_score, dim=2), step_size=0.1, seed=3).run(
        n=200, steps=20, out=tmp_path / "run", progress=False)
    ref = sf.ula("gauss:d=2", step_size=0.1, seed=3).run(n=200, steps=20, progress=False)
    np.testing.assert_array_equal(out["samples"], ref["samples"])
    assert (tmp_path / "run" / "checkpoint.json").exists()


def test_a_callable_runs_once_per_evaluation_and_reports_its_timings():
    calls = []

    def f(x):
        calls.append(len(x))
        return -0.5 * (x * x).sum(1), -x

    t = sf.target(f, dim=2)
    s = sf.mala(t, step_size=0.1, seed=1)
    s.step(s.init(np.zeros((50, 2))), 10)
    # MALA asks for log pi and the score at the same points: one call at init, one a step.
    assert len(calls) == 11
    timings = t.timings
    assert timings["calls"] == 11
    assert timings["seconds"] >= timings["seconds_in_callable"] > 0
    assert sf.target("gauss:d=2").timings is None


@pytest.mark.parametrize("bad,kind,words", [
    (lambda x: (np.zeros(len(x)), np.zeros((len(x), 3))), ValueError, "score has shape"),
    (lambda x: (np.zeros(len(x) + 1), -x), ValueError, "logp has shape"),
    (lambda x: (np.full(len(x), np.nan), -x), ValueError, "logp holds nan"),
    (lambda x: (np.zeros(len(x)), np.where(np.arange(2 * len(x)).reshape(-1, 2) == 7, np.inf, -x)),
     ValueError, "score holds inf at row 3"),
    (lambda x: -x, TypeError, "expected a tuple"),
    (lambda x: 1 / 0, RuntimeError, "ZeroDivisionError"),
])
def test_a_bad_callable_raises_naming_the_step(bad, kind, words):
    s = sf.ula(sf.target(bad, dim=2), step_size=0.1)
    with pytest.raises(kind, match=words) as e:
        s.step(s.init(np.zeros((10, 2))), 5)
    assert "step 0" in str(e.value)  # init evaluates the score


def test_a_callable_failing_later_names_that_step():
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > 3:
            raise ValueError("boom")
        return gauss_logp_score(x)

    s = sf.ula(sf.target(flaky, dim=2), step_size=0.1)
    with pytest.raises(RuntimeError, match="step 3.*boom"):
        s.step(s.init(np.zeros((10, 2))), 10)


def test_a_callable_may_keep_its_arguments():
    # The engine refills the last argument array only when f kept no reference to it.
    kept = []

    def keeping(x):
        kept.append(x)
        return gauss_logp_score(x)

    def viewing(x):
        kept.append(x[:, 0])
        return gauss_logp_score(x)

    for f in (keeping, viewing):
        kept.clear()
        s = sf.ula(sf.target(f, dim=2), step_size=0.1, seed=3)
        state, _ = s.step(s.init(np.zeros((10, 2))), 4)
        # Each kept array still holds the particles of its own step: all differ.
        assert len(kept) == 5
        assert len({a.tobytes() for a in kept}) == 5


def test_a_callable_sees_fresh_particles_each_step():
    # Refilled or not, the argument holds the current particles: the callable's samples
    # equal the built-in Gaussian's bit for bit.
    s_py = sf.ula(sf.target(gauss_logp_score, dim=2), step_size=0.1, seed=3)
    s_cc = sf.ula("gauss:d=2", step_size=0.1, seed=3)
    x0 = np.random.default_rng(2).normal(size=(100, 2))
    a, _ = s_py.step(s_py.init(x0), 20)
    b, _ = s_cc.step(s_cc.init(x0), 20)
    np.testing.assert_array_equal(a.x, b.x)


def test_arrays_are_converted_once_or_refused_by_name():
    t = sf.target("gauss:d=2")
    x = np.random.default_rng(1).normal(size=(50, 2))
    expected = t.score(x)
    np.testing.assert_array_equal(t.score(x.astype(np.float32).astype(np.float64)),
                                  t.score(x.astype(np.float32)))
    np.testing.assert_array_equal(t.score(np.asfortranarray(x)), expected)
    np.testing.assert_array_equal(t.score(x.tolist()), expected)
    with pytest.raises(ValueError, match=r"x: expected a 2-D array \(N, 2\), got shape \(50, 3\)"):
        t.score(np.zeros((50, 3)))
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        t.score(np.zeros(4))
    with pytest.raises(TypeError, match="x: expected .* got dtype <U1"):
        t.score(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="x0"):
        sf.ula(t, step_size=0.1).init(np.zeros((5, 3)))


def test_library_errors_keep_the_command_line_messages():
    with pytest.raises(ValueError, match="unknown target 'gaus'"):
        sf.target("gaus")
    with pytest.raises(ValueError, match="'d' is given twice"):
        sf.target("gauss:d=2,d=3")
    with pytest.raises(ValueError, match="step_size"):
        sf.ula("gauss:d=2", step_size=-1.0)
    with pytest.raises(ValueError, match="seed is -1"):
        sf.ula("gauss:d=2", seed=-1)
    with pytest.raises(TypeError, match="callable"):
        sf.target(3.5)
    with pytest.raises(ValueError, match="needs dim"):
        sf.target(gauss_logp_score)


def test_diagnostics_against_exact_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 2))
    assert abs(sf.mmd2(x, x)) < 1e-12
    assert abs(sf.energy_distance(x, x)) < 1e-12
    assert sf.sliced_w2(x, x) < 1e-12
    assert sf.sliced_w2(x, x + np.array([3.0, 0.0]), projections=512) > 1.0
    assert sf.ess(np.zeros(10)) == pytest.approx(1.0)
    assert sf.ess(np.array([0.0, -np.inf, -np.inf, -np.inf])) == pytest.approx(0.25)
    # KSD of exact samples with the exact score is near 0 (a U-statistic: mean 0).
    assert abs(sf.ksd2(x, -x)) < 0.02
    assert sf.ksd2(x, -(x - 2.0)) > 0.1


def test_kl_estimators_against_their_definitions():
    rng = np.random.default_rng(4)
    x = rng.normal(0.5, 0.8, size=(80, 1))
    # Resubstitution (the SBTM authors' estimator): Scott's rule on the sample variance.
    h2 = np.var(x, ddof=1) * 80.0 ** (-2.0 / 5.0)
    k = np.exp(-0.5 * (x - x.T) ** 2 / h2) / np.sqrt(2 * np.pi * h2)
    log_pi = -0.5 * x[:, 0] ** 2 - 0.5 * np.log(2 * np.pi)
    exact = np.mean(np.log(k.mean(axis=1)) - log_pi)
    assert sf.kl("gauss:d=1", x, method="resubstitution") == pytest.approx(exact, rel=1e-10)
    try:
        from scipy.stats import gaussian_kde
        assert np.mean(np.log(gaussian_kde(x.T)(x.T)) - log_pi) == pytest.approx(exact, rel=1e-10)
    except ImportError:
        pass
    # pi's own draws: the oversmoothing bias wins, below 0 unless clipped.
    own = sf.target("mix1d-far").sample(2000, seed=1)
    assert sf.kl("mix1d-far", own, method="resubstitution", clip=False) < 0
    assert sf.kl("mix1d-far", own, method="resubstitution") == 0
    with pytest.raises(ValueError, match="clip=False applies"):
        sf.kl("gauss:d=1", x, clip=False)
    # Leave-one-out with a given bandwidth.
    h = 0.3
    k = np.exp(-0.5 * (x - x.T) ** 2 / h**2) / np.sqrt(2 * np.pi * h**2)
    np.fill_diagonal(k, 0.0)
    loo = np.mean(np.log(k.sum(axis=1) / 79.0) - log_pi)
    assert sf.kl("gauss:d=1", x, bandwidth=h) == pytest.approx(loo, rel=1e-10)
    assert sf.kl("gauss:d=1", x, method="quadrature", bandwidth=h) > 0
    with pytest.raises(ValueError, match="method is 'scott'"):
        sf.kl("gauss:d=1", x, method="scott")
    with pytest.raises(ValueError, match="bandwidth is -1"):
        sf.kl("gauss:d=1", x, bandwidth=-1)
    with pytest.raises(ValueError, match="no known normalising constant"):
        sf.kl(sf.target(gauss_logp_score, dim=2), rng.normal(size=(10, 2)))


def test_kde_matches_the_formula():
    rng = np.random.default_rng(3)
    data, at, h = rng.normal(size=(50, 2)), rng.normal(size=(7, 2)), 0.4
    logp, score, used = sf.kde(data, at, bandwidth=h)
    diff = at[:, None, :] - data[None, :, :]
    k = np.exp(-0.5 * np.sum(diff**2, axis=2) / h**2)
    exact = np.log(k.mean(axis=1)) - np.log(2 * np.pi * h**2)
    exact_score = -(k[:, :, None] * diff).sum(axis=1) / k.sum(axis=1)[:, None] / h**2
    assert used == h
    np.testing.assert_allclose(logp, exact, rtol=1e-10)
    np.testing.assert_allclose(score, exact_score, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="bandwidth is -1"):
        sf.kde(data, at, bandwidth=-1)


def test_kde_through_the_lattice_stays_within_kde_tol():
    # 20,000 points in 2-D: the lattice pays; each density within kde_tol (relative) of the
    # exact sum, each score within kde_tol * max(|score|, 1/h).
    rng = np.random.default_rng(5)
    data = np.concatenate([rng.normal(size=(15000, 2)), 3 + 0.5 * rng.normal(size=(5000, 2))])
    at = np.concatenate([data, 4 * rng.normal(size=(300, 2))])  # many queries: it pays
    h = 0.1
    fast = sf.kde(data, at, bandwidth=h, kde_tol=1e-6)
    exact = sf.kde(data, at, bandwidth=h, kde_tol=0)
    assert not np.array_equal(fast[0], exact[0])  # the lattice answered
    np.testing.assert_allclose(fast[0], exact[0], rtol=0, atol=1.01e-6)
    scale = np.maximum(np.linalg.norm(exact[1], axis=1), 1 / h)
    assert np.all(np.linalg.norm(fast[1] - exact[1], axis=1) <= 1.01e-6 * scale)
    with pytest.raises(ValueError, match="kde_tol is 2"):
        sf.kde(data, at, bandwidth=h, kde_tol=2)


def test_kde_in_higher_dimensions_through_float32_kernels_stays_within_kde_tol():
    # 6-D: no lattice; at kde_tol=1e-4 float32 kernels answer within the tolerance.
    rng = np.random.default_rng(8)
    data = 50 + rng.normal(size=(3000, 6))
    fast = sf.kde(data, data, kde_tol=1e-4)
    exact = sf.kde(data, data, kde_tol=0)
    assert not np.array_equal(fast[0], exact[0])  # float32 kernels answered
    np.testing.assert_allclose(fast[0], exact[0], rtol=0, atol=1.01e-4)
    scale = np.maximum(np.linalg.norm(exact[1], axis=1), 1 / exact[2])
    assert np.all(np.linalg.norm(fast[1] - exact[1], axis=1) <= 1.01e-4 * scale)
