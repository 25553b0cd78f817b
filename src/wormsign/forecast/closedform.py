"""Maximum-likelihood fit of Random Constant Spread as one monitor sees it (``closed-form``).

Model (Staniford, Paxson, Weaver 2002): the hosts ever infected follow
``I(t) = N / (1 + exp(-K (t - T)))`` with ``K = r N / 2^32`` for uniform scanning at ``r``
probes per second. Observation model, true to monitors: every infected host's probes land in a
monitor of ``m`` addresses at rate ``delta = r m / 2^32``, so

- probes arrive at rate ``delta I(t)`` (integrated in closed form), and
- a host is first seen after an exponential time of rate ``delta``: the unseen infected pool
  obeys ``dU/dt = I'(t) - delta U`` (integrated exactly per step of a fine grid with an
  exponential integrator) and new sources arrive at rate ``delta U``.

The counts per interval (new sources and/or probes) are Poisson around those expectations;
the fit is by maximum likelihood (quasi-likelihood: each stream's log-likelihood is divided by
its Pearson dispersion, since probes are bursty and the early process is stochastic), over
``(log K, T, log r)`` with a lognormal prior on ``r`` around the preset's scan rate unless
``--scan-rate`` fixed it or ``--vulnerable`` fixed ``N``. From one monitor only the product
``r I(t)`` is identifiable early; the notes of the result say where ``r`` came from.
Intervals: a Laplace approximation (the inverse Hessian of the negative log posterior at the
optimum, dispersion included), sampled with a seeded generator, plus what a deterministic
curve leaves out, the outbreak's own chance (see :func:`_chance`): the growth rate of a birth
process is known only to 1 / sqrt(infections), the population from the slowing only as well,
and the time to reach a size spreads by 1 / (K sqrt(infected now)). On simulated uniform
outbreaks this brings the coverage of the 90 % intervals to 80-100 % (benchmarks/
bench_forecast.py); the dispersion is the largest Pearson ratio over blocks of 1, 2, 4, ...
intervals, since a stochastic outbreak's residuals run in streaks.

``fit(..., intervals=...)`` picks how the parameter draws are made: ``laplace`` (above, the
default and the fastest), ``bootstrap`` (a parametric bootstrap: series of counts drawn from
the fitted model, Poisson or negative binomial with the fitted dispersion, each refitted from
the optimum; the outbreak's chance is added to each refit as to each Laplace draw) or
``profile`` (profile-likelihood intervals of the parameters, where the quasi-deviance rises by
2.706; the estimates and the curve keep the Laplace draws). The notes say which.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.signal import lfilter
from scipy.special import expit, xlogy

from wormsign.errors import ConfigError
from wormsign.forecast.observations import Observations
from wormsign.forecast.priors import Prior
from wormsign.forecast.result import Curve, Forecast, Interval

F64 = npt.NDArray[np.float64]
SPACE = float(2**32)
RATE_SIGMA = 0.7
"""Standard deviation of the lognormal prior on the scan rate around the preset's value."""
MIN_SOURCES = 5
MIN_PROBES = 20
MIN_ACTIVE = 3
"""Fewer sources and probes than these, or fewer intervals with any count, is not evidence."""
ABSURD_WIDTH = 10.0
"""A t50 interval wider than this many evidence spans is no forecast."""
MAX_HORIZON_S = 400 * 86400.0
CURVE_POINTS = 241
LN9 = math.log(9.0)
LN99 = math.log(99.0)


@dataclass(frozen=True, eq=False)
class _Data:
    """The evidence, prepared: interval edges (seconds from the time base origin), counts,
    the monitor's size and a uniform fine grid for the first-seen process."""

    t0: float
    now: float
    span: float
    edges: F64
    sources: F64 | None
    probes: F64 | None
    size: float
    grid: F64


