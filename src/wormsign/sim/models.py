"""Deterministic models: Random Constant Spread (logistic) and the two-factor model.

* Random Constant Spread (Staniford, Paxson, Weaver 2002): da/dt = K a (1 - a) with
  K = scan_rate x N / 2^bits, solved in closed form; :func:`fit_logistic` fits K and T to a run.
* Two-factor model (Zou, Gong, Towsley 2002): dS/dt = -beta(t) S I - dQ/dt, dR/dt = gamma I,
  dQ/dt = mu S (I + R), beta(t) = beta0 (1 - I/N)^eta, with beta0 = scan_rate / 2^bits,
  gamma the scenario's removal rate and mu = tf_mu / N (per hour), solved with scipy.

Both return a :class:`SimResult` on the same output grid as a stochastic run.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from wormsign.sim.result import SimResult
from wormsign.sim.scenario import Scenario

F64 = npt.NDArray[np.float64]


def _grid(sc: Scenario) -> F64:
    step = sc.output_step()
    nb = max(1, math.ceil(sc.duration_s / step - 1e-9))
    return np.asarray(np.minimum(np.arange(1, nb + 1) * step, sc.duration_s), dtype=np.float64)


def _crossings(t: F64, ever: F64, n: int, t0_value: float) -> tuple[float, float, float]:
    out = []
    tt = np.concatenate(([0.0], t))
    ee = np.concatenate(([t0_value], ever))
    for frac in (0.1, 0.5, 0.9):
        target = frac * n
        idx = np.nonzero(ee >= target)[0]
        if idx.size == 0:
            out.append(math.nan)
            continue
        i = int(idx[0])
        if i == 0:
            out.append(0.0)
            continue
        e0, e1 = ee[i - 1], ee[i]
        out.append(float(tt[i - 1] + (tt[i] - tt[i - 1]) * (target - e0) / max(e1 - e0, 1e-300)))
    return out[0], out[1], out[2]


def _result(sc: Scenario, t: F64, s: F64, i: F64, r: F64, ever: F64,
            times: tuple[float, float, float]) -> SimResult:
    step = np.diff(t, prepend=0.0)
    new = np.diff(ever, prepend=float(sc.initial))
    i_mid = (i + np.concatenate(([float(sc.initial)], i[:-1]))) / 2.0
    zeros = np.zeros_like(t)
    return SimResult(
        scenario=sc, seed=None, t=t, susceptible=s, infected=i, removed=r,
        new_infections=new, probes=sc.scan_rate * i_mid * step, ever_infected=ever,
        scanning=i, flood=zeros, telescopes={}, threshold_times=times,
    )


def logistic_K(sc: Scenario) -> float:
    """K (per second) of Random Constant Spread for uniform scanning."""
    return sc.scan_rate * sc.vulnerable / sc.space


def logistic(sc: Scenario) -> SimResult:
    """Random Constant Spread: a(t) = a0 e^{Kt} / (1 - a0 + a0 e^{Kt})."""
    n = sc.vulnerable
    k = logistic_K(sc)
    a0 = sc.initial / n
    t = _grid(sc)
    with np.errstate(over="ignore"):
        e = np.exp(np.minimum(k * t, 700.0))
    a = a0 * e / (1.0 - a0 + a0 * e)
    infected = n * a
    times = []
    for x in (0.1, 0.5, 0.9):
        if a0 >= x:
            times.append(0.0)
            continue
        tx = math.log(x * (1 - a0) / (a0 * (1 - x))) / k
        times.append(tx if tx <= sc.duration_s else math.nan)
    return _result(sc, t, n - infected, infected, np.zeros_like(t), infected,
                   (times[0], times[1], times[2]))


def two_factor(sc: Scenario) -> SimResult:
    """The Zou-Gong-Towsley two-factor model, integrated with scipy's ``solve_ivp``."""
    from scipy.integrate import solve_ivp

    n = float(sc.vulnerable)
    beta0 = sc.scan_rate / sc.space
    eta = sc.tf_eta
    mu = sc.tf_mu / 3600.0 / n
    removal = sc.removal_rate

    def gamma(t: float) -> float:
        g = 0.0
        for hour, per_hour in removal:
            if hour * 3600.0 <= t:
                g = per_hour / 3600.0
        return g

    def rhs(t: float, y: F64) -> list[float]:
        s, r, q, _c = y
        i = max(n - s - r - q, 0.0)
        beta = beta0 * max(1.0 - i / n, 0.0) ** eta
        dq = mu * s * (i + r)
        inf = beta * s * i
        return [-inf - dq, gamma(t) * i, dq, inf]

    t = _grid(sc)
    y0 = [n - sc.initial, 0.0, 0.0, float(sc.initial)]
    sol = solve_ivp(rhs, (0.0, sc.duration_s), y0, t_eval=t, method="LSODA",
                    rtol=1e-8, atol=1e-6)
    s, r, q, c = (np.asarray(v, dtype=np.float64) for v in sol.y)
    i = np.maximum(n - s - r - q, 0.0)
    times = _crossings(t, c, sc.vulnerable, float(sc.initial))
    return _result(sc, t, s, i, r + q, c, times)


def fit_logistic(t: F64, infected: F64, n: float) -> tuple[float, float]:
    """Least-squares fit of a(t) = 1 / (1 + e^{-K (t - T)}) to a run: returns (K, T) in s."""
    from scipy.optimize import curve_fit

    a = np.asarray(infected, dtype=np.float64) / n

    def f(x: F64, k: float, tm: float) -> F64:
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(k * (x - tm), -700, 700))))

    mid = float(t[int(np.argmin(np.abs(a - 0.5)))])
    span = max(float(t[-1]), 1.0)
    popt, _ = curve_fit(f, t, a, p0=(8.0 / span, mid), maxfev=20_000)
    return float(popt[0]), float(popt[1])


def solve(sc: Scenario, seed: int | None = None) -> SimResult:
    """Run the deterministic model named by ``sc.model`` (``seed`` is ignored)."""
    del seed
    if sc.model == "logistic":
        return logistic(sc)
    return two_factor(sc)
