"""A rule's ``references`` (kind -> ids: ``cve``, ``bulletin``, ``cert``, ``snort``, ``et``,
``crs``, ``url``) as the links and ids that Sigma rules and ECS alerts carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["cves", "reference_urls", "rule_reference"]

_CVE = re.compile(r"(?i)CVE-\d{4}-\d{4,}")


def _ms_bulletin_url(b: str) -> str | None:
    m = re.fullmatch(r"MS(\d\d)-(\d{3})", b.strip().upper())
    if m is None:
        return None
    yy = int(m.group(1))
    year = 1900 + yy if yy >= 90 else 2000 + yy
    return ("https://learn.microsoft.com/en-us/security-updates/securitybulletins/"
            f"{year}/ms{m.group(1)}-{m.group(2)}")


def _reference(kind: str, value: str) -> str:
    v = value.strip()
    if v.lower().startswith(("http://", "https://")):
        return v
    if kind == "cve" and _CVE.fullmatch(v):
        return f"https://www.cve.org/CVERecord?id={v.upper()}"
    if kind == "bulletin":
        return _ms_bulletin_url(v) or f"Microsoft bulletin {v}"
    if kind == "snort" and v.isdigit():
        return f"https://www.snort.org/rule_docs/1-{v}"
    names = {"et": "Emerging Threats SID", "crs": "OWASP CRS rule", "cert": "CERT/CC",
             "snort": "Snort SID"}
    return f"{names.get(kind, kind)} {v}"


def reference_urls(references: Mapping[str, Any]) -> list[str]:
    """A rule's ``references`` (kind -> ids) as Sigma references: URLs where the id has a
    public page (CVE record, Microsoft bulletin, Snort rule doc), else "kind id" text."""
    out: list[str] = []
    for kind, values in references.items():
        for v in values if isinstance(values, list) else [values]:
            out.append(_reference(str(kind), str(v)))
    return list(dict.fromkeys(out))


def cves(references: Mapping[str, Any]) -> list[str]:
    """The CVE ids among a rule's references, upper case."""
    vals = references.get("cve", [])
    vals = vals if isinstance(vals, list) else [vals]
    return [str(v).strip().upper() for v in vals if _CVE.fullmatch(str(v).strip())]


def rule_reference(references: Mapping[str, Any]) -> str | None:
    """The one URL that says most about a rule (ECS ``rule.reference``): its first link."""
    return next((u for u in reference_urls(references) if u.startswith("https://")), None)
