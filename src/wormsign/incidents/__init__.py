"""Incident response: a store of evidence, playbooks, blocklists, STIX and reports.

Library API (the CLI ``wormsign incident ...`` and the web dashboard are thin skins over it)::

    from wormsign.incidents import Store, ingest_paths, export, render_html, render_pdf

    with Store.open("sqlite:///case.db") as store:       # or None: $WORMSIGN_DB / XDG default
        iid = store.create_incident("web farm", own=["203.0.113.0/24"])
        result = ingest_paths(store, iid, ["alerts.jsonl", "access.log", "assess.json"])
        summary = store.get_incident_summary(iid)          # what `incident show --json` prints
        page = store.list_alerts(iid, page=1, per_page=50, filters={"family": "nimda"})
        store.update_task(iid, "contain.block-sources", status="done", owner="ana")
        text = export(store, iid, "nftables", ttl="7d")     # also iptables, nginx, apache,
                                                            # suricata, csv, stix
        html = render_html(store, iid); render_pdf(store, iid, "report.pdf")

Modules: :mod:`.store` (opening, migrations, incidents, tasks, audit trail), :mod:`.schema`
(tables), :mod:`.ingest` (alerts JSON Lines, ``assess --json``, raw logs; idempotent and
crash-safe), :mod:`.query` (summary, timelines, assets, alert pages), :mod:`.networks`
(internal/allowlisted addresses, durations), :mod:`.playbook` (YAML playbooks under
``playbooks/``), :mod:`.blocklist` (entries with expiry), :mod:`.exporters` (firewall, proxy,
IDS and CSV formats), :mod:`.stix` (STIX 2.1 bundles), :mod:`.report` (HTML and PDF),
:mod:`.triage` (marks on alerts, sources, rules, with the actor), :mod:`.suppress`
(suppression rules and what they cover now), :mod:`.tlp` (the TLP 2.0 level of shared
exports), :mod:`.misp` (MISP event JSON), :mod:`.enrich` (offline country/AS, rDNS),
:mod:`.users` (people, roles, passwords, API tokens), :mod:`.actor` (who the audit trail
names), :mod:`.notify` (webhook and apprise notifications with a retry queue).
Migrations live in ``migrations/`` and run on :meth:`Store.open`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wormsign.incidents.ingest import IngestResult, detect_kind, ingest_paths
from wormsign.incidents.query import AlertPage
from wormsign.incidents.store import Action, Incident, Store, Task

if TYPE_CHECKING:
    from wormsign.incidents.report import PdfResult

__all__ = [
    "Action", "AlertPage", "Incident", "IngestResult", "Store", "Task", "detect_kind",
    "export", "ingest_paths", "render_html", "render_pdf",
]



def export(store: Store, incident_id: int, fmt: str, *, ttl: str | int | None = None,
           now: int | None = None) -> str:
    """Refresh the blocklist (entries expire after ``ttl``) and render it in format ``fmt``
    (``nftables``, ``iptables``, ``nginx``, ``apache``, ``suricata``, ``csv``, ``stix``).

    See :func:`wormsign.incidents.exporters.export`.
    """
    from wormsign.incidents.exporters import export as _export
    return _export(store, incident_id, fmt, ttl=ttl, now=now)


def render_html(store: Store, incident_id: int) -> str:
    """The self-contained HTML report; see :func:`wormsign.incidents.report.render_html`."""
    from wormsign.incidents.report import render_html as _render
    return _render(store, incident_id)


def render_pdf(store: Store, incident_id: int, path: str | Path) -> PdfResult:
    """Write the PDF report; returns its page count and WeasyPrint's warnings."""
    from wormsign.incidents.report import render_pdf as _render
    return _render(store, incident_id, path)
