"""Matching requests against rules and attributing sources to worm families.

- ``scanner``    ``scan_paths(paths)``: read, validate, prefilter, parse, match, attribute
- ``chunkscan``  :class:`ChunkScanner`: chunks of lines in, columns of matched requests out
  (the incremental API ``wormsign watch`` uses)
- ``columns``    matched requests as numpy columns with dictionary tables
- ``prefilter``  the Hyperscan fast pattern over whole chunks
- ``attribute``  per-source attribution on columns (Nimda bursts, ambiguous rules) → alerts
- ``parallel``   the same scan over several processes or a Dask cluster
- ``alert``      the one :class:`Alert` schema every part of wormsign uses (ECS JSON)
- ``report``     summaries from column aggregates: the ``scan --json`` contract, CSV, alerts
- ``netrules``   network rules (Slammer, Blaster, ...) matched on connection columns
- ``nethits``    the network rules run on every batch of the network analysis, kept per
  source and rule (the worm family of a source, its rule alerts)
- ``network``    connection logs: scanners (``trw``), their strategy (``strategy``), floods
  (``flood``), inside hosts scanning; per-source columns in ``netstate``; the
  ``NetworkReport`` outputs in ``netreport`` (docs/network.md); ``netsynth`` makes
  labelled synthetic connections with known truth
- ``suppress``   ``wormsign-ignore.yml``: suppression rules and accepted risks, and which
  alerts of a scan each rule covers (on the columns)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wormsign._lazy import exports

if TYPE_CHECKING:
    from wormsign.detect.alert import Alert
    from wormsign.detect.attribute import attribute_batches
    from wormsign.detect.chunkscan import ChunkScanner
    from wormsign.detect.scanner import FileStats, ScanReport, scan_paths

__all__ = ["Alert", "ChunkScanner", "FileStats", "ScanReport", "attribute_batches", "scan_paths"]

#: Where each name of ``__all__`` lives: imported on first use, so that the modules that need
#: no numpy (the rule keywords, the range split, the Hyperscan cache) load without it.
_HOMES = {"Alert": "alert", "attribute_batches": "attribute", "ChunkScanner": "chunkscan",
          "FileStats": "scanner", "ScanReport": "scanner", "scan_paths": "scanner"}


__getattr__, __dir__ = exports(__name__, _HOMES, globals())
