"""Matching requests against rules and attributing sources to worm families.

- ``scanner``    ``scan_paths(paths)``: read, validate, prefilter, parse, match, attribute
- ``prefilter``  the Hyperscan fast pattern over whole chunks
- ``attribute``  per-source attribution (Nimda bursts, ambiguous rules) → one alert per request
- ``alert``      the one :class:`Alert` schema every part of wormsign uses (ECS JSON)
- ``report``     summaries: the ``scan --json`` contract, CSV, fast JSON Lines
"""

from wormsign.detect.alert import Alert
from wormsign.detect.scanner import FileStats, ScanReport, scan_paths

__all__ = ["Alert", "FileStats", "ScanReport", "scan_paths"]
