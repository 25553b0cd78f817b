"""OpenVEX (v0.2.0) documents from and for ``wormsign assess``.

Writing (``assess --vex-out FILE``): one statement per host and advisory. The product is the
host, ``urn:wormsign:host:<name>`` (percent-encoded), with the software as a generic package
URL in ``identifiers``; the vulnerability is the advisory id with its aliases. Statuses:
``exploitable`` -> ``affected`` (the fix as ``action_statement``), ``accepted`` ->
``affected`` (the accepted risk as ``action_statement``), ``unknown`` ->
``under_investigation``, ``mitigated`` -> ``not_affected`` with
``inline_mitigations_already_exist``, ``not-affected`` -> ``not_affected`` with
``vulnerable_code_not_present``, ``patched`` -> ``fixed``.

Reading (``assess --vex FILE``, repeatable): a ``not_affected`` or ``fixed`` statement about a
host (its URN, or its plain name) and an advisory (id or any alias, either side) turns the
verdict into ``not-affected`` (``mitigated`` when the justification is
``inline_mitigations_already_exist``: the patch is still planned) or ``patched``, with the
statement (author, justification,
impact) as evidence; ``affected`` and ``under_investigation`` statements change nothing (the
evidence speaks). Every problem in a document is reported with its line.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from wormsign.errors import Problem
from wormsign.fleet.verdict import Verdict
from wormsign.validation import (
    key_line,
    line_of,
    parse_json,
    raise_problems,
    read_bounded,
    read_problem,
)

if TYPE_CHECKING:
    from wormsign.fleet.assess import AssessReport

CONTEXT = "https://openvex.dev/ns/v0.2.0"
HOST_PREFIX = "urn:wormsign:host:"
STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present",
                  "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary",
                  "inline_mitigations_already_exist")
#: Verdicts a VEX statement may settle (patched / not-affected already need nothing).
SETTLEABLE = frozenset({"exploitable", "unknown", "mitigated", "accepted"})


def host_iri(host: str) -> str:
    return HOST_PREFIX + quote(host, safe="")


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _statement(host: Any, v: Verdict, stamp: str) -> dict[str, Any]:
    product: dict[str, Any] = {"@id": host_iri(host.host)}
    if host.software:
        product["identifiers"] = {"purl": f"pkg:generic/{quote(host.software.lower(), safe='')}"
                                  + (f"@{quote(host.version, safe='.')}" if host.version
                                     else "")}
    st: dict[str, Any] = {"vulnerability": {"name": v.id, "aliases": list(v.aliases)},
                          "products": [product], "timestamp": stamp}
    notes = "; ".join(v.evidence)[:2000]
    if v.status in ("exploitable", "accepted"):
        st["status"] = "affected"
        st["action_statement"] = (v.evidence[-1] if v.status == "accepted" and v.evidence
                                  else v.fix or "apply the vendor's fix")
    elif v.status == "unknown":
        st["status"] = "under_investigation"
    elif v.status == "patched":
        st["status"] = "fixed"
    else:
        st["status"] = "not_affected"
        st["justification"] = ("inline_mitigations_already_exist" if v.status == "mitigated"
                               else "vulnerable_code_not_present")
        st["impact_statement"] = notes or v.status
    if notes:
        st["status_notes"] = notes
    return st


def to_openvex(report: AssessReport, *, author: str = "wormsign assess",
               now: int | None = None) -> dict[str, Any]:
    """The assessment as one OpenVEX document."""
    stamp = _iso(int(time.time()) if now is None else now)
    statements = [_statement(h, v, stamp) for h in report.hosts
                  for v in report.verdicts.get(h.host, ())]
    body = json.dumps(statements, sort_keys=True).encode()
    return {"@context": CONTEXT,
            "@id": "https://openvex.dev/docs/public/vex-" + hashlib.sha256(body).hexdigest(),
            "author": author, "timestamp": stamp, "version": 1, "statements": statements}


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class VexStatement:
    """One usable statement: products (host names), vulnerability names, status and why."""

    hosts: tuple[str, ...]
    names: tuple[str, ...]
    status: str
    justification: str
    note: str
    author: str

    def covers(self, host: str, ids: Iterable[str]) -> bool:
        want = {i.upper() for i in ids}
        return host in self.hosts and any(n.upper() in want for n in self.names)


def _product_host(p: Any) -> str | None:
    pid = p.get("@id") if isinstance(p, dict) else p
    if not isinstance(pid, str) or not pid:
        return None
    return unquote(pid[len(HOST_PREFIX):]) if pid.startswith(HOST_PREFIX) else pid


def _names(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if isinstance(v, dict):
        aliases = v.get("aliases")
        out = [v.get("name"), v.get("@id"), *(aliases if isinstance(aliases, list) else [])]
        return tuple(x for x in out if isinstance(x, str) and x)
    return ()


def _read_statement(st: Any, author: str, path: str,
                    problems: list[Problem]) -> VexStatement | None:
    if not isinstance(st, dict):
        problems.append(Problem(path, line_of(st), "a statement must be an object"))
        return None
    status = st.get("status")
    if status not in STATUSES:
        problems.append(Problem(path, key_line(st, "status"),
                                f"status must be one of {', '.join(STATUSES)}"))
        return None
    just = st.get("justification") or ""
    if just and just not in JUSTIFICATIONS:
        problems.append(Problem(path, key_line(st, "justification"),
                                f"unknown justification {just!r}"))
        return None
    products = st.get("products") or []
    hosts = tuple(h for h in (_product_host(p) for p in products
                              if isinstance(products, list)) if h)
    names = _names(st.get("vulnerability"))
    if not hosts or not names:
        problems.append(Problem(path, line_of(st), "a statement needs products and a "
                                "vulnerability"))
        return None
    note = str(st.get("impact_statement") or st.get("status_notes") or "")[:500]
    return VexStatement(hosts, names, str(status), str(just), note, author)


def load_vex(path: str | Path) -> list[VexStatement]:
    """The statements of an OpenVEX document; :class:`~wormsign.errors.ValidationError` with
    every problem and its line."""
    p = str(path)
    try:
        text = read_bounded(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise_problems([read_problem(p, exc, "OpenVEX document")], "OpenVEX document")
        raise
    doc, problems = parse_json(text, p)
    raise_problems(problems, "OpenVEX document")
    if not isinstance(doc, dict) or not isinstance(doc.get("statements"), list):
        raise_problems([Problem(p, 1, "not an OpenVEX document: no statements list")],
                       "OpenVEX document")
    author = str(doc.get("author") or "unknown author")[:200]
    out = [_read_statement(s, author, p, problems) for s in doc["statements"]]
    raise_problems(problems, "OpenVEX document")
    return [s for s in out if s is not None]


def _settle(host: str, v: Verdict, statements: Sequence[VexStatement]) -> Verdict:
    if v.status not in SETTLEABLE:
        return v
    for s in statements:
        if s.status in ("not_affected", "fixed") and s.covers(host, (v.id, *v.aliases)):
            status = ("patched" if s.status == "fixed"
                      else "mitigated" if s.justification == "inline_mitigations_already_exist"
                      else "not-affected")
            if status == v.status:
                return v
            why = f"VEX by {s.author}: {s.status}" + (
                f" ({s.justification})" if s.justification else "") + (
                f": {s.note}" if s.note else "")
            return replace(v, status=status, evidence=(*v.evidence, why))
    return v


def apply_vex(verdicts: Mapping[str, tuple[Verdict, ...]],
              statements: Sequence[VexStatement]) -> dict[str, tuple[Verdict, ...]]:
    """The verdicts with the statements applied (a new mapping)."""
    if not statements:
        return dict(verdicts)
    return {h: tuple(_settle(h, v, statements) for v in vs) for h, vs in verdicts.items()}