@dataclass(frozen=True)
class _Spec:
    """Which parameters are free: ``free`` (log K, T, log r), ``rate`` (r fixed),
    ``pop`` (N fixed), ``both`` (r and N fixed: only T is free)."""

    mode: str
    rate: float
    vulnerable: float
    log_r0: float

    @property
    def dim(self) -> int:
        return {"free": 3, "rate": 2, "pop": 2, "both": 1}[self.mode]


def _prepare(obs: Observations) -> _Data:
    edges = np.asarray(obs.edges, dtype=np.float64)
    end = obs.end
    k = int(np.searchsorted(edges, end + 1e-9, side="right")) - 1
    k = max(1, min(k, edges.size - 1))
    e = edges[: k + 1]
    src = None if obs.new_sources is None else np.asarray(obs.new_sources, np.float64)[:k]
    prb = None if obs.probes is None else np.asarray(obs.probes, np.float64)[:k]
    t0, last = float(e[0]), float(e[-1])
    n_grid = int(np.clip(16 * k, 256, 20_000))
    return _Data(t0=t0, now=max(end, last), span=last - t0, edges=e,
                 sources=src, probes=prb, size=float(obs.monitor.size),
                 grid=np.linspace(t0, last, n_grid + 1))


def _spec(prior: Prior) -> _Spec:
    if prior.scan_rate_given and prior.vulnerable_given:
        mode = "both"
    elif prior.scan_rate_given:
        mode = "rate"
    elif prior.vulnerable_given:
        mode = "pop"
    else:
        mode = "free"
    return _Spec(mode, float(prior.scan_rate), float(prior.vulnerable),
                 math.log(prior.scan_rate))


def _params(theta: F64, spec: _Spec, data: _Data) -> tuple[F64, F64, F64, F64]:
    """(K per second, T, r, N) for parameter rows ``theta`` (shape (D, dim))."""
    th = np.atleast_2d(theta)
    if spec.mode == "both":
        k = np.full(th.shape[0], spec.rate * spec.vulnerable / SPACE)
        tm = data.t0 + th[:, 0] * data.span
        return k, tm, np.full_like(k, spec.rate), np.full_like(k, spec.vulnerable)
    with np.errstate(over="ignore"):
        k = np.exp(th[:, 0]) / 3600.0
    tm = data.t0 + th[:, 1] * data.span
    if spec.mode == "free":
        with np.errstate(over="ignore"):
            r = np.exp(th[:, 2])
        n = k * SPACE / r
    elif spec.mode == "rate":
        r = np.full_like(k, spec.rate)
        n = k * SPACE / r
    else:
        n = np.full_like(k, spec.vulnerable)
        r = k * SPACE / n
    return k, tm, r, n


def _infected(t: F64, k: float, tm: float, n: float) -> F64:
    return np.asarray(n * expit(k * (t - tm)), dtype=np.float64)


def _seen(grid: F64, k: float, tm: float, n: float, delta: float) -> F64:
    """Expected sources first seen since ``grid[0]``, on the uniform ``grid``."""
    inf = _infected(grid, k, tm, n)
    h = float(grid[1] - grid[0])
    x = delta * h
    a = math.exp(-x)
    phi = -math.expm1(-x) / x if x > 1e-12 else 1.0
    u0 = float(inf[0]) * k / (k + delta)
    y, _ = lfilter([phi], [1.0, -a], np.diff(inf), zi=[a * u0])
    unseen = np.concatenate(([u0], y))
    return np.asarray((inf - inf[0]) - (unseen - u0), dtype=np.float64)


def _expected(data: _Data, k: float, tm: float, r: float,
              n: float) -> tuple[F64 | None, F64 | None]:
    delta = r * data.size / SPACE
    mu_s = mu_p = None
    if data.probes is not None:
        cum = delta * n / k * np.logaddexp(0.0, k * (data.edges - tm))
        mu_p = np.maximum(np.diff(cum), 1e-12)
    if data.sources is not None:
        seen = np.interp(data.edges, data.grid, _seen(data.grid, k, tm, n, delta))
        mu_s = np.maximum(np.diff(seen), 1e-12)
    return mu_s, mu_p


