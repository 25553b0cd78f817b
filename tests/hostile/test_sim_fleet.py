"""Hostile input for ``wormsign simulate`` and ``wormsign assess``.

Every case runs the real command in a subprocess limited to 30 s and 1 GB of address space,
as an attacker or a careless user would meet it. The bar for each: exit status 0, 1 or 2; no
traceback; an error is one line; no raw control or bidi character in anything printed or
written. Then hypothesis fuzzes the inventory readers and the assess exporters directly: no
exception but the project's own.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormsign.errors import WormsignError
from wormsign.fleet.assess import assess
from wormsign.fleet.inventory import Inventory, read_csv_text, read_json_text, read_yaml_text
from wormsign.fleet.nmap import read_nmap_bytes
from wormsign.fleet.output import to_csv, to_sarif

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("WORMSIGN_DEBUG", None)
TIMEOUT_S = 30
MEMORY = 1 << 30
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                    "\u2028\u2029\u2066-\u2069]")
NOTICE = "wormsign: compiling the simulator"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _wormsign(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "wormsign", *args], cwd=cwd, env=ENV,
                              capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT_S, preexec_fn=_limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wormsign {' '.join(args)!r} ran past {TIMEOUT_S} s")


def _check(done: subprocess.CompletedProcess[str], outputs: list[Path] = ()) -> None:
    where = f"args {done.args[3:]!r}\nstdout {done.stdout[-500:]!r}\nstderr {done.stderr!r}"
    assert done.returncode in (0, 1, 2), where
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, where
    err = [line for line in done.stderr.splitlines() if not line.startswith(NOTICE)]
    if done.returncode == 2:
        assert len(err) == 1 and err[0].startswith("wormsign"), where
    assert not UNSAFE.search(done.stdout), where
    assert not UNSAFE.search(done.stderr), where
    for path in outputs:
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").replace("\n", "")
            assert not UNSAFE.search(text), f"{path.name} {where}"


# --------------------------------------------------------------------------- simulate

QUICK = ["--address-bits", "16", "--vulnerable", "100", "--initial", "1", "--hours", "0.01"]

SIM_CASES: list[list[str]] = [
    # the examples
    ["--exclude", "0.0.0.0/0"],
    ["--model", "two-factor", "--tf-eta", "1e308"],
    ["--runs", "1000000000"],
    ["--scan-rate", "1e300"],
    ["--step", "1e-9", "--hours", "9600"],
    ["--scheduler", "local"],
    # the class: every parameter out of range, not a number, or hostile text
    ["--scan-rate", "nan"], ["--scan-rate", "inf"], ["--scan-rate", "-1"], ["--scan-rate", "0"],
    ["--hours", "0"], ["--hours", "1e400"], ["--vulnerable", "0"],
    ["--vulnerable", "99999999999"], ["--address-bits", "64"], ["--initial", "0"],
    ["--dt", "1e-300"], ["--dt", "1e-4", "--hours", "9600"], ["--step", "0"],
    ["--strategy", "\x1b[2J\u202e"], ["--model", "\u202egol"],
    ["--patch-rate", "a:b"], ["--patch-rate", "0:1e308"], ["--removal-rate", "-1"],
    ["--local-probs", "1,1,1"], ["--strategy", "local-preference", "--local-prefixes", "8,8"],
    ["--strategy", "local-preference", "--scan-rate", "1e6", "--step", "0.03"],
    ["--strategy", "sequential", "--address-bits", "8", "--vulnerable", "128",
     "--scan-rate", "1000", "--hours", "10"],
    ["--strategy", "permutation", "--hours", "9600", "--scan-rate", "1e5"],
    ["--exclude", "not-a-cidr\x1b[31m"], ["--telescope", "::1/128"],
    ["--exclude", "0.0.0.0/1", "--exclude", "128.0.0.0/1"],
    ["--start", "x\u202e"], ["--start", "0001-01-01T00:30:00+01:00"],
    ["--start", "9999-12-31T23:00:00Z", "--calendar", "true"],
    ["--seed", "-1"], ["--seed", "9" * 40], ["--workers", "100000", "--runs", "2"],
    ["--runs", "0"], ["--runs", "-5"], ["--scheduler", "tcp://a b:1"],
    ["--preset", "code-red-ii", "--runs", "10000"],
    ["--flood-target", "x}; table inet pwn {"], ["--hitlist-size", "0"],
    ["--probe-cap", "-1"], ["--scan-rate-sigma", "1e9", "--scan-rate-dist", "lognormal"],
    ["--tf-mu", "1e300", "--model", "two-factor"], ["--blacklist-coverage", "2"],
    ["--infection-delay", "1e300"], ["--wake-jitter", "-1"], ["--flood-rate", "inf"],
    ["--preset", "/dev/zero"], ["--preset", "../../../../etc/passwd"],
    ["--preset", "nonexistent.yaml"], ["--preset", "code-red-v9\x1b"],
    ["--placement", "clustered", "--density", "/dev/zero"],
    [*QUICK, "--out", "/nonexistent-dir/x.csv"],
    [*QUICK, "--plot", "/nonexistent-dir/x.png"],
    [*QUICK, "--json"],
    [*QUICK, "--runs", "3", "--workers", "1", "--seed", "1"],
]


@pytest.mark.parametrize("args", SIM_CASES, ids=lambda a: " ".join(a)[:60])
def test_simulate_hostile_parameters(tmp_path: Path, args: list[str]) -> None:
    done = _wormsign(["simulate", *args], tmp_path)
    _check(done)
    if args[:len(QUICK)] != QUICK:
        assert done.returncode == 2, done.stderr


def _preset_files(d: Path) -> dict[str, Path]:
    bomb = ["- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        bomb.append(f"- &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    files = {
        "alias-bomb": "sources:\n" + "\n".join("  " + b for b in bomb) + "\nname: *l8\n",
        "deep": "name: " + "[" * 20000 + "]" * 20000 + "\n",
        "huge": "description: " + "x" * (5 * 1024 * 1024) + "\n",
        "python-tag": "name: !!python/object/apply:os.system ['echo pwned']\n",
        "control-name": "name: \"\\e[2J\\u202eevil\"\nvulnerable: 100\naddress_bits: 16\n"
                        "initial: 1\nhours: 0.01\n",
        "not-a-mapping": "- 1\n- 2\n",
        "binary": "\x00\x01\x02\xff",
        "unknown-key": "scan_rat: 5\n",
        "wrong-types": "vulnerable: [1, 2]\nhours: {a: 1}\n",
    }
    out = {}
    for name, text in files.items():
        p = d / f"{name}.yaml"
        p.write_text(text, encoding="utf-8", errors="surrogateescape")
        out[name] = p
    fifo = d / "fifo.yaml"
    os.mkfifo(fifo)
    out["fifo"] = fifo
    return out


@pytest.mark.parametrize("name", ["alias-bomb", "deep", "huge", "python-tag", "control-name",
                                  "not-a-mapping", "binary", "unknown-key", "wrong-types",
                                  "fifo"])
def test_simulate_hostile_preset_files(tmp_path: Path, name: str) -> None:
    path = _preset_files(tmp_path)[name]
    done = _wormsign(["simulate", "--preset", str(path)], tmp_path)
    _check(done)
    assert done.returncode == (0 if name == "control-name" else 2), done.stderr


# --------------------------------------------------------------------------- assess

IIS5 = "[/W3SVC/1/ROOT]\nScriptMaps : (LIST) (1 Items)\n  \".ida,C:\\idq.dll,7,GET\"\n"
HOSTILE = "IIS\x1b[2J\x1b]0;title\x07\u202etxt.exe\u2066\u2028=HYPERLINK(\"http://x\")"


def _csv(rows: list[list[str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _inventories(d: Path) -> dict[str, Path | str]:
    (d / "configs").mkdir()
    (d / "configs" / "iis5.txt").write_text(IIS5)
    os.mkfifo(d / "configs" / "fifo.txt")
    (d / "configs" / "zero.txt").symlink_to("/dev/zero")
    head = ["host", "software", "version", "patches", "exposure", "config"]
    laughs = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "' + f"&lol{i - 1 if i > 1 else ''};" * 10 + '">'
                        for i in range(1, 10))
              + ']>\n<nmaprun><host><address addr="192.0.2.1" addrtype="ipv4"/>'
              '<ports><port protocol="tcp" portid="80"><state state="open"/>'
              '<service name="http" product="&lol9;" version="5.0"/></port></ports>'
              '</host></nmaprun>\n')
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
           '<nmaprun><host><address addr="192.0.2.1" addrtype="ipv4"/><ports>'
           '<port protocol="tcp" portid="80"><state state="open"/>'
           '<service name="http" product="&x;" version="5.0"/></port></ports></host>'
           '</nmaprun>\n')
    files: dict[str, str | bytes] = {
        "traversal.csv": _csv([head,
                               ["a", "IIS", "5.0", "", "internet", "../../../../etc/passwd"],
                               ["b", "IIS", "5.0", "", "internet", "/etc/shadow"],
                               ["c", "IIS", "5.0", "", "internet", "configs/../../x"],
                               ["d", "IIS", "5.0", "", "internet", "configs/iis5.txt"],
                               ["e", "IIS", "5.0", "", "internet", "configs/fifo.txt"],
                               ["f", "IIS", "5.0", "", "internet", "configs/zero.txt"],
                               ["g", "IIS", "5.0", "", "internet", "/dev/zero"],
                               ["h", "IIS", "5.0", "", "internet", "x\x00y"]]),
        "control.csv": _csv([head, [HOSTILE, HOSTILE, "5.0\x1b", HOSTILE, "internet", ""],
                             ["ok", "IIS", "5.0", "", "dmz\x1b[1m\u202e", ""],
                             ["=cmd|' /C calc'!A0", "IIS", "5.0", "@SUM(1)", "", ""]]),
        "huge-cell.csv": _csv([head, ["a" * 5_000_000, "IIS", "5.0", "", "", ""],
                               ["ok", "IIS", "5.0", "", "", ""]]),
        "huge-header.csv": "h" * 3_000_000 + ",software,version\n",
        "many-columns.csv": ",".join(["host", "software", "version"]
                                     + [f"c{i}" for i in range(100_000)]) + "\n",
        "nul.csv": "host,software,version\n\x00\x00,IIS\x00,5.0\n",
        "binary.csv": bytes(range(256)) * 100,
        "empty.csv": "",
        "bom-latin1.csv": b"\xef\xbb\xbfhost,software,version\n\xe9t\xe9,IIS,5.0\n",
        "quotes.csv": 'host,software,version\n"unterminated,IIS,5.0\n' + "x," * 10 + "\n",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep-hosts.json": '{"hosts": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "numbers.json": '[{"host": 1e308, "software": "IIS", "version": 5.0, '
                        '"criticality": 1e999}, {"host": "x", "software": ["IIS"], '
                        '"version": {}}, {"host": "y", "software": "IIS", "version": '
                        '"5.0", "patches": 123456789012345678901234567890}]',
        "control.json": json.dumps([{"host": HOSTILE, "software": "IIS", "version": "5.0",
                                     "patches": [HOSTILE, 5, None], "config": "\u202e.txt"}]),
        "surrogate.json": '[{"host": "\\ud800", "software": "IIS", "version": "5.0"}]',
        "not-hosts.json": '{"hosts": 5}',
        "garbage.json": "[{" + "\x1b" * 100,
        "laughs.yaml": "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                                 + [f"{chr(98 + i)}: &{chr(98 + i)} ["
                                    + ", ".join([f"*{chr(97 + i)}"] * 10) + "]"
                                    for i in range(8)])
                       + "\nhosts:\n  - {host: x, software: IIS, version: '5.0', "
                         "patches: *i}\n",
        "deep.yaml": "- " + "[" * 50_000 + "]" * 50_000 + "\n",
        "python.yaml": "- !!python/object/apply:os.system ['echo pwned']\n",
        "control.yaml": f"- host: {json.dumps(HOSTILE)}\n  software: IIS\n  version: '5.0'\n",
        "xxe.xml": xxe,
        "laughs.xml": laughs,
        "malformed.xml": "<nmaprun><host><address addr='1.2.3.4'",
        "deep.xml": "<nmaprun>" + "<a>" * 100_000 + "</a>" * 100_000 + "</nmaprun>",
        "control.xml": ('<nmaprun><host><address addr="192.0.2.9" addrtype="ipv4"/><ports>'
                        '<port protocol="tcp" portid="80"><state state="open"/>'
                        '<service name="http" product="Microsoft IIS httpd&#x1b;[2J&#x202e;" '
                        'version="5.0"/></port></ports></host></nmaprun>'),
    }
    out: dict[str, Path | str] = {}
    for name, content in files.items():
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", errors="surrogatepass")
        out[name] = p
    out["dev-zero"] = "/dev/zero"
    return out


INVENTORY_NAMES = [
    "traversal.csv", "control.csv", "huge-cell.csv", "huge-header.csv", "many-columns.csv",
    "nul.csv", "binary.csv", "empty.csv", "bom-latin1.csv", "quotes.csv", "deep.json",
    "deep-hosts.json", "numbers.json", "control.json", "surrogate.json", "not-hosts.json",
    "garbage.json", "laughs.yaml", "deep.yaml", "python.yaml", "control.yaml", "xxe.xml",
    "laughs.xml", "malformed.xml", "deep.xml", "control.xml", "dev-zero",
]


@pytest.mark.parametrize("name", INVENTORY_NAMES)
def test_assess_hostile_inventories(tmp_path: Path, name: str) -> None:
    inv = _inventories(tmp_path)[name]
    outs = [tmp_path / "out.csv", tmp_path / "out.sarif"]
    for extra in ([], ["--json"]):
        done = _wormsign(["assess", str(inv), "--outbreak-model", "closed-form",
                          "--csv", str(outs[0]), "--sarif", str(outs[1]), *extra], tmp_path)
        _check(done, outs)
        if extra and done.returncode != 2:
            json.loads(done.stdout)
    if name == "traversal.csv":
        text = outs[0].read_text()
        assert "root:" not in text and "refused" in text
    if name == "xxe.xml":
        assert "root:" not in done.stdout


def test_assess_with_the_simulator_under_the_limits(tmp_path: Path) -> None:
    inv = _inventories(tmp_path)["control.csv"]
    done = _wormsign(["assess", str(inv)], tmp_path)
    _check(done)
    assert done.returncode in (0, 1)


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
ALPHABET = [*"abcIS5.0,;:\"'[]{}<>&#/\\=+-@ \t\n\r",
            "\x00", "\x1b", "\u202e", "\u2066", "\ud7ff", "\ufeff", "é", "\u2028"]
NASTY = st.text(alphabet=st.sampled_from(ALPHABET), max_size=200)


def _only_own_errors(fn: Callable[[], Inventory]) -> Inventory | None:
    try:
        return fn()
    except WormsignError:
        return None


@FUZZ
@given(NASTY)
def test_fuzz_csv_reader(text: str) -> None:
    inv = _only_own_errors(lambda: read_csv_text("host,software,version,config\n" + text))
    if inv is not None:
        _exports_are_clean(inv)
    _only_own_errors(lambda: read_csv_text(text))


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | NASTY,
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.sampled_from(["host", "software", "version",
                                                       "patches", "exposure", "config",
                                                       "criticality", "x"]), kids,
                                      max_size=6),
                    max_leaves=20))
def test_fuzz_json_and_yaml_readers(doc: object) -> None:
    text = json.dumps(doc if isinstance(doc, list) else [doc])
    inv = _only_own_errors(lambda: read_json_text(text))
    if inv is not None:
        _exports_are_clean(inv)
    # JSON is YAML: the same document through the YAML reader
    inv = _only_own_errors(lambda: read_yaml_text(text))
    if inv is not None:
        _exports_are_clean(inv)


@FUZZ
@given(NASTY)
def test_fuzz_raw_json_and_yaml_text(text: str) -> None:
    _only_own_errors(lambda: read_json_text(text))
    _only_own_errors(lambda: read_yaml_text(text))


@FUZZ
@given(NASTY, NASTY)
def test_fuzz_nmap_reader(product: str, version: str) -> None:
    from xml.sax.saxutils import quoteattr

    xml = ('<nmaprun><host><address addr="192.0.2.1" addrtype="ipv4"/><ports>'
           f'<port protocol="tcp" portid="80"><state state="open"/><service name="http" '
           f'product={quoteattr(product)} version={quoteattr(version)}/></port></ports>'
           '</host></nmaprun>')
    data = xml.encode("utf-8", "surrogatepass")
    inv = _only_own_errors(lambda: read_nmap_bytes(data))
    if inv is not None:
        _exports_are_clean(inv)
    _only_own_errors(lambda: read_nmap_bytes(product.encode("utf-8", "surrogatepass")))


def _exports_are_clean(inv: Inventory) -> None:
    report = assess(inv, outbreak_source="closed-form")
    csv_text = to_csv(report)
    assert not UNSAFE.search(csv_text.replace("\n", ""))
    for line in csv_text.splitlines()[1:]:
        assert not line.startswith(("=", "+", "-", "@"))
    sarif = json.dumps(to_sarif(report), ensure_ascii=True)
    assert not UNSAFE.search(sarif)
    json.dumps(report.to_json(), ensure_ascii=True)
