"""scoreflow: score estimation and score-based sampling on a fast C++ engine.

Targets, samplers, estimators and diagnostics over NumPy arrays (float64, N x d)::

    import numpy as np, scoreflow as sf
    target = sf.target("gauss:d=2")                      # a built-in, by spec
    s = sf.mala(target, step_size=0.2, seed=1)
    state = s.init(np.zeros((1000, 2)))
    state, info = s.step(state, 100)                     # 100 steps; info of the last
    out = sf.mala(target, step_size=0.2).run(n=1000, steps=500)
    out["samples"], out["trace"], out["summary"]["metrics"]

Your own target is a Python function ``f(x) -> (logp, score)`` over the whole batch
(``sf.target(f, dim=d)``), a TorchScript file, or a ``torch.nn.Module`` whose ``forward``
returns log pi (the score then comes from autograd in C++, with no Python at sampling time).

Errors: bad arguments raise ValueError or TypeError naming the argument; files OSError;
numerical failures (a sampler that diverges) RuntimeError; all with the command line's
messages. Ctrl-C stops ``run`` within one step, keeping the last checkpoint, and raises
KeyboardInterrupt.
"""

import json as _json
import os as _os
import shutil as _shutil
import tempfile as _tempfile

import numpy as _np

from . import _scoreflow as _core

__all__ = [
    "Target", "target", "Sampler", "State", "sampler",
    "ula", "mala", "annealed_ula", "ais", "wfr", "birth_death", "birth_death_kl", "fk_corrector", "sbtm",
    "Model", "train", "kde", "malliavin_score", "heat_ball", "kappa_draws", "FokkerPlanck",
    "fokker_planck", "mmd2", "energy_distance", "sliced_w2", "ksd2", "kl", "ess", "log_z", "rhat",
    "ess_bulk", "ess_tail",
    "processes", "set_threads", "thread_count",
]


class Target:
    """An unnormalised density pi on R^d: batched log pi and its score grad log pi.

    Build one with :func:`target`. ``log_density(x)`` and ``score(x)`` take an (N, d) array and
    return (N,) and (N, d) arrays; ``sample(n, seed)`` draws exact samples where the target has
    an exact sampler (``can_sample``); ``log_normaliser`` is log Z when known, else None.
    """

    def __init__(self, core, name, keep=None, builtin=False):
        self._core = core
        self.name = name
        self._keep = keep  # what the core refers to (a callable)
        self._builtin = builtin  # a registry spec: runs rebuild it (and can plot it)

    dim = property(lambda self: self._core.dim, doc="dimension d")
    spec = property(lambda self: self._core.spec, doc="canonical spec string")
    can_sample = property(lambda self: self._core.can_sample, doc="has an exact sampler")
    log_normaliser = property(lambda self: self._core.log_normaliser, doc="log Z or None")

    @property
    def timings(self):
        """For a Python callable target: ``calls`` of the function, the ``seconds`` the engine
        spent evaluating the target in all and the ``seconds_in_callable`` of those inside the
        function; the difference is the cost of crossing into Python. None for other targets."""
        stats = getattr(self._core, "timings", None)
        return dict(stats) if stats is not None else None

    def log_density(self, x):
        """log pi(x) up to the constant log Z, for an (N, d) array x; returns shape (N,)."""
        return self._core.log_density(x)

    def score(self, x):
        """grad log pi(x) for an (N, d) array x; returns shape (N, d)."""
        return self._core.score(x)

    def sample(self, n, seed=0):
        """n exact samples (ValueError if the target has no exact sampler)."""
        return self._core.sample(_count(n, "n"), _count(seed, "seed", minimum=0))

    def __repr__(self):
        return f"scoreflow.Target({self.name!r}, dim={self.dim})"


def target(source, dim=None, name=None):
    """A target from a spec string, a Python callable, a TorchScript file or a torch module.

    - ``target("gmm4")``, ``target("gauss:d=10,var=2")``: a built-in (``scoreflow targets``
      on the command line lists them).
    - ``target(f, dim=d)``: ``f(x) -> (logp, score)`` for the whole (N, d) batch, returning
      arrays of shapes (N,) and (N, d). It is called once per evaluation from one thread;
      the rest of each step runs on all cores. A wrong shape, a NaN or an exception in ``f``
      raises a Python exception naming the step.
    - ``target("model.pt")`` or ``target(path)`` of a TorchScript module with
      ``forward(x: Tensor[N, d] float64) -> Tensor[N]`` (log pi), optionally ``score(x)``.
    - ``target(module, dim=d)``: a ``torch.nn.Module`` with such a forward; it is scripted
      with ``torch.jit.script`` and run in C++ (score by autograd there).
    """
    if isinstance(source, str):
        if _os.path.isfile(source) or (source.endswith(".pt") and ":" not in source):
            return Target(_core._target_torchscript(source, _count(dim or 0, "dim", 0)),
                          name or source)
        if dim is not None:
            raise ValueError(f"target: dim={dim} is given, but a spec string sets its own "
                             "dimension (e.g. 'gauss:d=5')")
        return Target(_core._target_spec(source), name or source, builtin=True)
    if _is_torch_module(source):
        return _torch_module_target(source, dim, name)
    if callable(source):
        if dim is None:
            raise ValueError("target: a callable needs dim=, the dimension of its points")
        label = name or f"python:{getattr(source, '__name__', 'callable')}"
        return Target(_core._target_callable(source, _count(dim, "dim"), label), label,
                      keep=source)
    raise TypeError(f"target: expected a spec string, a path to a TorchScript file, a "
                    f"callable f(x) -> (logp, score) or a torch.nn.Module; got "
                    f"{type(source).__name__}")