def _loglik(y: F64 | None, mu: F64 | None) -> float:
    if y is None or mu is None:
        return 0.0
    return float(np.sum(xlogy(y, mu) - mu))


def _objective(data: _Data, spec: _Spec, weights: tuple[float, float]) -> Callable[[F64], float]:
    """The negative log posterior (weighted quasi-likelihood plus the prior on log r)."""
    big = 1e30

    def f(theta: F64) -> float:
        k, tm, r, n = (float(v[0]) for v in _params(theta, spec, data))
        if not all(math.isfinite(v) and v > 0 for v in (k, r, n)) or not math.isfinite(tm):
            return big
        if n > SPACE / 2 or k > 10.0 or abs(tm - data.t0) > 1e3 * max(data.span, 1.0) + 1e9:
            return big
        mu_s, mu_p = _expected(data, k, tm, r, n)
        ll = weights[0] * _loglik(data.sources, mu_s) + weights[1] * _loglik(data.probes, mu_p)
        if spec.mode == "free":
            ll -= 0.5 * ((float(theta[2]) - spec.log_r0) / RATE_SIGMA) ** 2
        return -ll if math.isfinite(ll) else big

    return f


def _starts(data: _Data, spec: _Spec) -> list[F64]:
    """Starting points: growth from the slope of log cumulative counts, midpoint from the
    level of ``r I(now)`` (where ``r I(T) = K 2^32 / 2``)."""
    use_probes = data.probes is not None and (
        data.sources is None or float(np.sum(data.sources)) < 10)
    y = data.probes if use_probes else data.sources
    assert y is not None
    cum = np.cumsum(y)
    t = data.edges[1:]
    ok = np.nonzero(cum >= max(2.0, 0.02 * float(cum[-1])))[0]
    ok = ok[ok.size // 2:]
    k0 = 5.0 / max(data.span, 1.0)
    if ok.size >= 2 and float(np.ptp(t[ok])) > 0:
        k0 = float(np.polyfit(t[ok], np.log(cum[ok]), 1)[0])
    k0 = float(np.clip(k0, 1e-7, 0.05))
    r0 = spec.rate if spec.mode in ("free", "rate", "both") else k0 * SPACE / spec.vulnerable
    delta0 = r0 * data.size / SPACE
    tail = slice(max(0, y.size - 3), y.size)
    dt = float(data.edges[-1] - data.edges[tail.start])
    starts = []
    for mult in (1.0, 0.5, 2.0):
        kk = k0 * mult
        if use_probes:
            ri = float(np.sum(y[tail])) / dt * SPACE / data.size
        else:
            ri = r0 * max(float(cum[-1]), 1.0) * (kk + delta0) / delta0
        tm = data.now - math.log(max(ri, 1e-9) / (kk * SPACE)) / kk
        b = (tm - data.t0) / max(data.span, 1.0)
        full = {"free": [math.log(kk * 3600), b, spec.log_r0], "rate": [math.log(kk * 3600), b],
                "pop": [math.log(kk * 3600), b], "both": [b]}[spec.mode]
        starts.append(np.asarray(full, dtype=np.float64))
    return starts


def _minimise(f: Callable[[F64], float], starts: list[F64]) -> tuple[F64, float]:
    """Nelder-Mead from each start, then a restart from the best (to leave a collapsed
    simplex)."""
    best_x, best_f = starts[0], math.inf
    for x0 in starts:
        res = minimize(f, x0, method="Nelder-Mead",
                       options={"xatol": 1e-5, "fatol": 1e-3, "maxiter": 2000})
        if float(res.fun) < best_f:
            best_x, best_f = np.asarray(res.x, dtype=np.float64), float(res.fun)
    res = minimize(f, best_x, method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-5, "maxiter": 2000})
    if float(res.fun) < best_f:
        best_x, best_f = np.asarray(res.x, dtype=np.float64), float(res.fun)
    return best_x, best_f


