"""Where the vulnerable hosts are: uniform placement, or clustered by prefix from a density file.

A density file (YAML) gives each /8 a relative share of the hosts and says how the hosts of a
/8 crowd into its /16s; ``data/density-2001.yaml`` is the packaged default. Placement is random
per run (seeded) and returns one sorted-free ``int64`` array of distinct addresses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wormsign.arrays import sorted_unique
from wormsign.errors import ConfigError

I64 = npt.NDArray[np.int64]
DEFAULT_DENSITY = "density-2001"


@dataclass(frozen=True)
class Density:
    """Shares of vulnerable hosts per /8 and how they cluster into /16s."""

    name: str
    slash8: dict[int, float]
    occupancy: float
    occupancy8: dict[int, float]
    sigma: float
    sources: tuple[str, ...] = ()


def decode_utf8(data: bytes, path: str) -> str:
    """UTF-8 text of a data file, or a :class:`ConfigError` naming it."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=path) from None


def _read_yaml(path: str, text: str) -> Any:
    """The document in a preset or density file, read by the shared bounded loader
    (:func:`wormsign.validation.parse_yaml`: no aliases, bounded depth and size); mappings
    keep their lines."""
    from wormsign.validation import parse_yaml, raise_problems

    data, problems = parse_yaml(text, path)
    raise_problems(problems, "YAML file")
    return data


@functools.lru_cache(maxsize=16)
def load_density(name_or_path: str | None = None) -> Density:
    """Load a density file by path, or the packaged default when None or its name (cached:
    Monte Carlo runs read it once per process)."""
    if name_or_path is None or name_or_path == DEFAULT_DENSITY:
        ref = resources.files("wormsign.sim") / "data" / f"{DEFAULT_DENSITY}.yaml"
        path, text = str(ref), ref.read_text(encoding="utf-8")
    else:
        path = name_or_path
        from wormsign.fleet.files import MAX_SMALL_BYTES, read_limited

        text = decode_utf8(read_limited(path, MAX_SMALL_BYTES, "density file"), path)
    data = _read_yaml(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("slash8"), dict):
        raise ConfigError("a density file needs a 'slash8' mapping of /8 -> share", path=path)
    try:
        slash8 = {int(k): float(v) for k, v in data["slash8"].items()}
        occ8 = {int(k): float(v) for k, v in (data.get("slash8_occupancy") or {}).items()}
        occupancy = float(data.get("slash16_occupancy", 0.3))
        sigma = float(data.get("slash16_sigma", 1.5))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad number in density file: {exc}", path=path) from exc
    bad = [k for k in (*slash8, *occ8) if not 0 <= k <= 255]
    if bad or any(v < 0 for v in slash8.values()) or sum(slash8.values()) <= 0:
        raise ConfigError("slash8 keys must be 0..255 with shares >= 0, not all 0", path=path)
    if not 0 < occupancy <= 1 or any(not 0 < v <= 1 for v in occ8.values()) or sigma < 0:
        raise ConfigError("occupancy must be within (0, 1] and sigma >= 0", path=path)
    return Density(
        name=str(data.get("name", Path(path).stem)),
        slash8=slash8,
        occupancy=occupancy,
        occupancy8=occ8,
        sigma=sigma,
        sources=tuple(str(s) for s in data.get("sources") or ()),
    )


def _excluded_mask(addr: I64, blocks: list[tuple[int, int]]) -> npt.NDArray[np.bool_]:
    bad = np.zeros(addr.shape, dtype=bool)
    for lo, hi in blocks:
        bad |= (addr >= lo) & (addr < hi)
    return bad


def place_uniform(n: int, bits: int, excluded: list[tuple[int, int]],
                  rng: np.random.Generator) -> I64:
    """``n`` distinct addresses drawn uniformly from the space less the excluded blocks."""
    space = 1 << bits
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        need = n - out.size
        draw = rng.integers(0, space, size=int(need * 1.05) + 16, dtype=np.int64)
        draw = draw[~_excluded_mask(draw, excluded)]
        out = sorted_unique(np.concatenate((out, draw)))
    out = rng.permutation(out)[:n]
    return out.astype(np.int64)


def place_clustered(n: int, bits: int, density: Density, excluded: list[tuple[int, int]],
                    rng: np.random.Generator) -> I64:
    """``n`` distinct addresses clustered as the density says (/8 shares, dense /16s)."""
    size16 = 1 << (bits - 16)
    w16 = np.zeros(65536)
    for s8, share in density.slash8.items():
        if share <= 0:
            continue
        occ = density.occupancy8.get(s8, density.occupancy)
        k = max(1, round(occ * 256))
        chosen = rng.choice(256, size=k, replace=False)
        w = rng.lognormal(0.0, density.sigma, size=k)
        w16[s8 * 256 + chosen] = share * w / w.sum()
    # never place hosts in excluded space
    lo16 = np.arange(65536, dtype=np.int64) * size16
    w16[_excluded_mask(lo16, excluded)] = 0.0
    if w16.sum() <= 0:
        raise ConfigError(f"density {density.name!r} leaves no room outside excluded blocks")
    capacity = int(np.count_nonzero(w16)) * size16
    if n > capacity // 2:
        raise ConfigError(f"density {density.name!r} has room for {capacity} addresses; "
                          f"{n} vulnerable hosts would fill more than half of it")
    w16 /= w16.sum()
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        need = n - out.size
        counts = rng.multinomial(int(need * 1.05) + 16, w16)
        slash16 = np.repeat(np.arange(65536, dtype=np.int64), counts)
        draw = slash16 * size16 + rng.integers(0, size16, size=slash16.size, dtype=np.int64)
        out = sorted_unique(np.concatenate((out, draw)))
        # a /16 that overflows keeps at most half its addresses filled
        full = np.bincount(out // size16, minlength=65536) > size16 // 2
        if full.any():
            w16[full] = 0.0
            if w16.sum() <= 0:
                raise ConfigError(f"density {density.name!r} is too concentrated for {n} hosts")
            w16 /= w16.sum()
    return rng.permutation(out)[:n].astype(np.int64)