def _is_torch_module(obj):
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, (torch.nn.Module, torch.jit.ScriptModule))


def _torch_module_target(module, dim, name):
    import torch
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
    fd, path = _tempfile.mkstemp(suffix=".pt", prefix="scoreflow-target-")
    _os.close(fd)
    try:
        torch.jit.save(scripted, path)
        core = _core._target_torchscript(path, _count(dim or 0, "dim", 0))
    finally:
        _os.unlink(path)  # the module is loaded; the file is no longer needed
    return Target(core, name or f"torch:{type(module).__name__}")


class State:
    """A sampler's state: positions ``x`` (N, d), ``log_weights`` (weighted samplers, else
    None), ``grad`` (the cached score), ``step`` and ``log_normaliser`` (running log Z part of
    weighted samplers). States are values: ``step`` returns a new one."""

    def __init__(self, core):
        self._core = core

    x = property(lambda self: self._core.x)
    log_weights = property(lambda self: self._core.log_weights)
    grad = property(lambda self: self._core.grad)
    step = property(lambda self: self._core.step)
    log_normaliser = property(lambda self: self._core.log_normaliser)

    def weights(self):
        """Normalised weights (sum 1), uniform for unweighted samplers."""
        lw = self.log_weights
        if lw is None:
            return _np.full(self.x.shape[0], 1.0 / self.x.shape[0])
        w = _np.exp(lw - lw.max())
        return w / w.sum()

    def __repr__(self):
        return f"scoreflow.State(step={self.step}, n={self.x.shape[0]}, d={self.x.shape[1]})"


