"""The one alert schema, shared by every input and every consumer (incidents, web, exports).

Alerts serialise to flat JSON objects with Elastic Common Schema names (ECS
:data:`ECS_VERSION`: ``@timestamp``, ``source.ip``, ``url.original``, ``rule.id``,
``event.kind/category/type``, ``threat.technique.*`` and ``threat.tactic.*`` (MITRE ATT&CK),
``vulnerability.id`` (the rule's CVEs), ``rule.reference``, ``observer.*`` (what wrote the
log)); :meth:`Alert.from_ecs` reads them back, older output without the newer keys included,
so ``scan --alerts`` output can be ingested elsewhere. Two keys are not ECS: ``log.file.line``
and the ``wormsign.*`` namespace (ECS leaves custom namespaces to the producer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wormsign.rules.attack import TECHNIQUES, Technique, techniques_of
from wormsign.rules.refs import cves, rule_reference

if TYPE_CHECKING:
    from wormsign.rules.model import Rule

SEVERITY_LEVELS = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
#: The ECS version whose field reference the alerts follow (tests/detect/test_ecs.py).
ECS_VERSION = "8.17.0"

#: Log format -> ECS ``observer`` (type, vendor, product): what saw the request.
OBSERVERS: dict[str, tuple[str, str | None, str | None]] = {
    "iis-w3c": ("web-server", "Microsoft", "IIS"),
    "apache-error": ("web-server", "Apache", "HTTP Server"),
    "nginx-error": ("web-server", None, "nginx"),
    "combined": ("web-server", None, None),
    "common": ("web-server", None, None),
    "vhost_combined": ("web-server", None, None),
    "zeek-http": ("ids", None, "Zeek"),
    "zeek-http-json": ("ids", None, "Zeek"),
    "suricata-eve": ("ids", "OISF", "Suricata"),
    "pcap": ("sensor", None, None),
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One matched request: which rule fired, on what, where in which file.

    ``family`` is the family attributed to the *source* (e.g. ``nimda`` only when the source
    sent the burst); ``rule_family`` is what the rule alone says about the line.
    """

    timestamp: datetime | None
    source_ip: str
    rule_id: str
    rule_name: str
    family: str
    rule_family: str
    severity: str
    url: str
    method: str | None
    status: int | None
    user_agent: str | None
    host: str | None
    file_path: str
    line: int
    format: str
    #: ATT&CK technique ids of the rule (empty: its family's, :func:`techniques_of`).
    techniques: tuple[str, ...] = field(default=(), compare=False)
    #: CVE ids of the rule's references.
    cves: tuple[str, ...] = field(default=(), compare=False)
    #: A URL about the rule (its first reference with a public page).
    rule_reference: str | None = field(default=None, compare=False)

    def to_ecs(self) -> dict[str, Any]:
        """The flat ECS-named JSON object written by ``scan --alerts``."""
        ts = self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z") if (
            self.timestamp is not None
        ) else None
        return {
            "@timestamp": ts,
            "ecs.version": ECS_VERSION,
            "event.kind": "alert",
            "event.category": ["intrusion_detection", "web"],
            "event.type": ["info"],
            "event.module": "wormsign",
            "event.dataset": self.format,
            "event.severity": SEVERITY_LEVELS.get(self.severity, 0),
            "source.ip": self.source_ip,
            "destination.domain": self.host,
            "url.original": self.url,
            "http.request.method": self.method,
            "http.response.status_code": self.status,
            "user_agent.original": self.user_agent,
            "rule.id": self.rule_id,
            "rule.name": self.rule_name,
            "rule.category": self.rule_family,
            **({"rule.reference": self.rule_reference} if self.rule_reference else {}),
            "threat.software.name": self.family,
            **_threat(self.techniques or tuple(t.id for t in techniques_of(self.rule_family))),
            **({"vulnerability.id": list(self.cves), "vulnerability.enumeration": "CVE"}
               if self.cves else {}),
            **_observer(self.format),
            "wormsign.family": self.family,
            "wormsign.severity": self.severity,
            "log.file.path": self.file_path,
            "log.file.line": self.line,
        }

    @classmethod
    def from_ecs(cls, d: dict[str, Any]) -> Alert:
        """Read back an object written by :meth:`to_ecs` (missing optional keys are None)."""
        ts_raw = d.get("@timestamp")
        ts = datetime.fromisoformat(ts_raw.replace("Z", "+00:00")) if ts_raw else None
        status = d.get("http.response.status_code")
        ip = str(d["source.ip"])
        if ip[:7].lower() == "::ffff:" and "." in ip:  # IPv4-mapped IPv6: the IPv4 address
            ip = ip[7:]
        return cls(
            timestamp=ts,
            source_ip=ip,
            rule_id=str(d["rule.id"]),
            rule_name=str(d.get("rule.name", d["rule.id"])),
            family=str(d.get("wormsign.family") or d.get("threat.software.name") or "unknown"),
            rule_family=str(d.get("rule.category") or d.get("wormsign.family") or "unknown"),
            severity=str(d.get("wormsign.severity", "medium")),
            url=str(d.get("url.original", "")),
            method=d.get("http.request.method"),
            status=int(status) if status is not None else None,
            user_agent=d.get("user_agent.original"),
            host=d.get("destination.domain"),
            file_path=str(d.get("log.file.path", "")),
            line=int(d.get("log.file.line", 0)),
            format=str(d.get("event.dataset", "")),
            techniques=_techniques_from(d),
            cves=tuple(str(c) for c in _listed(d.get("vulnerability.id"))),
            rule_reference=d.get("rule.reference") or None,
        )

    @staticmethod
    def rule_context(rule: Rule) -> dict[str, Any]:
        """The keyword arguments that carry ``rule``'s ATT&CK techniques, CVEs and reference
        into an alert (``Alert(..., **Alert.rule_context(rule))``)."""
        return {"techniques": tuple(t.id for t in techniques_of(rule.family, rule.attack)),
                "cves": tuple(cves(rule.references)),
                "rule_reference": rule_reference(rule.references)}


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _threat(ids: tuple[str, ...]) -> dict[str, Any]:
    """ECS ``threat.*`` of ATT&CK techniques: a sub-technique's parent in ``technique``, the
    sub-technique itself in ``technique.subtechnique`` (ids and names; the ``reference`` URLs
    follow from the ids and are left out: they would add a tenth to every alert line)."""
    techs: list[Technique] = [TECHNIQUES[i] for i in ids if i in TECHNIQUES]
    if not techs:
        return {}
    parents = list(dict.fromkeys(t.parent_id for t in techs))
    pname = {t.parent_id: t.parent_name if t.is_sub else t.name for t in techs}
    subs = [t for t in techs if t.is_sub]
    tactics = list(dict.fromkeys(t.tactic for t in techs))
    out: dict[str, Any] = {
        "threat.framework": "MITRE ATT&CK",
        "threat.technique.id": parents,
        "threat.technique.name": [pname[p] for p in parents],
        "threat.tactic.id": [t.id for t in tactics],
        "threat.tactic.name": [t.name for t in tactics],
    }
    if subs:
        out["threat.technique.subtechnique.id"] = [t.id for t in subs]
        out["threat.technique.subtechnique.name"] = [t.name for t in subs]
    return out


def _techniques_from(d: dict[str, Any]) -> tuple[str, ...]:
    """The technique ids of an ECS object (sub-techniques in place of their parents)."""
    subs = [str(s) for s in _listed(d.get("threat.technique.subtechnique.id"))]
    out: list[str] = []
    for p in _listed(d.get("threat.technique.id")):
        mine = [s for s in subs if s.partition(".")[0] == str(p)]
        out += mine or [str(p)]
    return tuple(out)


def _observer(fmt: str) -> dict[str, Any]:
    kind, vendor, product = OBSERVERS.get(fmt, ("sensor", None, None))
    out: dict[str, Any] = {"observer.type": kind}
    if vendor:
        out["observer.vendor"] = vendor
    if product:
        out["observer.product"] = product
    return out
