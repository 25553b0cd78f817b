"""The parameters of the connection analyses that the command line sets: the scan test
(:mod:`wormsign.detect.trw`) and the flood windows (:mod:`wormsign.detect.flood`).

Kept apart from those modules (and from numpy) so that building the ``scan`` command's
options, whose help shows these defaults, costs nothing when no connection log is scanned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wormsign.errors import ConfigError


@dataclass(frozen=True)
class TRWParams:
    """The test's parameters (see :mod:`wormsign.detect.trw`); checked on construction."""

    theta0: float = 0.8  # P(first contact succeeds | benign)
    theta1: float = 0.2  # P(first contact succeeds | scanner)
    alpha: float = 0.01  # false-positive probability aimed at
    beta: float = 0.99  # detection probability aimed at

    def __post_init__(self) -> None:
        ok = (0.0 < self.theta1 < self.theta0 < 1.0 and 0.0 < self.alpha < self.beta < 1.0)
        if not ok:
            raise ConfigError("TRW needs 0 < theta1 < theta0 < 1 and 0 < alpha < beta < 1 "
                              f"(got theta0={self.theta0}, theta1={self.theta1}, "
                              f"alpha={self.alpha}, beta={self.beta})")

    @property
    def step_success(self) -> float:
        return math.log(self.theta1 / self.theta0)

    @property
    def step_failure(self) -> float:
        return math.log((1.0 - self.theta1) / (1.0 - self.theta0))

    @property
    def upper(self) -> float:
        """``ln(eta1)``: at or above it, a scanner."""
        return math.log(self.beta / self.alpha)

    @property
    def lower(self) -> float:
        """``ln(eta0)``: at or below it, benign (the floor the walk rests on)."""
        return math.log((1.0 - self.beta) / (1.0 - self.alpha))

    def to_dict(self) -> dict[str, float]:
        return {"theta0": self.theta0, "theta1": self.theta1, "alpha": self.alpha,
                "beta": self.beta, "upper": self.upper, "lower": self.lower}


@dataclass(frozen=True)
class FloodParams:
    window_s: float = 60.0
    min_sources: int = 100
    min_connections: int = 1000

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.min_sources >= 2 and self.min_connections >= 1):
            raise ConfigError("flood: window must be > 0 s, min sources >= 2, "
                              "min connections >= 1")

    def to_dict(self) -> dict[str, float]:
        return {"window_s": self.window_s, "min_sources": self.min_sources,
                "min_connections": self.min_connections}