class Sampler:
    """A sampler on a target, in the BlackJAX idiom.

    ``state = s.init(x0)``; ``state, info = s.step(state)`` (or ``s.step(state, k)`` for k
    steps; ``info`` describes the last: acceptance, ESS, ...); ``s.run(...)`` for a whole run
    with trace, checkpoints and metrics. Random numbers are keyed by (seed, particle, step),
    so the same seed gives the same numbers for any thread count, and a run split into
    several ``step`` calls equals one call.
    """

    def __init__(self, name, target_, seed=0, steps=1000, init=None, **options):
        if not isinstance(target_, Target):
            target_ = target(target_)
        self.name = name
        self.target = target_
        self.seed = _count(seed, "seed", 0)
        self.steps = _count(steps, "steps")
        self.init_spec = init or ""
        self.options = options
        self.spec = _spec(name, options)
        self._core = _core._Sampler(target_._core, self.spec, self.seed, self.steps, self.init_spec)

    config = property(lambda self: self._core.config, doc="the sampler's options, resolved")

    def init(self, x0):
        """The state at step 0 from initial positions x0, an (N, d) array."""
        return State(self._core.init(x0))

    def step(self, state, count=1, progress=None):
        """Advances ``count`` steps; returns (new state, info of the last step). Ctrl-C raises
        KeyboardInterrupt and leaves ``state`` as it was."""
        if not isinstance(state, State):
            raise TypeError(f"step: expected a scoreflow.State, got {type(state).__name__}")
        core, info = self._core.step(state._core, _count(count, "count"), progress)
        return State(core), info

    def run(self, x0=None, n=1000, steps=None, out=None, checkpoint_every=0, resume=False,
            force=False, trace_every=0, metric_n=1000, trace_full_rows=5, snapshots=0,
            trajectory_every=0, threads=0, plot=False, progress=True):
        """A whole run, as ``scoreflow sample`` does it.

        Starts from ``x0`` (N x d) or ``n`` draws from the sampler's ``init`` law (default
        N(0, I)); runs ``steps`` steps (default: the sampler's); returns a dict with
        ``samples`` (N, d), ``weights`` (N,), ``trace`` (a pandas DataFrame when pandas is
        installed, else a dict of arrays) and ``summary`` (metrics, timing, options).

        With ``out`` the run directory is kept (samples.npy, trace.csv, summary.json,
        checkpoints): ``resume=True`` continues an interrupted run bit-identically, ``force``
        replaces an earlier run there. Without ``out`` a temporary directory is used.
        ``progress``: True shows a tqdm bar where tqdm is installed (silent otherwise); a
        callable is called with the step number after every step.

        ``trajectory_every=k`` keeps the first 200 particles every k steps: the result gains
        ``trajectory`` (frames, m, d), and for unweighted samplers the summary's ``mcmc``
        (R-hat and bulk/tail ESS per coordinate, the particles as chains, the second half as
        draws) and the trace's running ``rhat_max``.

        The trace has a row every ``trace_every`` steps (0: about 100 rows); the O(m^2)
        metrics on ``metric_n`` particles (MMD^2, energy distance, KSD^2, KL) are computed on
        the first row and ``trace_full_rows`` more, evenly spaced up to the last (0: every row).
        """
        steps = self.steps if steps is None else _count(steps, "steps")
        if x0 is not None:
            x0 = _np.asarray(x0, dtype=float)
            n = x0.shape[0] if x0.ndim == 2 else n
        builtin = self.target._builtin
        options = dict(target=self.target.spec if builtin else self.target.name,
                       sampler=self.spec, init=self.init_spec, n=_count(n, "n"), steps=steps,
                       seed=self.seed, trace_every=_count(trace_every, "trace_every", 0),
                       metric_n=_count(metric_n, "metric_n"),
                       trace_full_rows=_count(trace_full_rows, "trace_full_rows", 0),
                       snapshots=_count(snapshots, "snapshots", 0),
                       trajectory_every=_count(trajectory_every, "trajectory_every", 0),
                       checkpoint_every=_count(checkpoint_every, "checkpoint_every", 0),
                       threads=_count(threads, "threads", 0), force=bool(force),
                       resume=bool(resume), plot=bool(plot) and builtin)
        bar = None if callable(progress) else _progress_bar(steps, progress, self.name)
        callback = progress if callable(progress) else (bar.update_to if bar else None)
        with _RunDir(out, force) as run:
            options["out"] = run.directory
            try:
                summary = _core._run_sample(options, None if builtin else self.target._core, x0,
                                            callback)
            finally:
                if bar:
                    bar.close()
            return _read_run(run.directory, summary) if _is_root() else None

    def __repr__(self):
        return f"scoreflow.Sampler({self.spec!r}, target={self.target.name!r})"


def sampler(name, target_, **options):
    """Any registered sampler by name, e.g. ``sampler("wfr", t, density="kde")``."""
    return Sampler(name, target_, **options)


_SAMPLER_ENTRIES = _core._sampler_entries()


def _factory(name, summary):
    def make(target_, seed=0, steps=1000, init=None, **options):
        return Sampler(name, target_, seed=seed, steps=steps, init=init, **options)
    make.__name__ = name.replace("-", "_")
    description, parameters = _SAMPLER_ENTRIES.get(name, ("", ""))
    make.__doc__ = (
        f"{summary}\n\n{description}\n\n"
        f"``{make.__name__}(target, seed=0, steps=1000, init=None, **options)`` returns a "
        f"Sampler. ``target``: a Target or a spec string; ``seed``: random numbers are keyed "
        f"by (seed, particle, step); ``steps``: the run length annealing schedules are laid "
        f"out over; ``init``: spec of the initial law for ``run`` (default N(0, I)).\n\n"
        f"Options (as ``--sampler {name}:key=value``), with their defaults:\n"
        f"    {parameters or 'none'}")
    return make


ula = _factory("ula", "Unadjusted Langevin: x += h grad log pi(x) + sqrt(2h) xi.")
mala = _factory("mala", "Metropolis-adjusted Langevin (acceptance in info['acceptance']).")
annealed_ula = _factory("annealed-ula", "Annealed ULA along a path from the initial law to "
                        "the target; fk_weights=true adds Feynman-Kac weights and log Z.")
ais = _factory("ais", "Annealed importance sampling: MALA moves along the geometric path from "
              "N(0, I) to the target, Feynman-Kac weights; state.log_normaliser + log mean "
              "weight estimates log Z without the time-step bias of annealed ULA.")
wfr = _factory("wfr", "Wasserstein-Fisher-Rao weighted Langevin (density ula-kernel or kde).")
birth_death = _factory("birth-death", "Langevin with birth-death jumps (kernel density).")
birth_death_kl = _factory("birth-death-kl", "Birth-death with the KL-gradient rates.")
fk_corrector = _factory("fk-corrector", "Feynman-Kac corrector: samples pi^beta with weights.")
sbtm = _factory("sbtm", "Score-based transport modelling: a network learns the particles' "
                "score; deterministic transport.")