def _hessian(f: Callable[[F64], float], x: F64, step: float = 1e-4) -> F64:
    """Central-difference Hessian of ``f`` at ``x``."""
    p = x.size
    h = np.zeros((p, p))
    f0 = f(x)
    eye = np.eye(p) * step
    for i in range(p):
        h[i, i] = (f(x + eye[i]) - 2 * f0 + f(x - eye[i])) / step**2
        for j in range(i + 1, p):
            h[i, j] = h[j, i] = (f(x + eye[i] + eye[j]) - f(x + eye[i] - eye[j])
                                 - f(x - eye[i] + eye[j]) + f(x - eye[i] - eye[j])) / (4 * step**2)
    return h


def _pearson(y: F64, mu: F64, dim: int) -> float:
    """Dispersion of counts ``y`` around ``mu`` (at least 1): the largest Pearson ratio over
    blocks of 1, 2, 4, ... intervals (at least 8 blocks), so that residuals that run in
    streaks (a stochastic outbreak wanders around the mean curve) widen the intervals too."""
    best, b = 1.0, 1
    while y.size // b >= 8:
        nb = y.size // b
        yy = y[y.size - nb * b:].reshape(nb, b).sum(axis=1)
        mm = mu[mu.size - nb * b:].reshape(nb, b).sum(axis=1)
        dof = max(1, nb - dim) if b == 1 else nb
        best = max(best, float(np.sum((yy - mm) ** 2 / mm)) / dof)
        b *= 2
    return best


def _dispersion(data: _Data, spec: _Spec, theta: F64) -> tuple[float, float]:
    """Dispersion (at least 1) of each stream at ``theta``."""
    k, tm, r, n = (float(v[0]) for v in _params(theta, spec, data))
    mu_s, mu_p = _expected(data, k, tm, r, n)
    out = []
    for y, mu in ((data.sources, mu_s), (data.probes, mu_p)):
        out.append(1.0 if y is None or mu is None else _pearson(y, mu, spec.dim))
    return out[0], out[1]


@dataclass(frozen=True, eq=False)
class _Fit:
    theta: F64
    cov: F64
    dispersion: tuple[float, float]


def _fit(data: _Data, spec: _Spec) -> _Fit | str:
    """The quasi-likelihood optimum and its covariance, or why there is none."""
    starts = _starts(data, spec)
    theta, fun = _minimise(_objective(data, spec, (1.0, 1.0)), starts)
    if not math.isfinite(fun) or fun >= 1e29:
        return "the likelihood could not be maximised"
    disp = _dispersion(data, spec, theta)
    f = _objective(data, spec, (1.0 / disp[0], 1.0 / disp[1]))
    if max(disp) > 1.0:
        theta, fun = _minimise(f, [theta])
    hess = _hessian(f, theta)
    if not np.all(np.isfinite(hess)):
        return "the likelihood is not smooth at its maximum"
    hess = (hess + hess.T) / 2
    if float(np.min(np.linalg.eigvalsh(hess))) <= 0:
        return "the likelihood is flat: the data do not pin the growth down"
    return _Fit(theta, np.asarray(np.linalg.inv(hess), dtype=np.float64), disp)


def _lack(obs: Observations, data: _Data) -> str:
    """Why the evidence is too thin for any fit ('' when it is enough)."""
    src = 0.0 if data.sources is None else float(np.sum(data.sources))
    prb = 0.0 if data.probes is None else float(np.sum(data.probes))
    streams = [y for y in (data.sources, data.probes) if y is not None]
    active = max(int(np.count_nonzero(y)) for y in streams)
    if src < MIN_SOURCES and prb < MIN_PROBES:
        return (f"only {src:.0f} sources and {prb:.0f} probes seen by {obs.monitor.size:,} "
                "monitored addresses: too little to estimate growth")
    if active < MIN_ACTIVE:
        return f"counts in only {active} intervals: too few to see growth"
    return ""


