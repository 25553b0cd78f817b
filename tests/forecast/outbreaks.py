"""Synthetic monitor observations for the forecast tests, written independently of the fit.

``model_series`` draws Poisson counts around Random Constant Spread seen through a monitor
(the fit's own model, integrated here with small Euler steps); ``stochastic_series`` runs a
small stochastic outbreak (binomial infections and first sightings per sub-step).
"""

from __future__ import annotations

import math

import numpy as np

from wormsign.forecast.observations import Monitor, Observations, TimeBase

SPACE = 2.0**32


def model_series(*, n: float, r: float, i0: float, size: int, step: float, steps: int,
                 seed: int, origin: float = 0.0, sources: bool = True,
                 probes: bool = True) -> Observations:
    """Counts per interval around the model; ``origin`` shifts every time."""
    k = r * n / SPACE
    delta = r * size / SPACE
    sub = 200
    dt = step / sub
    t_mid = math.log(n / i0 - 1.0) / k
    new_s = np.zeros(steps)
    new_p = np.zeros(steps)
    unseen = i0 * k / (k + delta)
    t = 0.0
    for i in range(steps):
        for _ in range(sub):
            a = 1.0 / (1.0 + math.exp(-k * (t - t_mid)))
            a2 = 1.0 / (1.0 + math.exp(-k * (t + dt - t_mid)))
            seen = delta * unseen * dt
            unseen += n * (a2 - a) - seen
            new_s[i] += seen
            new_p[i] += delta * n * (a + a2) / 2.0 * dt
            t += dt
    rng = np.random.default_rng(seed)
    edges = origin + np.arange(steps + 1) * step
    return Observations(
        monitor=Monitor(size), timebase=TimeBase("seconds", 0.0), edges=edges,
        new_sources=rng.poisson(new_s).astype(float) if sources else None,
        probes=rng.poisson(new_p).astype(float) if probes else None)


def truth(n: float, r: float, i0: float) -> dict[str, float]:
    """K per second, the midpoint T, t90 and N of the model."""
    k = r * n / SPACE
    t_mid = math.log(n / i0 - 1.0) / k
    return {"k": k, "t50": t_mid, "t90": t_mid + math.log(9.0) / k, "n": n}


def stochastic_series(*, n: int, r: float, i0: int, size: int, step: float, steps: int,
                      seed: int, background: float = 0.0) -> tuple[Observations, np.ndarray]:
    """A stochastic outbreak seen by a monitor of ``size`` addresses (plus a constant
    ``background`` of new sources per interval); also returns the infected count at the end
    of each interval."""
    rng = np.random.default_rng(seed)
    sub = 20
    dt = step / sub
    infected, unseen = i0, i0
    new_s = np.zeros(steps)
    new_p = np.zeros(steps)
    level = np.zeros(steps)
    delta = r * size / SPACE
    for i in range(steps):
        for _ in range(sub):
            p_inf = -math.expm1(-r * infected / SPACE * dt)
            new = int(rng.binomial(n - infected, p_inf))
            seen = int(rng.binomial(unseen, -math.expm1(-delta * dt)))
            new_p[i] += rng.poisson(delta * infected * dt)
            infected += new
            unseen += new - seen
            new_s[i] += seen
        level[i] = infected
    if background:
        new_s += rng.poisson(background, steps)
    obs = Observations(monitor=Monitor(size), timebase=TimeBase(),
                       edges=np.arange(steps + 1) * step, new_sources=new_s, probes=new_p)
    return obs, level