def kde(data, at=None, bandwidth=None, log_weights=None, kde_tol=1e-6):
    """Parzen (Gaussian kernel) estimate from ``data`` (N, d) at the points ``at`` (M, d)
    (default: the data). Returns (log_density (M,), score (M, d), bandwidth); bandwidth None
    uses Silverman's rule. For d <= 3 the kernel sums run in near-linear time where that pays,
    in higher dimensions on float32 kernels where the tolerance admits them (about 1e-5 and
    looser); either way each density within ``kde_tol`` (relative) of the exact sum and each
    score within kde_tol * max(|score|, 1/bandwidth); ``kde_tol=0`` sums exactly."""
    if bandwidth is not None and not (bandwidth > 0):
        raise ValueError(f"kde: bandwidth is {bandwidth}, but must be positive and finite "
                         "(None: Silverman's rule)")
    return _core._kde(data, data if at is None else at, 0.0 if bandwidth is None else
                      float(bandwidth), log_weights, float(kde_tol))


def malliavin_score(sde="ou-cubic", x0=1.5, t=1.0, paths=100000, steps=400, at=None,
                    start=None, seed=1, bandwidth=0.0, regression="local-linear",
                    reference=True, correction=True, sigma=1.0, out=None, force=False):
    """Score grad log p_t of a diffusion dX = b(X, t) dt + sigma dW at query points, from
    Malliavin weights along Euler paths: -E[delta | X_t = y] with standard errors
    (``scoreflow estimate malliavin``).

    ``sde``: a name with options (``scoreflow sdes`` lists them, e.g. "nonlinear",
    "ou:theta=1"), or a ``torch.nn.Module`` whose ``forward(x, t)`` is the drift (scripted;
    derivatives by autograd in C++; diffusion ``sigma``). ``x0``: the start point (number or
    list), or ``start``: an (N, d) array of start points. ``at``: (M, d) query points (default
    a quantile grid of X_t). Returns a dict with ``at``, ``score``, ``stderr``, ``reference``
    (a Fokker-Planck solution where d <= 2 and the start is fixed) and ``summary``."""
    with _RunDir(out, force) as run:
        spec = _sde_spec(sde, sigma, run.scratch)
        options = dict(sde=spec, x0=_point(x0), paths=_count(paths, "paths"),
                       steps=_count(steps, "steps"), t=float(t), seed=_count(seed, "seed", 0),
                       bandwidth=float(bandwidth), regression=regression,
                       reference=bool(reference), no_correction=not correction,
                       out=run.directory, force=run.force)
        options.update(run.arrays(at=at, start=start))
        summary = _core._malliavin(options)
        return run.read(summary, ["at", "score", "stderr", "reference"])


def heat_ball(sde="ou:theta=1,sigma=1.4142135623730951", x0=0.8, x0_std=0.5, t=1.0,
              samples=400000, radius=2.5, steps=1000, at=None, start=None, seed=1,
              reference=True, out=None, force=False):
    """Local mean-value (heat-ball) estimates of the density, log-density, entropy and score
    of a diffusion at time t from forward draws (``scoreflow estimate heatball``).

    The start is N(x0, x0_std^2 I) (x0_std 0: the point x0) or rows of ``start``; ``at`` are
    (M, d) query points. Returns a dict with ``at``, ``density``, ``log_density``,
    ``entropy``, ``score``, ``score_se`` and ``summary``."""
    with _RunDir(out, force) as run:
        options = dict(sde=sde, x0=_point(x0), x0_std=float(x0_std), t=float(t),
                       samples=_count(samples, "samples"), radius=float(radius),
                       steps=_count(steps, "steps"), seed=_count(seed, "seed", 0),
                       reference=bool(reference), out=run.directory, force=run.force)
        options.update(run.arrays(at=at, start=start))
        summary = _core._heat_ball(options)
        return run.read(summary, ["at", "density", "log_density", "entropy", "score",
                                  "score_se"])


def kappa_draws(dim, count, seed=0, first=0, x=None, t=None, radius=None):
    """Exact draws of the kappa-measure, the mean-value weight of the heat ball written as a
    probability measure (MATH.md 7; the sampler of ``scoreflow estimate heatball``).

    Returns a dict with ``z`` (count, dim), ``rho`` and ``e`` (count,). Draw i depends only on
    (seed, first + i), so blocks drawn with ``first`` = 0, k, 2k, ... join into one stream.
    With a point ``x`` (dim,), a time ``t`` and a ``radius`` r it also returns the heat-ball
    points: ``y`` (count, dim) and ``s`` (count,), with tau = t - s = r^2/(4 pi) e^-rho and
    y = x + sqrt(tau) z; every point lies inside E(x, t; r). Under mpirun each process draws
    its share of the stream and rank 0 gets them all (the others get None)."""
    dim, count = _count(dim, "dim"), _count(count, "count")
    given = [v is not None for v in (x, t, radius)]
    if any(given) and not all(given):
        raise ValueError("kappa_draws: x, t and radius go together (the heat ball E(x, t; r)); "
                         "give all three or none")
    if x is not None:
        x = _np.atleast_1d(_np.asarray(x, dtype=float))
        if not _np.all(_np.isfinite(x)):
            raise ValueError(f"kappa_draws: x is {x.tolist()}, but must be finite")
    return _core._kappa(dim, count, _count(seed, "seed", 0), _count(first, "first", 0), x,
                        float(t or 0.0), float(radius or 0.0))


