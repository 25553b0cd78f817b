"""Attribution per source: Nimda only for the burst, never for its look-alikes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from wormsign.detect.scanner import scan_paths
from wormsign.logs.synth import NIKTO_EXTRA, NIMDA, Event, combined_lines, error_lines, iis_lines

T0 = datetime(2001, 9, 18, 13, 0, tzinfo=UTC)


def _ev(ip: str, urls: list[str], method: str = "GET", step_ms: int = 200, agent: str = "-",
        start: datetime = T0) -> list[Event]:
    return [Event(start + timedelta(milliseconds=i * step_ms), ip, method, u, 404, 1, agent, "-")
            for i, u in enumerate(urls)]


def _families(tmp_path: Path, evs: list[Event], kind: str = "combined") -> dict[str, set[str]]:
    p = tmp_path / f"{kind}.log"
    if kind == "combined":
        p.write_text("".join(combined_lines(evs)))
    elif kind == "iis":
        p.write_bytes(b"".join(iis_lines(evs)))
    else:
        p.write_bytes(b"".join(error_lines(evs)))
    out: dict[str, set[str]] = {}
    for a in scan_paths([str(p)]).alerts:
        out.setdefault(a.source_ip, set()).add(a.family)
    return out


def test_full_burst_is_nimda_in_every_log_form(tmp_path: Path) -> None:
    for kind in ("combined", "iis", "error"):
        fams = _families(tmp_path, _ev("6.6.6.6", list(NIMDA)), kind)
        assert fams == {"6.6.6.6": {"nimda"}}, kind


def test_part_of_the_burst_is_enough(tmp_path: Path) -> None:
    fams = _families(tmp_path, _ev("6.6.6.6", [NIMDA[0], NIMDA[2], NIMDA[4], NIMDA[10]]))
    assert fams["6.6.6.6"] == {"nimda"}


def test_single_traversal_probe_is_not_nimda(tmp_path: Path) -> None:
    fams = _families(tmp_path, _ev("7.7.7.7", [NIMDA[10]]))
    assert "nimda" not in fams["7.7.7.7"]


def test_lowercase_get_bot_is_not_nimda(tmp_path: Path) -> None:
    fams = _families(tmp_path, _ev("8.8.8.1", list(NIMDA), method="get"))
    assert fams["8.8.8.1"] and "nimda" not in fams["8.8.8.1"]


def test_slow_requests_are_not_a_burst(tmp_path: Path) -> None:
    fams = _families(tmp_path, _ev("8.8.8.2", list(NIMDA), step_ms=600_000))
    assert "nimda" not in fams["8.8.8.2"]


def test_nikto_run_is_not_nimda(tmp_path: Path) -> None:
    urls = list(NIKTO_EXTRA) * 3 + list(NIMDA) + list(NIKTO_EXTRA) * 3
    fams = _families(tmp_path, _ev("9.9.9.9", urls, agent="Mozilla/4.75 (Nikto/1.10 )"))
    assert "nimda" not in fams["9.9.9.9"] and "scanner" in fams["9.9.9.9"]


def test_code_red_and_nimda_from_one_host(tmp_path: Path) -> None:
    from wormsign.logs.synth import CODE_RED

    evs = _ev("5.5.5.5", [CODE_RED], start=T0 - timedelta(hours=5)) + _ev("5.5.5.5", list(NIMDA))
    assert _families(tmp_path, evs)["5.5.5.5"] == {"code-red", "nimda"}


def test_sample_attribution(sample_dir: Path) -> None:
    # The error log alone cannot tell Code Red from Code Red II; the access log settles it.
    rep = scan_paths([str(sample_dir)])
    fams: dict[str, set[str]] = {}
    for a in rep.alerts:
        fams.setdefault(a.family, set()).add(a.source_ip)
    assert len(fams["nimda"]) == 25
    assert len(fams["code-red"]) == 300 and len(fams["code-red-ii"]) == 80
    assert sum(f.skipped for f in rep.files) == 0


def test_apache13_error_log_bare_directories_count_towards_the_burst(tmp_path: Path) -> None:
    paths = ["/scripts/root.exe", "/MSADC/root.exe", "/c", "/d", "/scripts", "/_vti_bin",
             "/_mem_bin", "/msadc", "/scripts", "/scripts"]
    lines = [f"[Tue Sep 18 13:00:0{i % 10} 2001] [error] [client 6.6.6.7] File does not exist: "
             f"/usr/local/apache/htdocs{p}" for i, p in enumerate(paths)]
    log = tmp_path / "error_log"
    log.write_text("\n".join(lines) + "\n")
    rep = scan_paths([str(log)])
    assert {a.family for a in rep.alerts} == {"nimda"} and len(rep.alerts) == len(paths)
    # the same directories alone are nothing
    log.write_text("\n".join(lines[2:4]) + "\n")
    assert scan_paths([str(log)]).alerts == []


def test_error_log_ida_is_one_event_with_the_access_log_or_ida_overflow(tmp_path: Path,
                                                                        ) -> None:
    """The error log's bare /default.ida is the access log's request (one event, the
    family its padding shows); alone it is the exploit, variant unknown (issue #12.5)."""
    from wormsign.logs.synth import CODE_RED, CODE_RED_II

    crii = _ev("4.4.4.4", [CODE_RED_II], start=T0)
    cr = _ev("4.4.4.5", [CODE_RED], start=T0)
    alone = _ev("4.4.4.6", [CODE_RED], start=T0)
    (tmp_path / "access.log").write_text("".join(combined_lines(crii + cr)))
    (tmp_path / "error.log").write_bytes(b"".join(error_lines(crii + cr + alone)))
    fams: dict[str, list[tuple[str, str]]] = {}
    for a in scan_paths([str(tmp_path)]).alerts:
        fams.setdefault(a.source_ip, []).append((a.format, a.family))
    assert fams["4.4.4.4"] == [("combined", "code-red-ii")]
    assert fams["4.4.4.5"] == [("combined", "code-red")]
    assert fams["4.4.4.6"] == [("apache-error", "ida-overflow")]


def test_repeated_bursts_stay_nimda(tmp_path: Path) -> None:
    evs: list[Event] = []
    for k in range(5):
        evs += _ev("6.6.6.8", list(NIMDA), start=T0 + timedelta(seconds=61 * k))
    assert _families(tmp_path, evs)["6.6.6.8"] == {"nimda"}


def test_crlf_iis_log_keeps_its_last_column(tmp_path: Path) -> None:
    from wormsign.logs.synth import CODE_RED

    p = tmp_path / "ex010719.log"
    p.write_bytes(b"#Software: Microsoft Internet Information Services 5.0\r\n"
                  b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query\r\n"
                  b"2001-07-19 10:00:00 40.0.0.1 GET /default.ida " + CODE_RED[13:].encode()
                  + b"\r\n")
    rep = scan_paths([str(p)])
    assert [a.family for a in rep.alerts] == ["code-red"] and rep.files[0].skipped == 0


def test_versionless_requests_are_not_nimda(tmp_path: Path) -> None:
    evs = [Event(e.when, e.ip, e.method, e.url, e.status, e.size, e.agent, e.referer, "")
           for e in _ev("8.8.8.3", list(NIMDA))]
    fams = _families(tmp_path, evs)
    assert fams["8.8.8.3"] and "nimda" not in fams["8.8.8.3"]


def test_a_log_out_of_time_order_attributes_as_the_sorted_one(tmp_path: Path) -> None:
    """Bursts are found on times, not on line order: a log whose lines are shuffled gives
    each source the families the time-ordered log gives it (the time-ordered log takes the
    radix path of the burst search, the shuffled one the general one)."""
    import random
    from collections import Counter

    from wormsign.logs.synth import worm_heavy_lines

    lines = list(worm_heavy_lines(4000, seed=11))
    shuffled = lines[:]
    random.Random(5).shuffle(shuffled)
    ordered_p, shuffled_p = tmp_path / "ordered.log", tmp_path / "shuffled.log"
    ordered_p.write_text("".join(lines))
    shuffled_p.write_text("".join(shuffled))

    def families(p: Path) -> Counter[tuple[str, str, str]]:
        return Counter((a.source_ip, a.family, a.rule_id)
                       for a in scan_paths([str(p)], workers=1).alerts)

    got = families(ordered_p)
    assert any(fam == "nimda" for _, fam, _ in got)
    assert got == families(shuffled_p)
