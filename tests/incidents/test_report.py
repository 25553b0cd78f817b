"""Reports: self-contained HTML with escaped log text, and a clean PDF."""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from incidents.helpers import assess_doc, make_alert, synthetic_alerts, write_jsonl
from systemparts import pdf_unavailable
from wormsign.incidents import Store, ingest_paths, render_html, render_pdf

EVIL_UA = '<script>alert("pwned")</script>'
EVIL_URL = "/scripts/root.exe?/c+dir<img src=x onerror=alert(1)>"


VOID = {"img", "meta", "br", "link", "hr", "input"}


class _Tags(HTMLParser):
    """Collects tags and text, and every end tag that does not close the open element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.mismatches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.mismatches.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _case(store: Store, tmp_path: Path) -> int:
    alerts = synthetic_alerts(600, seed=4)
    hostile = [make_alert(10_000 + i, "198.18.0.66", "nimda", user_agent=EVIL_UA)
               for i in range(200)]
    hostile = [a.__class__(**{**{f: getattr(a, f) for f in a.__slots__}, "url": EVIL_URL})
               for a in hostile]
    iid = store.create_incident("<b>farm</b>")
    assess = tmp_path / "assess.json"
    assess.write_text(json.dumps(assess_doc()))
    ingest_paths(store, iid, [write_jsonl(tmp_path / "a.jsonl", alerts + hostile), assess])
    store.update_task(iid, "nimda/contain.block-sources", status="done", owner="ana",
                      note="deployed the <nftables> export")
    store.update_task(iid, "code-red/contain.isolate-infected", status="in-progress",
                      owner="bo")
    return iid


def test_html_report_is_self_contained_and_escaped(store: Store, tmp_path: Path) -> None:
    iid = _case(store, tmp_path)
    html = render_html(store, iid)
    parser = _Tags()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert parser.mismatches == [] and parser.stack == []
    assert "script" not in tags
    assert not any(t == "img" and "onerror" in a for t, a in parser.tags)
    text = "".join(parser.text)
    assert EVIL_UA in text
    assert "<img src=x onerror=alert(1)>" in text
    assert "<b>farm</b>" in text and "<b>farm</b>" not in html
    assert not any(t == "img" for t in tags)  # the charts are inline SVG, no images
    charts = {a["id"]: a for t, a in parser.tags if t == "svg" and a.get("class") == "chart"}
    assert set(charts) == {"timeline-chart", "sources-chart", "families-chart"}
    assert all(a["viewbox"] and a["role"] == "img" and a["aria-label"] for a in charts.values())
    # every family and every charted source is a series, named as text in a legend or label
    summary = store.get_incident_summary(iid, top=25)
    families = html.split('id="families-chart"', 1)[1].split("</svg>", 1)[0]
    assert all(f">{f['family']}</text>" in families for f in summary["families"])
    timeline = html.split('id="timeline-chart"', 1)[1].split("</p>", 1)[0]
    assert timeline.count("<rect ") > len(summary["families"])
    assert all(f"</svg> {f['family']} " in timeline for f in summary["families"])
    sources = html.split('id="sources-chart"', 1)[1].split("</p>", 1)[0]
    assert summary["sources"][0]["source_ip"] in sources and "<rect " in sources
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert not any(t == "link" for t in tags)
    for heading in ("Summary", "Timeline", "Sources by family", "Affected assets",
                    "Actions taken", "Open tasks"):
        assert f"<h2>{heading}</h2>" in html
    # open tasks are listed, the done one is not; the note is escaped
    open_part = html.split("<h2>Open tasks</h2>", 1)[1]
    assert "contain.isolate-infected" in open_part
    block_ids = [x.id for x in store.list_tasks(iid) if x.key == "contain.block-sources"]
    done_id = store.find_task(iid, "nimda/contain.block-sources").id
    assert f"(#{done_id})" not in open_part
    assert all(f"(#{i})" in open_part for i in block_ids if i != done_id)
    assert "nimda/contain.block-sources: status open -&gt; done" in html
    victims = store.get_incident_summary(iid)["victims"]
    assert victims and all(v["host"] in html for v in victims)
    assets = html.split("<h2>Affected assets</h2>", 1)[1].split("<h2>", 1)[0]
    assert "iis01" in assets and "exploitable" in assets
    assert "iis02" not in assets and "1 verdict(s) patched or not affected" in assets


_PDF_SKIP = pdf_unavailable()


@pytest.mark.skipif(_PDF_SKIP is not None, reason=_PDF_SKIP or "")
def test_pdf_report_renders_without_warnings(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(str(tmp_path / "r.db")) as store:
        iid = _case(store, tmp_path)
        out = tmp_path / "report.pdf"
        with caplog.at_level(logging.WARNING, logger="weasyprint"):
            result = render_pdf(store, iid, out)
    assert result.warnings == []
    assert result.pages >= 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def test_long_victim_lists_are_cut(store: Store, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import wormsign.incidents.report as report

    iid = _case(store, tmp_path)
    victims = store.get_incident_summary(iid)["victims"]
    assert len(victims) > 2
    monkeypatch.setattr(report, "MAX_VICTIMS", 2)
    html = render_html(store, iid)
    part = html.split("<h3>Infected internal hosts", 1)[1].split("</table>", 1)[0]
    assert part.count('<td class="infected">') == 2
    assert f"The 2 most active of {len(victims)} infected hosts" in html