class FokkerPlanck:
    """A finite-volume solution of the Fokker-Planck equation of a forward SDE started at a
    point, in d = 1 or 2 (returned by :func:`fokker_planck`).

    ``density``: cell averages, shape (cells,) or (cells_x, cells_y); ``centres``: the cell
    centres per axis; ``mass``: the integral (1 up to the walls' leakage). ``score(points)``
    and ``density_at(points)`` interpolate at (M, d) points inside the box."""

    def __init__(self, core, sde, t):
        self._core, self.sde, self.t = core, sde, t

    @property
    def density(self):
        return self._core.density

    @property
    def centres(self):
        return self._core.centres

    @property
    def mass(self):
        return self._core.mass

    def score(self, points):
        """grad log p_t at (M, d) points (centred differences of log p, interpolated)."""
        return self._core.score(points)

    def density_at(self, points):
        """p_t at (M, d) points (interpolated)."""
        return self._core.density_at(points)

    def __repr__(self):
        shape = "x".join(str(len(c)) for c in self.centres)
        return f"scoreflow.FokkerPlanck({self.sde!r}, t={self.t}, grid {shape})"


def fokker_planck(sde, x0, t=1.0, lo=-5.0, hi=5.0, cells=1000, steps=2000, t0=1e-3,
                  sigma=1.0):
    """The reference law p_t of dX = b(X, t) dt + sigma(t) dW from X_0 = x0, solved on a grid
    (d = 1 or 2; zero-flux walls; Crank-Nicolson, split by direction in 2-D) - the solution
    the Malliavin and heat-ball estimates are checked against.

    ``sde``: a name with options (``scoreflow sdes``) or a ``torch.nn.Module`` drift
    ``forward(x, t)`` with diffusion ``sigma``. ``lo``, ``hi``, ``cells``: the box, a number
    for every axis or one per axis. ``steps`` time steps from ``t0`` (the start is the exact
    law of one Euler step of length t0) to ``t``."""
    x0 = _np.atleast_1d(_np.asarray(x0, dtype=float))
    if x0.ndim != 1 or x0.size not in (1, 2) or not _np.all(_np.isfinite(x0)):
        raise ValueError(f"fokker_planck: x0 is {x0.tolist()}, but must be 1 or 2 finite "
                         "numbers (the grid solver covers d = 1 and 2)")
    d = x0.size

    def per_axis(value, name, kind):
        values = _np.atleast_1d(_np.asarray(value, dtype=float))
        if values.size == 1:
            values = _np.repeat(values, d)
        if values.ndim != 1 or values.size != d:
            raise ValueError(f"fokker_planck: {name} is {value!r}; give one value or {d}")
        return [kind(v, name) for v in values]

    def real(v, name):
        if not _np.isfinite(v):
            raise ValueError(f"fokker_planck: {name} is {v}, but must be finite")
        return float(v)

    with _tempfile.TemporaryDirectory(prefix="scoreflow-") as scratch:
        spec = _sde_spec(sde, sigma, scratch)
        core = _core._fokker_planck(spec, x0.tolist(), per_axis(lo, "lo", real),
                                    per_axis(hi, "hi", real), per_axis(cells, "cells", _count),
                                    float(t), _count(steps, "steps"), float(t0))
    return FokkerPlanck(core, spec if isinstance(sde, str) else "script", float(t))


