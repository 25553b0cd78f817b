"""``rules convert``: Sigma to SIEM queries through the installed pySigma backends, and the
``rules export/import/convert`` command lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from wormsign.cli.main import main
from wormsign.rules.loader import load_pack
from wormsign.rules.sigma import export_pack, to_yaml

pytest.importorskip("sigma.collection", reason="pySigma (the sigma extra) is not installed")

from wormsign.rules.sigma_convert import FIELD_PIPELINES, convert, targets

TEXT = to_yaml(export_pack(load_pack()))


def _need(target: str) -> None:
    if target not in targets():
        pytest.skip(f"the pySigma backend for {target} is not installed")


def test_splunk_queries_use_the_cim_web_fields() -> None:
    _need("splunk")
    results = {c.name: c for c in convert(TEXT, "splunk")}
    assert set(results) >= {r.id for r in load_pack().rules}
    passwd = results["etc-passwd"]
    assert passwd.error is None and passwd.queries == ('url="*/etc/passwd*"',)
    assert 'regex url="(?i:' in results["code-red"].queries[0]
    burst = results["nimda.burst"]
    assert burst.error is None and "event_count >= 4" in burst.queries[0]
    assert "by _time src" in burst.queries[0]
    assert results["nimda"].queries == ()  # its requests are inside the correlation's query


def test_elasticsearch_maps_to_ecs_and_says_what_it_cannot_write() -> None:
    _need("lucene")
    results = {c.name: c for c in convert(TEXT, "elasticsearch")}
    assert results["scanner-user-agent"].queries[0].startswith("user_agent.original:")
    assert results["code-red"].warning is not None  # regex semantics differ: review
    assert results["nimda.burst"].error is not None  # no correlations in Lucene
    assert results["nimda"].queries and results["nimda"].warning is not None
    assert "http.request.method:GET" in results["nimda"].queries[0]


def test_pipeline_none_keeps_sigma_names() -> None:
    _need("splunk")
    (passwd,) = [c for c in convert(TEXT, "splunk", "none") if c.name == "etc-passwd"]
    assert passwd.queries == ('"c-uri"="*/etc/passwd*"',)
    assert set(FIELD_PIPELINES["ecs"]) == set(FIELD_PIPELINES["cim"])


def test_a_missing_backend_is_a_one_line_pip_hint(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["rules", "convert", "--target", "kusto"])
    err = capsys.readouterr().err
    if "kusto" in targets():
        pytest.skip("a kusto backend is installed here")
    assert rc == 2
    assert err.count("\n") == 1 and "pip install pysigma-backend-kusto" in err


def test_cli_export_import_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wormsign.sigma.yml"
    assert main(["rules", "export", "--format", "sigma", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "approximated" in err and "nimda" in err
    docs = list(yaml.safe_load_all(out.read_text()))
    assert {d["name"] for d in docs if "detection" in d} == {r.id for r in load_pack().rules}
    back = tmp_path / "back.yml"
    assert main(["rules", "import", str(out), "-o", str(back)]) == 0
    assert "refused 0" in capsys.readouterr().err
    again = load_pack([str(back)], builtin=False)
    assert {r.id: r.match for r in again.rules} == {r.id: r.match for r in load_pack().rules}


def test_cli_export_exact_only_leaves_approximations_out(tmp_path: Path) -> None:
    out = tmp_path / "exact.yml"
    assert main(["rules", "export", "--exact-only", "-o", str(out)]) == 0
    names = {d["name"] for d in yaml.safe_load_all(out.read_text())}
    assert "code-red" in names and "nimda" not in names and "cmd-exe-access" not in names


def test_cli_import_refusal_is_one_line_per_rule(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "win.yml"
    f.write_text("title: not web\nlogsource: {product: windows}\ndetection:\n  s:\n"
                 "    Image|endswith: '\\\\cmd.exe'\n  condition: s\nlevel: low\n")
    assert main(["rules", "import", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:2:" in err and "not a web server or proxy log" in err
    assert "Traceback" not in err


def test_cli_convert_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    _need("esql")
    rc = main(["rules", "convert", "--target", "esql", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert {"name", "title", "queries", "error", "warning"} == set(results[0])
    assert rc == (2 if any(r["error"] for r in results) else 0)
