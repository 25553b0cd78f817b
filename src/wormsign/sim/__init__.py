"""Internet-scale worm outbreak simulation (``wormsign simulate``).

What lives here:

- ``scenario``   :class:`Scenario`, every parameter of an outbreak (frozen, validated)
- ``presets``    named scenarios as YAML data with their sources (``presets/*.yaml``)
- ``population`` where vulnerable hosts are: uniform, or clustered from a density file
- ``kernel``     the compiled stochastic model (numba): each probe's outcome, none drawn
- ``engine``     :func:`simulate`: population, kernel, :class:`SimResult`
- ``models``     deterministic models: Random Constant Spread (logistic) and two-factor ODEs
- ``montecarlo`` many seeded runs on local cores or a Dask cluster, 5/50/95 % bands
- ``output``     CSV / Parquet time series and PNG plots

Example::

    from wormsign.sim import load_preset, simulate
    result = simulate(load_preset("code-red-v2"), seed=1)
    result.summary()["t50_s"]
"""

from wormsign.sim.engine import simulate
from wormsign.sim.presets import list_presets, load_preset
from wormsign.sim.result import SUMMARY_KEYS, SimResult
from wormsign.sim.scenario import MODELS, STRATEGIES, Scenario

__all__ = [
    "MODELS",
    "STRATEGIES",
    "SUMMARY_KEYS",
    "Scenario",
    "SimResult",
    "list_presets",
    "load_preset",
    "simulate",
]