def _level(k: F64, tm: F64, n: F64, t: float) -> F64:
    return np.asarray(n / (1.0 + np.exp(np.clip(-k * (t - tm), -700, 700))))


def _chance(rng: np.random.Generator, draws: tuple[F64, F64, F64, F64], data: _Data,
            spec: _Spec) -> tuple[F64, F64, F64, F64]:
    """Add the outbreak's own chance to parameter draws ``(K, T, r, N)``, which a
    deterministic curve leaves out, keeping each draw's curve through its current level:

    1. the growth rate of a birth process is known only to a relative variance of
       1 / (infections that happened in the evidence), whatever the monitor;
    2. so the slowing that would tell the population apart is known only as well: without
       probes to give the scan rate, log N gets at least the variance of the prior combined
       with that of the slowing, ``2 / (births (I/N)^2)``;
    3. from ``i`` infected hosts on, a growing population reaches a given size with a time
       spread of about ``1 / (K sqrt(i))``.
    """
    k, tm, r, n = draws
    i_now = np.minimum(_level(k, tm, n, data.now), n * (1 - 1e-9))
    births = np.maximum(i_now - _level(k, tm, n, data.t0), 1.0)
    if spec.mode != "both":
        k2 = k * np.exp(rng.standard_normal(k.size) / np.sqrt(births))
        tm = data.now - k * (data.now - tm) / k2
        k = k2
    if spec.mode == "free" and data.probes is None:
        share = np.maximum(i_now / n, 1e-9)
        curv = 2.0 / (births * share**2)
        want = 1.0 / (1.0 / RATE_SIGMA**2 + 1.0 / curv)
        n = np.minimum(n * np.exp(rng.standard_normal(k.size) * np.sqrt(want)), SPACE / 2)
        share = np.minimum(i_now / n, 1 - 1e-9)
        tm = data.now - np.log(share / (1.0 - share)) / k
    if spec.mode == "rate":
        n = np.minimum(k * SPACE / r, SPACE / 2)
    elif spec.mode != "both":
        r = k * SPACE / n
    tm = tm + rng.standard_normal(k.size) / (k * np.sqrt(np.maximum(i_now, 1.0)))
    return np.asarray(k), np.asarray(tm), np.asarray(r), np.asarray(n)


def _estimates(k: F64, tm: F64, n: F64, now: float) -> dict[str, F64]:
    return {"infected_now": n / (1.0 + np.exp(np.clip(-k * (now - tm), -700, 700))),
            "t50": tm, "t90": tm + LN9 / k, "peak_time": tm, "final_size": n,
            "peak_new_per_min": k * n / 4.0 * 60.0}


def _curve(data: _Data, draws: tuple[F64, F64, F64, F64], t_end: float) -> Curve:
    k, tm, r, n = draws
    t = np.linspace(data.t0, t_end, CURVE_POINTS)
    fine = np.linspace(data.t0, t_end, 2001)
    inf = np.empty((k.size, t.size))
    seen = np.empty_like(inf)
    for i in range(k.size):
        ki, ti, ri, ni = float(k[i]), float(tm[i]), float(r[i]), float(n[i])
        inf[i] = _infected(t, ki, ti, ni)
        seen[i] = np.interp(t, fine, _seen(fine, ki, ti, ni, ri * data.size / SPACE))
    rate = inf * r[:, None] / SPACE

    def bands(a: F64) -> tuple[F64, F64, F64]:
        q = np.quantile(a, (0.05, 0.5, 0.95), axis=0)
        return (np.asarray(q[0]), np.asarray(q[1]), np.asarray(q[2]))

    return Curve(t=t, infected=bands(inf), seen=bands(seen), probe_rate=bands(rate))


