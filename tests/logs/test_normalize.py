from __future__ import annotations

import pytest

from wormsign.logs.normalize import canonical, escaped
from wormsign.logs.synth import NIMDA

TRAVERSAL = "/scripts/../../winnt/system32/cmd.exe?/c+dir"


@pytest.mark.parametrize("url", [u for u in NIMDA if u.startswith("/scripts/..")])
def test_every_nimda_encoding_resolves_to_the_same_request(url: str) -> None:
    assert canonical(url) == TRAVERSAL


@pytest.mark.parametrize("url", [
    "/scripts/..\\xc0\\xaf../winnt/system32/cmd.exe?/c+dir",   # Apache error log
    "/scripts/..\\xc1\\x1c../winnt/system32/cmd.exe?/c+dir",
    "/scripts/..%5c../winnt/system32/cmd.exe?/c+dir",          # IIS, decoded one level
    "/SCRIPTS/..%C1%9C../WINNT/system32/CMD.EXE?/c+dir",
])
def test_log_representations_resolve_too(url: str) -> None:
    assert canonical(url) == TRAVERSAL


def test_escaped_unifies_byte_forms() -> None:
    assert escaped("/a\\xC0\\xafb%2F") == "/a%c0%afb%2f"


def test_code_red_unicode_escapes_are_left_alone() -> None:
    assert "%u9090" in canonical("/default.ida?NNNN%u9090%u6858=a")
