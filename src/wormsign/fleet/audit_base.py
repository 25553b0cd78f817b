"""Records every configuration auditor shares: findings, the audit being built, rule names.

Kept below :mod:`wormsign.fleet.audit` (the format dispatch) and the per-format auditors
(:mod:`~wormsign.fleet.audit_iis`, :mod:`~wormsign.fleet.audit_unix`) so that both can import
it without importing each other. The names stay importable from ``wormsign.fleet.audit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WATCHED = {".ida": "mapping-ida", ".idq": "mapping-idq", ".printer": "mapping-printer",
           ".htr": "mapping-htr"}
WHY = {
    ".ida": "Indexing Service ISAPI (idq.dll) reachable: MS01-033 / Code Red",
    ".idq": "Indexing Service ISAPI (idq.dll) reachable: MS01-033 / Code Red",
    ".printer": "Internet Printing ISAPI (msw3prt.dll) reachable: remove unless needed",
    ".htr": "legacy .htr (ism.dll) mapping: remove unless needed",
}
RULES = ("mapping-ida", "mapping-idq", "mapping-printer", "mapping-htr", "executable-vdir",
         "directory-browsing", "verbose-banner", "webdav-enabled", "webdav-disabled",
         "sslv2-enabled", "log4j-core-jar", "log4j-nolookups")
RULE_TEXT = {
    "mapping-ida": "The .ida script map (Indexing Service ISAPI) is present",
    "mapping-idq": "The .idq script map (Indexing Service ISAPI) is present",
    "mapping-printer": "The .printer script map (Internet Printing ISAPI) is present",
    "mapping-htr": "The .htr script map (ism.dll) is present",
    "executable-vdir": "A virtual directory grants execute permission",
    "directory-browsing": "Directory browsing is enabled",
    "verbose-banner": "The server banner discloses product or version details",
    "webdav-enabled": "WebDAV is served (MS03-007 / CVE-2003-0109 on IIS 5.0; write methods "
                      "on any server)",
    "webdav-disabled": "WebDAV is switched off",
    "sslv2-enabled": "SSLv2 is accepted (the protocol whose handshake Slapper overflows in "
                     "OpenSSL before 0.9.6e)",
    "log4j-core-jar": "A log4j-core jar is on a class path (its version decides Log4Shell, "
                      "CVE-2021-44228 / CVE-2021-45046)",
    "log4j-nolookups": "Log4j message lookups are disabled (formatMsgNoLookups): a withdrawn, "
                       "insufficient Log4Shell mitigation",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One configuration finding."""

    rule: str
    path: str
    line: int
    message: str
    severity: str = "warning"

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class ConfigAudit:
    """What one configuration export says: findings plus the facts verdicts join."""

    path: str
    format: str
    findings: list[Finding] = field(default_factory=list)
    mappings: dict[str, int] = field(default_factory=dict)
    denied: dict[str, int] = field(default_factory=dict)
    urlscan: int | None = None
    exec_vdirs: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    webdav_on: int | None = None
    webdav_off: int | None = None
    nolookups: int | None = None
    components: dict[str, tuple[str, int]] = field(default_factory=dict)

    def webdav(self, enabled: bool, line: int, what: str) -> None:
        """Record a WebDAV setting (the last one in the file wins) and its finding."""
        if enabled:
            self.webdav_on, self.webdav_off = line, None
            self.add("webdav-enabled", line, f"{what}: WebDAV is served (MS03-007 on IIS 5.0; "
                     "PUT/DELETE/PROPFIND on any server)")
        else:
            self.webdav_on, self.webdav_off = None, line
            self.add("webdav-disabled", line, f"{what}: WebDAV is switched off", "note")

    def component(self, product: str, version: str, line: int) -> None:
        """A software component the configuration names with its version (first one wins)."""
        self.components.setdefault(product, (version, line))

    def map_ext(self, ext: str, line: int) -> None:
        ext = ext.lower().strip()
        if not ext.startswith("."):
            ext = "." + ext
        self.mappings.setdefault(ext, line)

    def unmap_ext(self, ext: str) -> None:
        self.mappings.pop(ext.lower(), None)

    def add(self, rule: str, line: int, message: str, severity: str = "warning") -> None:
        self.findings.append(Finding(rule, self.path, line, message, severity))

    def exec_vdir(self, vdir: str, line: int) -> None:
        self.exec_vdirs.setdefault(vdir, line)

    def finish(self) -> ConfigAudit:
        """Turn mappings and executable directories into findings (once, in line order)."""
        for ext, line in sorted(self.mappings.items(), key=lambda kv: kv[1]):
            if ext in WATCHED and ext not in self.denied:
                # an error where the hole exists (IIS 4/5 metabase listings), else hygiene
                sev = "error" if ext in (".ida", ".idq") and self.format == "adsutil" \
                    else "warning"
                self.add(WATCHED[ext], line, f"{ext} is mapped: {WHY[ext]}", sev)
        for vdir, line in sorted(self.exec_vdirs.items(), key=lambda kv: kv[1]):
            worm = vdir.rstrip("/").lower().rsplit("/", 1)[-1] in ("scripts", "msadc")
            note = " (used by Nimda and Code Red II's root.exe)" if worm else ""
            self.add("executable-vdir", line, f"{vdir} has execute permission{note}",
                     "error" if worm else "warning")
        self.findings.sort(key=lambda f: (f.line, f.rule))
        return self
