"""Neural score models from Python: train on a NumPy array, generate, likelihood, export to
TorchScript that torch.jit.load runs, resume, and the command line's numbers."""
import os
import subprocess

import numpy as np
import pytest

import scoreflow as sf

torch = pytest.importorskip("torch")


def gaussian_data(n=3000, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)) * np.array([1.0, 0.5]) + 1.0


def test_a_model_trained_on_an_array_learns_the_gaussian_score(tmp_path):
    data = gaussian_data()
    model = sf.train(data, loss="dsm", sigma=0.05, steps=600, hidden=(64, 64), out=tmp_path / "m")
    assert model.summary["steps_done"] == 600
    path = model.export(tmp_path / "score.pt")
    net = torch.jit.load(path)
    x = torch.tensor([[1.0, 1.0], [2.0, 1.0], [1.0, 1.5]], dtype=torch.float32)
    s = net(x, torch.zeros(3)).detach().numpy()
    exact = -(x.numpy() - 1.0) / np.array([1.0, 0.25])
    # A DSM model at sigma = 0.05 learns the score of the data smoothed by N(0, 0.05^2): within
    # 0.5 of the exact score where the data are dense (a smoke-level accuracy check).
    np.testing.assert_allclose(s, exact, atol=0.5)
    with pytest.raises(ValueError, match="exists"):
        model.export(tmp_path / "score.pt")


def test_generate_and_likelihood_from_a_noise_conditional_model(tmp_path):
    model = sf.train(gaussian_data(), loss="nc-dsm", sde="vp", steps=400, hidden=(64, 64),
                     out=tmp_path / "m")
    out = model.generate(n=500, steps=100, likelihood=True)
    assert out["samples"].shape == (500, 2) and np.all(np.isfinite(out["samples"]))
    assert np.isfinite(out["summary"]["nll_nats"])


def test_train_equals_the_command_line_and_resume_is_refused_with_other_options(tmp_path):
    cli = os.environ.get("SCOREFLOW_CLI")
    if not cli:
        pytest.skip("SCOREFLOW_CLI is not set (ctest sets it)")
    np.save(tmp_path / "d.npy", gaussian_data(500))
    subprocess.run([cli, "train", "--data", str(tmp_path / "d.npy"), "--steps", "50",
                    "--hidden", "32,32", "--out", str(tmp_path / "cli")], check=True,
                   capture_output=True)
    sf.train(gaussian_data(500), steps=50, hidden=(32, 32), out=tmp_path / "py")
    # The data file's path differs; the weights must not.
    assert (tmp_path / "cli" / "model.pt").read_bytes() == (tmp_path / "py" / "model.pt").read_bytes()
    with pytest.raises(ValueError, match="/train/lr"):
        sf.train(gaussian_data(500), steps=60, lr=0.5, hidden=(32, 32), out=tmp_path / "py",
                 resume=True)


def test_bad_training_options_are_refused_by_name():
    with pytest.raises(ValueError, match="data: expected"):
        sf.train(np.zeros(5))
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        sf.train("moons", steps=1, bogus=3)
    with pytest.raises(ValueError, match="loss"):
        sf.train("moons", steps=1, loss="nosuch")


def test_fk_product_of_two_trained_models(tmp_path):
    # N((1, 0), 0.5 I) x N((-1, 0.5), 0.5 I) is proportional to N((0, 0.25), 0.25 I); Z = N(a; b, I).
    rng = np.random.default_rng(3)
    a = sf.train(rng.normal([1.0, 0.0], np.sqrt(0.5), (4000, 2)), loss="nc-dsm", sde="vp",
                 steps=2000, lr=2e-3, hidden=(64, 64), out=tmp_path / "a")
    b = sf.train(rng.normal([-1.0, 0.5], np.sqrt(0.5), (4000, 2)), loss="nc-dsm", sde="vp",
                 steps=2000, lr=2e-3, hidden=(64, 64), out=tmp_path / "b")
    out = a.generate(n=4000, steps=400, sampler="fk", product=[b], seed=2)
    w = np.exp(out["log_weights"])
    mean = (w[:, None] * out["particles"]).sum(0) / w.sum()
    # Each model's own mean errs by a few hundredths after 2000 steps; leaving the product
    # out would put the mean at (1, 0).
    np.testing.assert_allclose(mean, [0.0, 0.25], atol=0.12)
    assert out["samples"].shape == (4000, 2)
    exact_log_z = -np.log(2 * np.pi) - 0.5 * (2.0 ** 2 + 0.5 ** 2)
    assert abs(out["summary"]["log_z"] - exact_log_z) < 0.3
    with pytest.raises(ValueError, match="belong to --sampler fk"):
        a.generate(n=10, steps=10, sampler="euler", beta=2.0)


def test_a_gaussian_base_starts_at_the_exact_diffused_score_of_the_data(tmp_path):
    data = gaussian_data(4000, seed=3)
    # One step at a negligible learning rate: the network is still its zero output layer, so
    # the exported score is the base alone.
    model = sf.train(data, loss="nc-dsm", sde="vp", base="gaussian", steps=1, lr=1e-12,
                     hidden=(16,), out=tmp_path / "m")
    assert model.summary["net"]["base"] == "gaussian"
    net = torch.jit.load(model.export(tmp_path / "score.pt"))
    train = data[np.arange(len(data)) % 10 != 9]  # every tenth row is held out
    mu, cov = train.mean(0), np.cov(train.T, bias=True)
    x = np.array([[0.0, 0.0], [2.0, 1.5], [1.0, -1.0]])
    for t in (0.01, 0.5, 1.0):
        theta = 0.5 * (0.1 * t + 0.5 * 19.9 * t * t)  # VP: β from 0.1 to 20
        m = np.exp(-theta)
        a = m * m * cov + (1 - m * m) * np.eye(2)
        exact = -np.linalg.solve(a, (x - m * mu).T).T
        got = net(torch.tensor(x, dtype=torch.float32), torch.full((3,), t)).detach().numpy()
        np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-4 * np.abs(exact).max())
    with pytest.raises(ValueError, match="unknown dequantise 'sometimes'"):
        sf.train(data, loss="nc-dsm", steps=1, dequantise="sometimes")
    with pytest.raises(ValueError, match=r"dequantise: the data lie in \[.*needs pixels in \[-1, 1\]"):
        sf.train(data, loss="nc-dsm", steps=1, dequantise="on")
    with pytest.raises(ValueError, match="Gaussian base"):
        sf.train(data, loss="dsm", steps=1, base="gaussian")
