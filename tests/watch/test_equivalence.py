"""Watching finished logs gives the alerts a scan gives: same lines, rules and families."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormsign.detect.alert import Alert
from wormsign.detect.scanner import scan_paths
from wormsign.rules.loader import load_pack
from wormsign.watch.runner import Watcher


def _key(a: Alert) -> tuple[str, int, str, str, str]:
    return (a.file_path, a.line, a.rule_id, a.family, a.source_ip)


def _watch(path: Path, max_read: int) -> list[Alert]:
    got: list[Alert] = []
    w = Watcher([str(path)], on_alerts=got.extend)
    w.follower.max_read = max_read
    for _ in range(300):
        w.step(now=0)
    w.step(now=0, final=True)
    return got


def test_watching_the_sample_equals_scanning_it(sample_dir: Path) -> None:
    got = _watch(sample_dir, 8 << 20)
    # watch follows each log on its own: compared with a scan that counts records
    want = scan_paths([str(sample_dir)], match=None).alerts
    assert len(want) > 100
    assert sorted(map(_key, got)) == sorted(map(_key, want))
    assert {a.family for a in got} >= {"code-red", "code-red-ii", "nimda"}


@pytest.mark.parametrize("chunk", [4096, 64 * 1024])
def test_in_small_pieces_only_ambiguous_families_may_differ(sample_dir: Path,
                                                           chunk: int) -> None:
    """Files read a piece at a time progress at different speeds: an error-log line that
    cannot tell Code Red from Code Red II may be decided before the access log shows which
    (its family is then one of the two); everything else is exactly the scan's."""
    ambiguous = {r.id: set(r.ambiguous) for r in load_pack().rules if r.ambiguous}
    got = {(a.file_path, a.line, a.rule_id, a.source_ip): a.family
           for a in _watch(sample_dir, chunk)}
    want = {(a.file_path, a.line, a.rule_id, a.source_ip): a.family
            for a in scan_paths([str(sample_dir)], match=None).alerts}
    assert got.keys() == want.keys()
    for k, fam in want.items():
        if k[2] in ambiguous:
            assert got[k] in ambiguous[k[2]] | {fam}
        else:
            assert got[k] == fam, k