def _notes(data: _Data, spec: _Spec, prior: Prior, fit: _Fit, r_iv: Interval) -> list[str]:
    notes = ["from one monitor only the product of scan rate and infected count is "
             "identifiable early; the population follows from the scan rate (N = K 2^32 / r)"]
    if spec.mode in ("rate", "both"):
        notes.append(f"scan rate fixed at {prior.scan_rate:g}/s by --scan-rate")
    if spec.mode in ("pop", "both"):
        notes.append(f"population fixed at {prior.vulnerable:,} by --vulnerable"
                     + ("; scan rate = K 2^32 / N" if spec.mode == "pop" else ""))
    if spec.mode == "free":
        how = ("the ratio of probes to new sources informs it"
               if data.probes is not None and data.sources is not None else
               "the data barely inform it")
        notes.append(f"scan rate: lognormal prior (sigma {RATE_SIGMA}) around the "
                     f"{prior.preset} preset's {prior.scan_rate:g}/s; {how}; fitted "
                     f"{r_iv.estimate:.3g}/s (90 % {r_iv.p5:.3g}-{r_iv.p95:.3g})")
    for name, c in zip(("new-source", "probe"), fit.dispersion, strict=True):
        if c > 1.5:
            notes.append(f"{name} counts vary {c:.3g}x more than Poisson: intervals widened")
    if prior.strategy != "uniform" or prior.removal:
        notes.append(f"the closed form assumes uniform scanning without removal; the "
                     f"{prior.preset} preset has {prior.strategy} scanning"
                     + (" and removal" if prior.removal else "")
                     + ": the simulation-based fit models it")
    if prior.note:
        notes.append(prior.note)
    return notes


INTERVALS = ("laplace", "bootstrap", "profile")
"""Interval methods: ``laplace`` (default, the fastest), ``bootstrap`` (parametric bootstrap
refits) and ``profile`` (profile likelihood for the parameters, Laplace for the rest)."""
BOOT_REFITS = 100
"""Parametric bootstrap: this many simulated series, each refitted from the optimum."""
PROFILE_CHI2 = 2.706
"""The 95 % point of chi-square with 1 degree of freedom: a 90 % two-sided interval."""
PROFILE_STEP = 0.5
PROFILE_STEPS = 16
"""The profile walks out from the optimum in steps of this many Laplace standard errors,
at most this many steps each way."""


def _draw_counts(rng: np.random.Generator, mu: F64, disp: float) -> F64:
    """Counts around ``mu``: Poisson, or negative binomial (a gamma-Poisson mixture) with
    variance ``disp * mu`` when the stream is overdispersed."""
    if disp <= 1.0 + 1e-9:
        return np.asarray(rng.poisson(mu), dtype=np.float64)
    scale = disp - 1.0
    lam = rng.gamma(mu / scale, scale)
    return np.asarray(rng.poisson(lam), dtype=np.float64)


def _bootstrap(rng: np.random.Generator, data: _Data, spec: _Spec, fit_: _Fit,
               refits: int) -> F64:
    """Parameter rows refitted to series drawn from the fitted model (parametric bootstrap);
    each refit starts at the optimum and uses the fitted dispersion's weights."""
    k, tm, r, n = (float(v[0]) for v in _params(fit_.theta, spec, data))
    mu_s, mu_p = _expected(data, k, tm, r, n)
    weights = (1.0 / fit_.dispersion[0], 1.0 / fit_.dispersion[1])
    rows = []
    for _ in range(refits):
        src = None if mu_s is None else _draw_counts(rng, mu_s, fit_.dispersion[0])
        prb = None if mu_p is None else _draw_counts(rng, mu_p, fit_.dispersion[1])
        sim = dataclasses.replace(data, sources=src, probes=prb)
        f = _objective(sim, spec, weights)
        res = minimize(f, fit_.theta, method="Nelder-Mead",
                       options={"xatol": 1e-4, "fatol": 1e-3, "maxiter": 600})
        if math.isfinite(float(res.fun)) and float(res.fun) < 1e29:
            rows.append(np.asarray(res.x, dtype=np.float64))
    if not rows:
        return np.atleast_2d(fit_.theta)
    return np.asarray(rows, dtype=np.float64)


