"""Small units of the dashboard: chart geometry, upload names, job progress, error status."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wormsign.errors import ConflictError, InvalidError, NotFoundError, StoreError
from wormsign.incidents.charts import colour, families_chart, timeline_chart
from wormsign.web.app import status_for
from wormsign.web.jobs import UploadJob, safe_name


def test_timeline_bars_stack_to_the_bucket_totals() -> None:
    series = [{"start": 3600 * h, "family": f, "alerts": n}
              for h, f, n in [(0, "nimda", 5), (0, "code-red", 15), (2, "nimda", 10)]]
    chart = timeline_chart({"bucket_seconds": 3600, "series": series}, width=400, height=200)
    assert not chart.empty and len(chart.bars) == 3
    first = [b for b in chart.bars if b.x == chart.bars[0].x]
    tallest = sum(b.h for b in first)
    other = [b for b in chart.bars if b.x != chart.bars[0].x]
    assert abs(other[0].h - tallest * 10 / 20) < 0.02  # heights proportional to counts
    assert {name for name, _ in chart.legend} == {"nimda", "code-red"}
    assert len({b.x for b in chart.bars}) == 2 and max(b.x for b in chart.bars) < 400
    assert timeline_chart({"bucket_seconds": 60, "series": []}).empty


def test_families_chart_scales_to_the_largest() -> None:
    fams = [{"family": "nimda", "alerts": 100, "sources": 3},
            {"family": "code-red", "alerts": 25, "sources": 9}]
    chart = families_chart(fams, width=400)
    assert chart.bars[0].w == 4 * chart.bars[1].w
    assert [lb.text for lb in chart.labels if lb.anchor == "end"] == ["nimda", "code-red"]
    assert colour("nimda") != colour("code-red") and colour("x-y") == colour("x-y")


@given(st.text(max_size=300))
def test_safe_name_never_escapes_the_folder(name: str) -> None:
    out = safe_name(name)
    assert out and "/" not in out and "\\" not in out and not out.startswith(".")
    assert len(out) <= 100 and out not in (".", "..")


def test_safe_name_keeps_plain_names() -> None:
    assert safe_name("access.log.gz") == "access.log.gz"
    assert safe_name("C:\\logs\\ex010719.log") == "ex010719.log"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("") == "upload.log"


def test_job_progress() -> None:
    job = UploadJob(id="a" * 32, incident_id=1, filename="x.log", size=1000, kind="log",
                    phase="scanning", bytes_done=500)
    assert job.percent == 40.0
    job.phase, job.records_total, job.records_done = "storing", 10, 5
    assert job.percent == 90.0
    job.phase = "done"
    assert job.percent == 100.0 and job.to_dict()["finished"]


def test_store_errors_map_to_statuses_by_type() -> None:
    assert status_for(NotFoundError("whatever the text says")) == 404
    assert status_for(ConflictError("no incident with id 4")) == 409  # the type decides
    assert status_for(InvalidError("incident 4 is closed")) == 400
    assert status_for(StoreError("no incident with id 4")) == 400
