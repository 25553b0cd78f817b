"""Forecasts of an outbreak from what monitors saw (``wormsign forecast``).

What lives here:

- ``observations`` :class:`Observations` (what one monitor saw: new sources and probes per
  interval, first-seen times), :class:`Monitor` (what was watched) and :class:`TimeBase`
  (seconds in, seconds out; ISO in, ISO out); readers for scan output, alerts, incidents and
  count CSVs
- ``result``       :class:`Forecast` and :class:`Interval`, the stable ``--json`` contract
  (documented in docs/forecast.md)
- ``closedform``   maximum-likelihood fit of Random Constant Spread seen through a monitor
  (the first-seen process), with intervals
- ``sbi``          simulation-based inference (ABC) over :mod:`wormsign.sim` for strategies
  with no closed form (local preference, hit lists, removal, defences)
- ``alarm``        early warning: when the observations first show exponential growth
- ``calibrate``    fitting a simulator scenario to a published curve (the code-red-v2 preset)
- ``priors``       what a family's preset says about scan rate, population and strategy

Flow: readers → :class:`Observations` → a fit → :class:`Forecast`, which ``fleet`` (patch
waves), ``incidents`` (reports, stored forecasts), ``web`` and ``watch`` consume.
"""
