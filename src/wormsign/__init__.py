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

from wormsign.errors import WormsignError

__version__ = "0.1.0"

__all__ = ["WormsignError", "__version__"]
