"""The one alert schema, shared by every input and every consumer (incidents, web, exports).

Alerts serialise to flat ECS-style JSON objects (``@timestamp``, ``source.ip``,
``url.original``, ``rule.id``, ...); :meth:`Alert.from_ecs` reads them back, so
``scan --alerts`` output can be ingested elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SEVERITY_LEVELS = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


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

    def to_ecs(self) -> dict[str, Any]:
        """The flat ECS-named JSON object written by ``scan --alerts``."""
        ts = self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z") if (
            self.timestamp is not None
        ) else None
        return {
            "@timestamp": ts,
            "event.kind": "alert",
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
            "threat.software.name": self.family,
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
        )
