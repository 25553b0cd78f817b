"""Which system parts the tests can use here: a test that needs one skips with the reason."""

from __future__ import annotations

import warnings
from functools import cache


@cache
def pdf_unavailable() -> str | None:
    """Why WeasyPrint cannot make a clean PDF here (None when it can): the package, or a
    system library it needs (Pango, HarfBuzz with its subset library), is missing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import weasyprint  # noqa: F401
        except (ImportError, OSError) as exc:
            return (f"WeasyPrint cannot load: {exc} (apt-get install libpango-1.0-0 "
                    "libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0)")
    for w in caught:
        if "weasyprint" in str(w.filename).lower() or "HarfBuzz" in str(w.message):
            return f"WeasyPrint warns: {w.message} (apt-get install libharfbuzz-subset0)"
    return None
