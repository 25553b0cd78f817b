"""Incident reports: a self-contained HTML file and a PDF (WeasyPrint) from the same page.

The page has a summary, the timeline charts, the latest stored forecast of the incident's
family (chart and table, when there is one), sources by family (chart and table with a sample
request per source), affected assets (infected internal hosts, targeted servers, assessment
verdicts), the actions taken (audit trail), the blocklist status and the open tasks. Jinja2
autoescaping is on, so every log-derived string (URLs, user agents) is text, never markup;
the charts are the dashboard's (:mod:`wormsign.incidents.charts`), inline SVG that WeasyPrint
draws in the PDF; the page carries no script and loads nothing from the network.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa

from wormsign import __version__
from wormsign.errors import StoreError
from wormsign.incidents import schema as t
from wormsign.incidents.charts import families_chart, forecast_chart, svg, timeline_chart
from wormsign.incidents.enrich import configured as enrichment_configured
from wormsign.incidents.enrich import labels
from wormsign.incidents.forecasts import forecast_view
from wormsign.incidents.query import bucket_width, iso, source_stats, timeline
from wormsign.incidents.store import Store, now_s
from wormsign.incidents.suppress import state as suppression_state

SAMPLE_SOURCES = 25
MAX_VICTIMS = 100
REPORT_WIDTH = 800
"""Charts' drawing width in the report; the page scales them to its text width (A4: about
660 pt), so the 11-unit labels print at about 9 pt."""


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("wormsign.incidents", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _samples(store: Store, incident_id: int, sources: list[str]) -> dict[str, dict[str, Any]]:
    a = t.alerts
    out: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for ip in sources:
            row = conn.execute(sa.select(a.c.method, a.c.url, a.c.user_agent, a.c.rule_name)
                               .where(a.c.incident_id == incident_id, a.c.source_ip == ip)
                               .order_by(a.c.ts).limit(1)).first()
            if row is not None:
                out[ip] = dict(row._mapping)
    return out


def _user_agents(store: Store, incident_id: int, top: int = 10) -> list[dict[str, Any]]:
    a = t.alerts
    q = (sa.select(a.c.user_agent, sa.func.count().label("n"),
                   sa.func.count(a.c.source_ip.distinct()))
         .where(a.c.incident_id == incident_id, a.c.user_agent.is_not(None))
         .group_by(a.c.user_agent).order_by(sa.desc("n"), a.c.user_agent).limit(top))
    with store.engine.connect() as conn:
        return [{"user_agent": r[0], "alerts": int(r[1]), "sources": int(r[2])}
                for r in conn.execute(q)]


def report_context(store: Store, incident_id: int) -> dict[str, Any]:
    """Everything the report template shows."""
    s = store.get_incident_summary(incident_id, top=SAMPLE_SOURCES)
    tl = timeline(store, incident_id)
    top = {x["source_ip"] for x in s["sources"][:8]}
    spans = [(x["first_seen"], x["last_seen"]) for x in source_stats(store, incident_id)
             if x["source_ip"] in top and x["first_seen"] is not None]
    width = (bucket_width(min(a for a, _ in spans), max(b for _, b in spans)) if spans
             else tl["bucket_seconds"])
    stl = timeline(store, incident_id, width, by="source", sources=sorted(top))
    open_tasks = [x for x in s["tasks"]["items"] if x["status"] in ("open", "in-progress")]
    fc = forecast_view(store, incident_id)
    return {
        "forecast": fc,
        "forecast_svg": None if fc is None else svg(
            forecast_chart(fc, width=REPORT_WIDTH),
            "Forecast: sources seen (observed, fit, 5-95 % band) and hosts infected",
            "forecast-chart"),
        "s": s,
        "generated": iso(now_s()),
        "version": __version__,
        "timeline_svg": svg(timeline_chart(tl, width=REPORT_WIDTH),
                            "Alerts over time per family", "timeline-chart"),
        "families_svg": svg(families_chart(s["families"], width=REPORT_WIDTH, measure="sources"),
                            "Attacking sources per family", "families-chart"),
        "sources_svg": svg(timeline_chart(stl, width=REPORT_WIDTH, key="source"),
                           "Alerts over time of the most active sources", "sources-chart"),
        "samples": _samples(store, incident_id, [x["source_ip"] for x in s["sources"]]),
        "open_tasks": open_tasks,
        "max_victims": MAX_VICTIMS,
        "user_agents": _user_agents(store, incident_id),
        "suppressed": suppression_state(store, incident_id),
        "enrichment": labels(store, incident_id, [x["source_ip"] for x in s["sources"]]),
        "enrichment_configured": enrichment_configured(store),
        "iso": iso,
    }


def render_html(store: Store, incident_id: int) -> str:
    """The report as one self-contained HTML document."""
    return _env().get_template("report.html").render(**report_context(store, incident_id))


@contextmanager
def _weasyprint_problems() -> Iterator[list[str]]:
    """Collect WeasyPrint's logged warnings and errors (it logs instead of raising)."""
    problems: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            problems.append(record.getMessage())

    logger = logging.getLogger("weasyprint")
    handler = _Collect(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield problems
    finally:
        logger.removeHandler(handler)


@dataclass(frozen=True)
class PdfResult:
    """A written PDF: its page count and WeasyPrint's warnings (empty when clean)."""

    pages: int
    warnings: list[str]


def render_pdf(store: Store, incident_id: int, path: str | Path) -> PdfResult:
    """Write the report as PDF (A4)."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise StoreError(f"PDF reports need WeasyPrint and its libraries: {exc}") from exc
    html = render_html(store, incident_id)
    with _weasyprint_problems() as problems:
        doc = weasyprint.HTML(string=html, base_url=None).render()
        try:
            doc.write_pdf(str(path))
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return PdfResult(len(doc.pages), problems)