def _profile_bound(f: Callable[[F64], float], fit_: _Fit, fmin: float, j: int,
                   sign: float) -> F64:
    """Where the profile deviance of coordinate ``j`` first rises by :data:`PROFILE_CHI2`
    walking from the optimum in direction ``sign`` (the others maximised at each step); the
    parameter row there, interpolated between grid points. The last point when it never
    rises that far."""
    step = sign * PROFILE_STEP * math.sqrt(max(float(fit_.cov[j, j]), 1e-12))
    others = [i for i in range(fit_.theta.size) if i != j]
    prev_x, prev_d = fit_.theta, 0.0
    for s in range(1, PROFILE_STEPS + 1):
        fixed = float(fit_.theta[j]) + s * step
        x = prev_x.copy()
        x[j] = fixed
        if others:
            def g(z: F64, fixed: float = fixed) -> float:
                full = np.empty(fit_.theta.size)
                full[j] = fixed
                full[others] = z
                return f(full)

            res = minimize(g, x[others], method="Nelder-Mead",
                           options={"xatol": 1e-5, "fatol": 1e-4, "maxiter": 1000})
            x[others] = res.x
            val = float(res.fun)
        else:
            val = f(x)
        dev = 2.0 * (val - fmin)
        if dev >= PROFILE_CHI2:
            w = (PROFILE_CHI2 - prev_d) / max(dev - prev_d, 1e-12)
            return np.asarray(prev_x + w * (x - prev_x), dtype=np.float64)
        prev_x, prev_d = x, max(dev, 0.0)
    return prev_x


def _profile(data: _Data, spec: _Spec, fit_: _Fit) -> dict[str, tuple[float, float]]:
    """Profile-likelihood 90 % intervals of the free parameters (growth per hour, midpoint,
    scan rate, population): the quasi-deviance, with the fitted dispersion, rises by 2.706
    at each end. Growth and midpoint are profiled directly; scan rate and population are
    read at the ends of the coordinate that moves them (log r in the free mode, log K when
    the other is fixed)."""
    f = _objective(data, spec, (1.0 / fit_.dispersion[0], 1.0 / fit_.dispersion[1]))
    fmin = f(fit_.theta)
    names = {"free": (("growth_per_hour", 0), ("midpoint", 1), ("scan_rate", 2),
                      ("vulnerable", 2)),
             "rate": (("growth_per_hour", 0), ("midpoint", 1), ("vulnerable", 0)),
             "pop": (("growth_per_hour", 0), ("midpoint", 1), ("scan_rate", 0)),
             "both": (("midpoint", 0),)}[spec.mode]
    ends: dict[int, tuple[F64, F64]] = {}
    out = {}
    for name, j in names:
        if j not in ends:
            ends[j] = (_profile_bound(f, fit_, fmin, j, -1.0),
                       _profile_bound(f, fit_, fmin, j, 1.0))
        k, tm, r, n = _params(np.vstack(ends[j]), spec, data)
        vals = {"growth_per_hour": k * 3600.0, "midpoint": tm, "scan_rate": r,
                "vulnerable": n}[name]
        out[name] = (float(np.min(vals)), float(np.max(vals)))
    return out


def _draws(rng: np.random.Generator, data: _Data, spec: _Spec, fit_: _Fit, samples: int,
           intervals: str) -> tuple[F64, F64, F64, F64]:
    """Parameter draws ``(K, T, r, N)`` by the interval method, with the outbreak's own
    chance added to each (see :func:`_chance`)."""
    size = max(20, samples)
    if intervals == "bootstrap":
        rows = _bootstrap(rng, data, spec, fit_, min(BOOT_REFITS, size))
        theta = rows[np.arange(size) % rows.shape[0]]
    else:
        theta = rng.multivariate_normal(fit_.theta, fit_.cov, size=size, method="eigh")
    k, tm, r, n = _params(theta, spec, data)
    return _chance(rng, (k, tm, r, np.minimum(n, SPACE / 2)), data, spec)