class Model:
    """A trained score model: the run directory written by :func:`train` (or
    ``scoreflow train``). ``generate`` draws from it, ``export`` writes TorchScript that
    ``torch.jit.load`` runs in Python (``forward(x, t) -> score``)."""

    def __init__(self, directory, summary=None):
        self.directory = str(directory)
        if summary is None:
            with open(_os.path.join(self.directory, "summary.json")) as f:
                summary = _json.load(f)
        self.summary = summary

    def generate(self, n=10000, sampler="pc", steps=500, seed=1, likelihood=False,
                 out=None, force=False, product=(), **options):
        """n samples by the reverse SDE or probability-flow ODE (sampler: euler, ode-heun,
        ode-rk4, pc, ncsn), or by the Feynman-Kac corrector (sampler="fk"): ``beta=B``
        samples this model's law to the power B, ``product=[other, ...]`` (Models or
        directories of the same SDE) multiplies theirs in; the result then also holds the
        weighted ``particles`` and ``log_weights``, and the summary ``log_z``.
        ``likelihood=True`` adds the held-out negative log-likelihood (nats; bits/dim for
        images) to the summary. Returns dict(samples=..., summary=...)."""
        if product:
            options["product"] = [p.directory if isinstance(p, Model) else str(p)
                                  for p in product]
        with _RunDir(out, force) as run:
            summary = _core._generate(dict(model=self.directory, n=_count(n, "n"),
                                           sampler=sampler, steps=_count(steps, "steps"),
                                           seed=_count(seed, "seed", 0),
                                           likelihood=bool(likelihood), out=run.directory,
                                           force=run.force, **options))
            return run.read(summary, ["samples", "particles", "log_weights"])

    def export(self, path, force=False):
        """Writes the model (an MLP) as TorchScript: ``torch.jit.load(path)(x, t)`` is the
        score. An existing file is replaced only with force=True, and only if it is
        TorchScript."""
        _core._export(self.directory, str(path), bool(force))
        return str(path)

    def __repr__(self):
        return f"scoreflow.Model({self.directory!r})"


def train(data, loss="dsm", steps=2000, batch=256, lr=1e-3, hidden=(128, 128, 128), sde=None,
          n=20000, n_heldout=10000, seed=1, data_seed=0, out=None, force=False, resume=False,
          checkpoint_every=0, **options):
    """Trains a score network by score matching and returns a :class:`Model`.

    ``data``: an (N, d) NumPy array with N >= 10 (stored once, by content, under
    ~/.cache/scoreflow/arrays; every tenth row is held out, as for ``scoreflow train --data
    file.npy``, and ``n``, ``n_heldout`` do not apply), a data set name ("moons", "mnist256", ...) or a target spec. ``loss``: dsm, ism,
    ism-hutchinson, ssm, esm or nc-dsm (noise-conditional, for generation; ``sde`` vp, ve or
    subvp). Further options as in ``scoreflow train`` (optimizer, schedule, ema, sigma,
    time_sampling="likelihood" for the likelihood weighting, base="gaussian" to learn only
    the correction to the data's own Gaussian, dequantise="auto"|"on"|"off", ...).
    With ``out`` the run directory is kept and ``resume=True`` continues it; Ctrl-C stops
    after the current step with a checkpoint and raises KeyboardInterrupt.
    ``grad_blocks=B`` computes each batch's gradient in B fixed blocks (the noise of each
    keyed by step and block) summed in block order: under ``mpirun -np K`` (K <= B) the
    blocks are split over the processes and the weights are the same for every K; rank 0
    gets the Model, the others None."""
    if not isinstance(data, str):
        data = _stored_array(data)
    directory = str(out) if out is not None else _tempfile.mkdtemp(prefix="scoreflow-model-")
    if out is None:
        _os.rmdir(directory)
    summary = _core._train(dict(
            data=data, loss=loss, steps=_count(steps, "steps"), batch=_count(batch, "batch"),
            lr=float(lr), hidden=",".join(str(_count(h, "hidden")) for h in hidden),
            sde=sde or "", n=_count(n, "n"), n_heldout=_count(n_heldout, "n_heldout", 0),
            seed=_count(seed, "seed", 0), data_seed=_count(data_seed, "data_seed", 0),
            out=directory, force=bool(force), resume=bool(resume),
            checkpoint_every=_count(checkpoint_every, "checkpoint_every", 0), **options))
    return Model(directory, summary) if _is_root() else None


def mmd2(x, y, bandwidth=None, log_weights_x=None, log_weights_y=None):
    """MMD^2 between point sets x (N, d) and y (M, d) with the Gaussian kernel
    exp(-|x - y|^2 / (2 l^2)); l = bandwidth, default the median pairwise distance. Optional
    log-weights give weighted sets (V-statistic)."""
    return _core.mmd2(x, y, bandwidth, log_weights_x, log_weights_y)


def log_z(target_, x, log_weights=None, draws=None, seed=0, proposal="gaussian"):
    """log Z of ``target`` by importance sampling from a proposal fitted to (weighted)
    particles ``x`` (N, d): ``proposal="gaussian"`` (mean and covariance, shrunk towards the
    diagonal by d/(d + N_eff), widened by 1.1; for any dimension) or ``"kde"`` (a Gaussian
    kernel mixture with Silverman's bandwidth; low dimension only). Unbiased in Z for any
    particles; good particles make it precise. Returns (log_z, std_error, ess) with ess the
    normalised ESS of the importance weights: near 0, the SE is not to be trusted.
    ``draws``: proposal draws (default 10 N)."""
    t = target_ if isinstance(target_, Target) else target(target_)
    n = _np.shape(x)[0] if _np.ndim(x) == 2 else 0
    draws = 10 * max(n, 1) if draws is None else _count(draws, "draws")
    return _core._log_z(t._core, x, log_weights, draws, _count(seed, "seed", 0), proposal)


