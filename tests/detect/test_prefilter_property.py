"""The Hyperscan prefilter never drops a line that a rule would match.

Lines are built from the rules' own keywords, written plainly, in other case, or encoded the
ways worms and logs wrote them (%-escapes, ``%u00NN``, ``\\xNN``, overlong UTF-8 as escapes
and as raw bytes, double percent-encoding), mixed with noise. Each line is parsed as the
scanner parses it (:func:`wormsign.logs.clf.parse_line`) and every rule of the built-in pack
is matched in full (:meth:`Rule.matches`, what the scanner runs on the lines the prefilter
keeps). Every rule that holds must be among the rules the prefilter flags for that line, by
:meth:`Prefilter.candidates` and by :func:`candidate_lines`, the column form the scanner uses.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wormsign.detect.chunkscan import RuleEngine
from wormsign.detect.prefilter import candidate_arrays, candidate_lines, flagged_lines
from wormsign.logs.clf import parse_line

ENGINE = RuleEngine()
RULES = ENGINE.rules
PREFILTER = ENGINE.prefilter

# Pieces worms and scanners sent, and the rules' keywords and regex literals.
_WORDS = sorted({kw for r in RULES for kw in r.keywords} | {
    "/default.ida?", "/scripts/", "/msadc/", "/_vti_bin/", "/_mem_bin/", "/c/", "/d/",
    "winnt/system32/", "root.exe", "cmd.exe", "?/c+dir", "..", "../", "..\\", "/etc/passwd",
    ".idq", ".printer", ".htr", "/", "?", "+", " ", "N" * 24, "X" * 24, "A" * 120,
    "%c0%af", "%c1%1c", "%c1%9c", "%e0%80%af", "%25", "%%35%63", "%255c", "Nikto", "NMAP",
})


def _encode_char(c: str, how: int) -> bytes:
    """One ASCII character written the ways the rules' derived fields decode."""
    o = ord(c)
    if how == 0 or o >= 0x80:
        return c.encode("utf-8", "surrogatepass")
    if how == 1:
        return f"%{o:02x}".encode()
    if how == 2:
        return f"%{o:02X}".encode()
    if how == 3:
        return f"%u00{o:02x}".encode()
    if how == 4:
        return f"\\x{o:02x}".encode()
    if how == 5:  # overlong 2-byte form, escaped
        return f"%{0xC0 | o >> 6:02x}%{0x80 | o & 0x3F:02x}".encode()
    if how == 6:  # overlong 2-byte form, raw bytes (IIS logs wrote them decoded)
        return bytes([0xC0 | o >> 6, 0x80 | o & 0x3F])
    if how == 7:  # overlong 3-byte form, escaped
        return f"%e0%{0x80 | o >> 6:02x}%{0x80 | o & 0x3F:02x}".encode()
    if how == 8:  # overlong 3-byte form, raw bytes
        return bytes([0xE0, 0x80 | o >> 6, 0x80 | o & 0x3F])
    return f"%25{o:02x}".encode()  # double percent-encoding


@st.composite
def _piece(draw: st.DrawFn) -> bytes:
    word = draw(st.sampled_from(_WORDS))
    if draw(st.booleans()):
        word = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)
    how = draw(st.integers(0, 9))  # one way per piece, for some of its characters
    mixed = draw(st.booleans())
    return b"".join(_encode_char(c, draw(st.integers(0, 9)) if mixed
                                 else how if draw(st.booleans()) else 0) for c in word)


_NOISE = st.binary(max_size=6).map(
    lambda b: b.replace(b"\n", b"").replace(b'"', b"").replace(b"\r", b""))
_URL = st.lists(st.one_of(_piece(), _NOISE), min_size=1, max_size=8).map(b"".join).map(
    lambda b: b.replace(b" ", b"+"))
_UA = st.one_of(st.just(b"-"), st.lists(st.one_of(_piece(), _NOISE), max_size=3).map(
    lambda parts: b"".join(parts).replace(b"\n", b"")))


def _line(method: bytes, url: bytes, status: int, ua: bytes) -> bytes:
    return (b'198.51.100.7 - - [19/Jul/2001:12:00:00 +0000] "' + method + b" " + url
            + b' HTTP/1.0" ' + str(status).encode() + b' 512 "-" "' + ua.replace(b'"', b"")
            + b'"')


def _assert_kept(raw: bytes) -> None:
    req = parse_line(raw, 3)
    if req is None:
        return
    matched = {i for i, r in enumerate(RULES) if r.matches(req)}
    if not matched:
        return
    flagged: set[int] = set()
    for start, end, rules in PREFILTER.candidates(raw):
        assert (start, end) == (0, len(raw))
        flagged |= rules
    missed = matched - flagged
    assert not missed, (f"prefilter drops {raw!r} for "
                        f"{[RULES[i].id for i in sorted(missed)]}")
    # the column form the scanner runs must flag the same rules (one line, index 0)
    cand = candidate_lines(PREFILTER, raw + b"\n")
    masks = dict(zip(cand.line, cand.mask, strict=True))
    assert all(masks.get(0, 0) >> i & 1 for i in matched)
    # the scanner's fast path: the line is flagged (one report per line), and the mask of
    # its request text (what follows the time) holds every rule that matches
    assert flagged_lines(PREFILTER, raw + b"\n").line.tolist() == [0]
    text_mask = PREFILTER.mask_of(raw[raw.index(b'] "') + 3:])
    missed = {i for i in matched if not text_mask >> i & 1}
    assert not missed, f"text mask drops {raw!r} for {[RULES[i].id for i in sorted(missed)]}"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b"SEARCH"]), url=_URL,
       status=st.sampled_from([200, 400, 404, 500]), ua=_UA)
