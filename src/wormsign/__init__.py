"""wormsign: live through the next Code Red.

Subpackages, one concept each:

- ``logs``      readers that turn any input into one normalised request record
- ``rules``     the rule model, loader and the built-in rule pack (YAML data)
- ``detect``    matching and per-source attribution, producing alerts
- ``sim``       Internet-scale outbreak simulation and deterministic models
- ``fleet``     inventories, knowledge base, configuration audit, verdicts, patch plan
- ``incidents`` the incident store, playbooks, exports and reports
- ``web``       the dashboard (a thin skin over ``incidents``)
- ``cli``       the command line (a thin skin over the library)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["WormsignError", "__version__"]


def __getattr__(name: str) -> type[Exception]:
    # imported on first use (not even ``typing`` at first): ``python -m wormsign`` reaches
    # the command's first step, the early pre-scan of ``scan`` (wormsign.cli._early),
    # before anything else is imported
    if name == "WormsignError":
        from wormsign.errors import WormsignError

        return WormsignError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