def kl(target_, x, log_weights=None, method="kde", bandwidth=None, clip=True):
    """KL(p_hat || target) of (optionally weighted) particles ``x`` (N, d) against a target
    with a known normalising constant, p_hat a Gaussian KDE of the particles:
    ``method="kde"``: E_p[log p_hat - log pi] over the particles, leave-one-out when
    unweighted, Silverman's bandwidth unless ``bandwidth`` is given (d <= 3 in practice);
    ``"quadrature"``: the integral of p_hat log(p_hat/pi) on a grid (d = 1; never negative);
    ``"resubstitution"``: the SBTM authors' estimator (scipy's gaussian_kde with Scott's rule,
    evaluated at the particles themselves, clipped at 0 unless ``clip=False``), for comparing
    with their tables; biased both ways, so pi's own draws often score below 0 unclipped."""
    t = target_ if isinstance(target_, Target) else target(target_)
    if bandwidth is not None and not float(bandwidth) > 0:
        raise ValueError(f"kl: bandwidth is {bandwidth}, but must be > 0 (or None for the rule)")
    if bandwidth is not None and method == "resubstitution":
        raise ValueError("kl: method 'resubstitution' uses Scott's rule; it takes no bandwidth")
    if not clip and method != "resubstitution":
        raise ValueError(f"kl: clip=False applies to method 'resubstitution' only, not '{method}'")
    return _core._kl(t._core, x, log_weights, method,
                     0.0 if bandwidth is None else float(bandwidth), bool(clip))


def energy_distance(x, y, log_weights_x=None, log_weights_y=None):
    """Energy distance 2E|X - Y| - E|X - X'| - E|Y - Y'| between (optionally weighted) sets."""
    return _core.energy_distance(x, y, log_weights_x, log_weights_y)


def sliced_w2(x, y, projections=128, seed=0, log_weights_x=None, log_weights_y=None):
    """Sliced Wasserstein-2: sqrt of the mean over random directions of the exact 1-D W2^2
    (the same directions for the same seed)."""
    return _core.sliced_w2(x, y, _count(projections, "projections"), _count(seed, "seed", 0),
                           log_weights_x, log_weights_y)


def ksd2(x, score, log_weights=None, c=1.0, beta=-0.5):
    """Kernel Stein discrepancy^2 with the IMQ kernel (c^2 + |x - y|^2)^beta, from points x
    (N, d) and the target's score at them (N, d). Unweighted: U-statistic (unbiased, may be
    slightly negative); weighted: V-statistic."""
    return _core.ksd2(x, score, log_weights, c, beta)


def ess(log_weights):
    """Normalised effective sample size (sum w)^2 / (N sum w^2) in (0, 1] from log-weights."""
    return _core.ess(log_weights)


def rhat(draws):
    """Rank-normalised split-R-hat (Vehtari et al. 2021, as Stan and ArviZ compute it) of
    draws shaped (chains, draws), or per quantity for (chains, draws, k). Values above 1.01
    say the chains have not mixed."""
    return _core._rhat(draws)


def ess_bulk(draws):
    """Bulk effective sample size (rank-normalised split chains) of draws shaped
    (chains, draws) or (chains, draws, k)."""
    return _core._ess_bulk(draws)


def ess_tail(draws):
    """Tail effective sample size: the smaller ESS of the indicators of the 5 % and 95 %
    quantiles, for draws shaped (chains, draws) or (chains, draws, k)."""
    return _core._ess_tail(draws)


def processes():
    """``(rank, count)`` of this process in an MPI job, (0, 1) otherwise.

    Under ``mpirun -np K python3 script.py`` (with ``mpi4py`` imported first, or without it)
    ``Sampler.run``, ``malliavin_score``, ``heat_ball``, ``kappa_draws`` and ``train`` (with
    ``grad_blocks``) split their particles, paths, draws or gradient blocks over the K
    processes, with results bit-identical to one process. Every
    process calls them with the same arguments; rank 0 writes the run directory and gets the
    result, the others get None. ULA, MALA, annealed ULA (with or without Feynman-Kac
    weights), AIS, WFR, birth-death and the FK corrector run across processes; SBTM is
    refused there."""
    return tuple(_core._process())


def _is_root():
    return _core._process()[0] == 0


def set_threads(n):
    """Threads for the engine's parallel loops (0: the OpenMP default). Results do not depend
    on it."""
    _core.set_threads(_count(n, "n", 0))


def thread_count():
    """The number of threads the engine's parallel loops use."""
    return _core.thread_count()


# --- helpers ---------------------------------------------------------------------------------

