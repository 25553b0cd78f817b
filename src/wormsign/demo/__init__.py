"""``wormsign demo``: the four jobs joined on built-in, synthetic data, with known truth.

A simulated Code Red outbreak (``wormsign.sim``, seeded) → what the sample organisation's web
servers log (``wormsign.logs.synth``: background traffic plus the worm's probes at the
simulated rates) → a scan (``wormsign.detect``) → a forecast from the scan
(``wormsign.forecast``) → the sample fleet assessed with that forecast (``wormsign.fleet``) →
an incident with its playbook, the forecast attached, and the HTML report
(``wormsign.incidents``) → how close the forecast came to the simulation's truth.

- ``fleet``    the sample organisation (``examples/fleet/`` is written from it)
- ``steps``    one short function per step, each returning a frozen record
- ``compare``  truth against forecast: t50, t90, final size, inside the 90 % interval or not
- ``pipeline`` :func:`run_demo` and :class:`DemoResult` (the ``--json`` document)

Example::

    from wormsign.demo import DemoConfig, run_demo
    result = run_demo(DemoConfig(out=Path("demo"), seed=2001))
    result.comparison.to_json()
"""

from wormsign.demo.pipeline import SCHEMA, DemoConfig, DemoResult, run_demo

__all__ = ["SCHEMA", "DemoConfig", "DemoResult", "run_demo"]
