"""The one chart stack (dashboard and report): records from the same inputs, SVG with every
label escaped, an empty state in words."""

from __future__ import annotations

from html.parser import HTMLParser

from wormsign.incidents.charts import families_chart, forecast_chart, svg, timeline_chart

EVIL = '<script>alert("x")</script>&<b>'


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Texts:
    p = _Texts()
    p.feed(markup)
    return p


def test_hostile_family_names_stay_text_in_every_chart() -> None:
    fams = [{"family": EVIL, "alerts": 5, "sources": 2}, {"family": "nimda", "alerts": 1,
                                                         "sources": 1}]
    series = [{"start": 0, "family": EVIL, "alerts": 3}, {"start": 60, "family": "nimda",
                                                          "alerts": 2}]
    for chart in (families_chart(fams), families_chart(fams, measure="sources"),
                  timeline_chart({"bucket_seconds": 60, "series": series})):
        out = str(svg(chart, EVIL, "c"))
        assert "<script" not in out and "<b>" not in out
        p = _parse(out)
        assert "script" not in p.tags and "b" not in p.tags
        assert any(EVIL in t for t in p.text)  # shown, as text


def test_families_chart_measures_sources_or_alerts() -> None:
    fams = [{"family": "code-red", "alerts": 10, "sources": 1},
            {"family": "nimda", "alerts": 5, "sources": 4}]
    by_alerts = families_chart(fams)
    by_sources = families_chart(fams, measure="sources")
    assert by_alerts.bars[0].w > by_alerts.bars[1].w
    assert by_sources.bars[0].w < by_sources.bars[1].w
    assert "4 sources" in [lb.text for lb in by_sources.labels]


def test_timeline_by_source_has_one_series_per_source() -> None:
    series = [{"start": s, "source": ip, "alerts": n}
              for s, ip, n in ((0, "192.0.2.1", 2), (0, "192.0.2.2", 1), (120, "192.0.2.1", 4))]
    chart = timeline_chart({"bucket_seconds": 60, "series": series}, key="source")
    assert [name for name, _ in chart.legend] == ["192.0.2.1", "192.0.2.2"]
    assert len({fill for _, fill in chart.legend}) == 2
    assert len(chart.bars) == 3 and len({b.x for b in chart.bars}) == 2
    assert all(b.y + b.h <= chart.height for b in chart.bars)


def test_empty_states_are_words() -> None:
    for chart, words in ((timeline_chart({"bucket_seconds": 60, "series": []}),
                          "no timed alerts yet"),
                         (families_chart([]), "no detections yet"),
                         (forecast_chart({"curve": None}), "no forecast curve")):
        assert chart.empty and not chart.bars and not chart.paths
        out = str(svg(chart, "empty", "e"))
        assert f">{words}</text>" in out and "<rect " not in out