def _interval_note(intervals: str, refits: int) -> str:
    if intervals == "bootstrap":
        return (f"intervals: parametric bootstrap ({refits} series drawn from the fitted "
                "model with its dispersion, each refitted) plus the outbreak's own chance")
    if intervals == "profile":
        return ("intervals: profile likelihood (deviance rise 2.706) for the parameters; "
                "estimates and curve from the Laplace approximation plus the outbreak's "
                "own chance")
    return ("intervals: Laplace approximation (inverse Hessian at the optimum) plus the "
            "outbreak's own chance")


def fit(obs: Observations, prior: Prior, *, horizon_s: float | None = None, seed: int = 1,
        samples: int = 400, intervals: str = "laplace") -> Forecast:
    """Fit Random Constant Spread seen through ``obs.monitor`` and forecast from it.

    Returns a :class:`Forecast` with ``method`` ``"closed-form"``: status ``"ok"`` with
    parameters, estimates and a curve with 90 % bands, or ``"not-enough-evidence"`` with a
    reason when the evidence is too thin, the fit fails, or the interval of t50 is absurd.
    ``intervals`` is one of :data:`INTERVALS` (see the module doc).
    """
    if intervals not in INTERVALS:
        raise ConfigError(f"intervals must be one of {', '.join(INTERVALS)}, "
                          f"not {intervals[:40]!r}")
    data = _prepare(obs)

    def refuse(reason: str) -> Forecast:
        return Forecast(status="not-enough-evidence", method="closed-form", observations=obs,
                        reason=reason, preset=prior.preset, seed=seed)

    lack = _lack(obs, data)
    if lack:
        return refuse(lack)
    spec = _spec(prior)
    result = _fit(data, spec)
    if isinstance(result, str):
        return refuse(result)
    rng = np.random.default_rng(seed)
    k, tm, r, n = _draws(rng, data, spec, result, samples, intervals)
    best = [float(v[0]) for v in _params(result.theta, spec, data)]
    est = {key: Interval.from_samples(val, float(_estimates(
        np.array([best[0]]), np.array([best[1]]), np.array([best[3]]), data.now)[key][0]))
        for key, val in _estimates(k, tm, n, data.now).items()}
    t50 = est["t50"]
    if not (math.isfinite(t50.p5) and math.isfinite(t50.p95)) or (
            t50.p95 - t50.p5 > ABSURD_WIDTH * max(data.span, 1.0)):
        return refuse(f"the 90 % interval of t50 spans {(t50.p95 - t50.p5) / 3600:.3g} h "
                      f"against {data.span / 3600:.3g} h of evidence: too uncertain to forecast")
    params = {"growth_per_hour": Interval.from_samples(k * 3600, best[0] * 3600),
              "scan_rate": Interval.from_samples(r, best[2]),
              "vulnerable": Interval.from_samples(n, best[3]),
              "midpoint": Interval.from_samples(tm, best[1])}
    if intervals == "profile":
        for name, (lo, hi) in _profile(data, spec, result).items():
            est_v = params[name].estimate
            params[name] = Interval(est_v, min(lo, est_v), max(hi, est_v))
    if horizon_s is not None:
        t_end = data.now + max(0.0, float(horizon_s))
    else:
        t_end = float(np.quantile(tm + LN99 / k, 0.95))
    t_end = float(np.clip(t_end, data.now, data.now + MAX_HORIZON_S))
    if t_end <= data.t0:
        t_end = data.now + max(data.span, 1.0)
    curve = _curve(data, (k, tm, r, n), t_end)
    notes = _notes(data, spec, prior, result, params["scan_rate"])
    notes.append(_interval_note(intervals, min(BOOT_REFITS, max(20, samples))))
    return Forecast(status="ok", method="closed-form", observations=obs, params=params,
                    estimates=est, curve=curve, notes=tuple(notes),
                    preset=prior.preset, seed=seed)