@example(method=b"GET", url=b"/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
         status=404, ua=b"-")
@example(method=b"GET", url=b"/scripts/root%2eexe?/c+dir", status=404, ua=b"-")
@example(method=b"GET", url=b"/scripts/root\xe0\x80\xaeexe", status=404, ua=b"-")
@example(method=b"GET", url=b"/default.ida?" + b"N" * 224 + b"%u9090=a", status=404, ua=b"-")
@example(method=b"GET", url=b"/%2524{%2524{", status=200, ua=b"-")  # found by this test
def test_prefilter_keeps_every_line_a_rule_matches(method: bytes, url: bytes, status: int,
                                                  ua: bytes) -> None:
    _assert_kept(_line(method, b"/" + url.lstrip(b"/"), status, ua))


def test_the_generator_reaches_the_rules() -> None:
    """The property is not vacuous: encoded lines of the kind generated do match rules."""
    hits = set()
    for url in (b"/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
                b"/c/winnt/system32/cmd%u002eexe?/c+dir",
                b"/scripts/root\\x2eexe", b"/x/%2e%2e/etc/passwd", b"/default.ida?" + b"X" * 30):
        req = parse_line(_line(b"GET", url, 404, b"-"), 3)
        assert req is not None
        hits |= {r.id for r in RULES if r.matches(req)}
    assert {"cmd-exe-access", "crii-root-exe", "etc-passwd", "code-red-ii",
            "iis-unicode-traversal", "path-traversal"} <= hits


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(_URL, _UA, st.just(b"")), min_size=1, max_size=12),
       end_nl=st.booleans())
def test_one_report_per_line_flags_the_same_lines(lines: list[bytes], end_nl: bool) -> None:
    """:func:`flagged_lines` (one Hyperscan report per line) flags exactly the lines that
    :func:`candidate_arrays` (a report per keyword) flags, at the same offsets."""
    chunk = b"\n".join(x.replace(b"\n", b"") for x in lines) + (b"\n" if end_nl else b"")
    full = candidate_arrays(PREFILTER, chunk)
    one = flagged_lines(PREFILTER, chunk)
    assert one.line.tolist() == full.line.tolist()
    assert one.start.tolist() == full.start.tolist()
    assert one.end.tolist() == full.end.tolist()
    for li, s0, e0, m in zip(full.line.tolist(), full.start.tolist(), full.end.tolist(),
                             full.mask.tolist(), strict=True):
        assert PREFILTER.mask_of(chunk[s0:e0]) == int(m), li


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(_URL, _UA, st.just(b""), _URL.map(lambda u: u * 9)),
                      min_size=1, max_size=12),
       end_nl=st.booleans(), long_line=st.integers(0, 120))
def test_long_lines_checked_on_their_own_flag_the_same(lines: list[bytes], end_nl: bool,
                                                       long_line: int) -> None:
    """Lines longer than LONG_LINE are checked alone, up to their first keyword: the same
    lines are flagged as when the whole chunk is scanned at once."""
    from wormsign.detect import prefilter

    chunk = b"\n".join(x.replace(b"\n", b"") for x in lines) + (b"\n" if end_nl else b"")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prefilter, "LONG_LINE", 1 << 40)
        whole = flagged_lines(PREFILTER, chunk)
        mp.setattr(prefilter, "LONG_LINE", long_line)
        split = flagged_lines(PREFILTER, chunk)
    assert split.line.tolist() == whole.line.tolist()
    assert split.start.tolist() == whole.start.tolist()
    assert split.end.tolist() == whole.end.tolist()


def test_a_storm_line_is_flagged_and_a_long_clean_one_is_not() -> None:
    head = b'198.51.100.7 - - [19/Jul/2001:12:00:00 +0000] "SEARCH /'
    tail = b' HTTP/1.1" 414 0 "-" "-"'
    storm = head + b"\\x90" * 9000 + tail
    get = head.replace(b"SEARCH", b"GET")
    clean = get + b"A" * 40000 + tail
    late = get + b"A" * 40000 + b"/default.ida" + tail
    chunk = b"\n".join([storm, clean, late, b"short line", storm[:200]]) + b"\n"
    fl = flagged_lines(PREFILTER, chunk)
    assert fl.line.tolist() == [0, 2, 4]
    arr = candidate_arrays(PREFILTER, chunk)
    assert arr.line.tolist() == [0, 2, 4]
    assert [PREFILTER.mask_of(chunk[s:e]) for s, e in zip(arr.start, arr.end, strict=True)] \
        == [int(m) for m in arr.mask]
    assert PREFILTER.holds_keyword(storm) and not PREFILTER.holds_keyword(clean)