class _RunDir:
    """The run directory of an estimator: the user's ``out`` (kept), or a temporary one.
    Arrays given as arguments are written beside it as .npy files for the run to read."""

    def __init__(self, out, force):
        self.scratch = _tempfile.mkdtemp(prefix="scoreflow-")
        self.keep = out is not None
        self.directory = str(out) if self.keep else _os.path.join(self.scratch, "run")
        self.force = bool(force)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _shutil.rmtree(self.scratch, ignore_errors=True)
        return False

    def arrays(self, **named):
        paths = {}
        for name, value in named.items():
            if value is None:
                continue
            a = _np.asarray(value, dtype=float)
            if a.ndim != 2 or a.shape[1] == 0:
                raise ValueError(f"{name}: expected a 2-D array (N, d), got shape {a.shape}")
            path = _os.path.join(self.scratch, f"{name}.npy")
            _np.save(path, _np.ascontiguousarray(a))
            paths[name] = path
        return paths

    def read(self, summary, names):
        if not _is_root():
            return None
        result = dict(summary=summary)
        for name in names:
            path = _os.path.join(self.directory, f"{name}.npy")
            if _os.path.exists(path):
                result[name] = _np.load(path)
        return result


def _stored_array(data):
    """The training array as an .npy file named by its content, in scoreflow's cache: a run
    records its data by path, so the same array must keep the same path (for resume, and for
    generate's held-out comparison)."""
    import hashlib
    a = _np.ascontiguousarray(_np.asarray(data, dtype=float))
    if a.ndim != 2 or a.shape[1] == 0 or a.shape[0] < 10:
        raise ValueError(f"data: expected an (N, d) array with N >= 10, got shape {a.shape}")
    digest = hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()[:32]
    cache = _os.environ.get("SCOREFLOW_DATA_DIR") or _os.path.join(
        _os.path.expanduser("~"), ".cache", "scoreflow")
    folder = _os.path.join(cache, "arrays")
    _os.makedirs(folder, exist_ok=True)
    path = _os.path.join(folder, f"{digest}.npy")
    if not _os.path.exists(path):
        fd, tmp = _tempfile.mkstemp(dir=folder, suffix=".npy.part")
        with _os.fdopen(fd, "wb") as f:
            _np.save(f, a)
        _os.replace(tmp, path)
    return path


def _point(x0):
    values = _np.atleast_1d(_np.asarray(x0, dtype=float))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"x0: expected a number or a list of numbers, got {x0!r}")
    return ",".join(repr(float(v)) for v in values)


def _sde_spec(sde, sigma, scratch):
    if isinstance(sde, str):
        return sde
    if _is_torch_module(sde):
        import torch
        scripted = sde if isinstance(sde, torch.jit.ScriptModule) else torch.jit.script(sde)
        path = _os.path.join(scratch, "drift.pt")
        torch.jit.save(scripted, path)
        return f"script:path={path},sigma={float(sigma)!r}"
    raise TypeError(f"sde: expected a name such as 'ou:theta=1' or a torch.nn.Module with "
                    f"forward(x, t) -> drift; got {type(sde).__name__}")

def _count(value, name, minimum=1):
    """An integer argument >= minimum, refused (not wrapped) when negative or not whole."""
    if isinstance(value, bool) or not isinstance(value, (int, _np.integer)):
        if isinstance(value, (float, _np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name}: expected a whole number, got {value!r}")
    value = int(value)
    if value < minimum or value > 2**64 - 1:
        raise ValueError(f"{name} is {value}, but must be a whole number from {minimum} to "
                         f"{2**64 - 1}")
    return value


def _spec(name, options):
    parts = []
    for key, value in options.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float):
            value = repr(value)
        parts.append(f"{key}={value}")
    return name + (":" + ",".join(parts) if parts else "")


def _progress_bar(total, wanted, label):
    if not wanted:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None

    class Bar(tqdm):
        def update_to(self, step):
            self.update(step - self.n)

    return Bar(total=total, desc=label, leave=False)


def _read_run(directory, summary):
    samples = _np.load(_os.path.join(directory, "samples.npy"))
    weights_file = _os.path.join(directory, "weights.npy")
    weights = (_np.load(weights_file) if _os.path.exists(weights_file)
               else _np.full(samples.shape[0], 1.0 / samples.shape[0]))
    out = dict(samples=samples, weights=weights,
               trace=_read_trace(_os.path.join(directory, "trace.csv")), summary=summary)
    trajectory_file = _os.path.join(directory, "trajectory.npy")
    if _os.path.exists(trajectory_file):
        out["trajectory"] = _np.load(trajectory_file)
    return out


def _read_trace(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    values = _np.genfromtxt(path, delimiter=",", skip_header=1, ndmin=2)
    columns = {name: values[:, i] for i, name in enumerate(header)}
    try:
        import pandas
    except ImportError:
        return columns
    return pandas.DataFrame(columns)
