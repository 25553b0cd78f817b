"""Verdicts: one per host and advisory, joining version, patch, configuration and probe evidence.

The component judged is the inventory's ``software`` when the advisory names that product,
else one of the inventory's ``components``, else a ``product/version`` token of the probe's
Server banner (``OpenSSL/0.9.6b``), else a
component the configuration names (``log4j-core-2.14.1.jar``).

Statuses, decided in this order:

``not-affected``  the product or version is not listed in the advisory
``unknown``       the version is missing (evidence lists what is missing)
``patched``       an installed patch fixes it, directly or by supersedence (the chain is given:
                  ``MS02-018 → MS01-044 → MS01-033``); a Windows 2000 service pack named in
                  ``os`` counts as installed
``mitigated``     the configuration export shows the hole unreachable: the required script
                  maps absent or denied by request filtering, URLScan loaded, (for the
                  traversal holes) no virtual directory with execute permission, or (for
                  MS03-007) WebDAV switched off
``exploitable``   affected, not patched, and reachable — the configuration (or a probe) shows
                  the mapping or executable directory, and the patch list is known
``unknown``       otherwise: the evidence names what is missing (patch list, configuration;
                  advisories without configuration conditions need no configuration)

With ``assume_defaults`` a missing configuration counts as an IIS 4/5 default install (the
``.ida``/``.idq`` maps present, ``/scripts`` executable), which is how Code Red found most of
its victims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wormsign.fleet.audit import ConfigAudit
from wormsign.fleet.inventory import Host
from wormsign.fleet.kb import Advisory, KnowledgeBase
from wormsign.fleet.products import banner_components, normalise_product
from wormsign.fleet.versions import version_key

STATUSES = ("exploitable", "unknown", "mitigated", "patched", "not-affected", "accepted")
_SP = re.compile(r"(?:windows\s*2000|win\s*2k|w2k)\D*?(?:sp|service\s*pack)\s*(\d)", re.I)
_XP_SP = re.compile(r"(?:windows\s*xp|win\s*xp)\D*?(?:sp|service\s*pack)\s*(\d)", re.I)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict for one host and one advisory."""

    id: str
    aliases: tuple[str, ...]
    status: str
    evidence: tuple[str, ...]
    fix: str
    by: str = ""

    def to_dict(self) -> dict[str, object]:
        """The ``findings[]`` element of the ``--json`` contract."""
        return {"id": self.id, "aliases": list(self.aliases), "status": self.status,
                "evidence": list(self.evidence), "fix": self.fix}


def os_patches(os_text: str) -> tuple[str, ...]:
    """Patches implied by the operating system text (``Windows 2000 SP2`` → WIN2000-SP2,
    ``Windows XP SP2`` → WINXP-SP2)."""
    m = _SP.search(os_text)
    if m:
        return (f"WIN2000-SP{m.group(1)}",)
    m = _XP_SP.search(os_text)
    return (f"WINXP-SP{m.group(1)}",) if m else ()


@dataclass(frozen=True, slots=True)
class ProbeEvidence:
    """What a ``wormsign probe`` of the host showed."""

    ida_reachable: bool | None
    banner: str = ""
    where: str = ""
    webdav: bool | None = None


def _component(adv: Advisory, host: Host, audit: ConfigAudit | None,
               probe: ProbeEvidence | None) -> tuple[str, str, str | None]:
    """(product, version, where it was seen) of the host's affected component, or the
    inventory's software with source None when no component is an affected product.

    Besides the inventory's ``software``, a component can come from the probe's Server
    banner (``Apache/1.3.26 (Unix) mod_ssl/2.8.9 OpenSSL/0.9.6b``) or from the configuration
    (a ``log4j-core-2.14.1.jar`` on a class path)."""
    products = adv.products()
    if host.product in products:
        return host.software, host.version, "software"
    for name, version in host.components:
        if name in products:
            return name, version, "components"
    if probe is not None and probe.banner:
        for name, version in banner_components(probe.banner).items():
            if name in products:
                return name, version, f"probe banner ({probe.banner[:120]})"
    if audit is not None:
        for name, (version, line) in audit.components.items():
            if name in products:
                return name, version, f"config: {audit.path}:{line}"
    return host.software, host.version, None


class Judge:
    """Decides verdicts; results are cached by the host's evidence, so a fleet of identical
    builds costs one decision per build."""

    def __init__(self, kb: KnowledgeBase, assume_defaults: bool = False) -> None:
        self.kb = kb
        self.assume_defaults = assume_defaults
        self._cache: dict[tuple[object, ...], tuple[Verdict, ...]] = {}
        self._covering: dict[str, list[str]] = {}
        self._alive: dict[int, ConfigAudit] = {}

    def covering(self, adv: Advisory) -> list[str]:
        """Every catalogued patch that fixes ``adv`` directly or by supersedence."""
        if adv.id not in self._covering:
            self._covering[adv.id] = sorted(
                pid for pid in self.kb.patches if self.kb.covering_chain([pid], adv.fixed_by))
        return self._covering[adv.id]

    def judge(self, host: Host, audit: ConfigAudit | None,
              probe: ProbeEvidence | None = None) -> tuple[Verdict, ...]:
        """The verdict for every advisory in the knowledge base (in id order)."""
        if audit is not None:
            self._alive[id(audit)] = audit   # keeps id() unique while cached
        key = (host.product, host.version, host.patches, host.os, host.config,
               host.components, id(audit), probe)
        hit = self._cache.get(key)
        if hit is None:
            hit = tuple(self._one(adv, host, audit, probe)
                        for _, adv in sorted(self.kb.advisories.items()))
            self._cache[key] = hit
        return hit

    # ------------------------------------------------------------------ one advisory
    def _one(self, adv: Advisory, host: Host, audit: ConfigAudit | None,
             probe: ProbeEvidence | None) -> Verdict:
        def v(status: str, evidence: list[str], fix: str = "", by: str = "") -> Verdict:
            return Verdict(adv.id, adv.aliases, status, tuple(evidence), fix, by)

        listed = ", ".join(sorted({f"{a.product} {' '.join(a.versions)}".strip()
                                   for a in adv.affected}))
        name, version, source = _component(adv, host, audit, probe)
        product = f"{name} {version}".strip()
        if source is None:
            return v("not-affected", [f"software: {product} is not an affected product "
                                      f"(affected: {listed})"])
        if not version or not version_key(version):
            what = "version missing" if not version else f"version {version!r} unreadable"
            return v("unknown", [f"{source}: {name}, {what} "
                                 f"(affected: {listed})", "missing: software version"],
                     adv.fix)
        if not adv.affects(normalise_product(name), version):
            return v("not-affected", [f"{source}: {product} is not an affected version "
                                      f"(affected: {listed})"])
        ev = [f"{source}: {product} is affected"]
        installed = list(host.patches or ()) + list(os_patches(host.os))
        chain = self.kb.covering_chain(installed, adv.fixed_by)
        if chain is not None:
            if len(chain) == 1:
                text = f"patched by {chain[0]}"
            else:
                text = f"patched by {chain[0]} (" + ", which ".join(
                    f"supersedes {c}" for c in chain[1:]) + ")"
            named = next((p for p in host.patches or ()
                          if self.kb.canonical_patch(p) == chain[0]), None)
            if named is not None and named != chain[0]:
                text += f" (installed as {named})"
            elif named is None and chain[0] in os_patches(host.os):
                text += f" (from os: {host.os})"
            return v("patched", [*ev, text], "", chain[0])
        covering = self.covering(adv)
        if host.patches is None:
            ev.append("patches: not reported")
        else:
            shown = ", ".join(host.patches) or "none"
            ev.append(f"patches: {shown}; none fixes {adv.id} directly or by supersedence "
                      f"({len(covering) or len(adv.fixed_by)} patches would)")
        reach, reach_ev, mitigation = self._reachable(adv, audit, probe)
        ev.extend(reach_ev)
        if reach is False:
            return v("mitigated", [*ev, f"mitigated by {mitigation}"], adv.fix, mitigation)
        missing = []
        if host.patches is None:
            missing.append("patch list" + (" (the version is in the affected range, but a "
                                           "vendor package that backports the fix keeps the "
                                           "old version: list its advisory, or none)"
                                           if adv.ranged else ""))
        if reach is None:
            missing.append("web-server configuration (script maps, directory permissions)")
        if missing:
            return v("unknown", [*ev, "missing: " + "; ".join(missing)], adv.fix)
        return v("exploitable", ev, adv.fix)

    def _reachable(self, adv: Advisory, audit: ConfigAudit | None,
                   probe: ProbeEvidence | None) -> tuple[bool | None, list[str], str]:
        """(reachable?, evidence, mitigation) from configuration and probe evidence."""
        ev: list[str] = []
        if probe is not None and probe.ida_reachable and ".ida" in adv.requires_mappings:
            ev.append(f"probe: {probe.where or 'GET /NULL.ida'} answered with IIS's IDQ error "
                      "page: the .ida extension is reachable")
            return True, ev, ""
        if probe is not None and probe.webdav and adv.requires_webdav:
            ev.append(f"probe: {probe.where or 'OPTIONS /'} lists WebDAV methods: WebDAV is "
                      "served")
            return True, ev, ""
        if not adv.config_conditions:
            if audit is not None and audit.error is None and audit.nolookups is not None \
                    and "log4j-core" in adv.products():
                ev.append(f"config: {audit.path}:{audit.nolookups}: message lookups disabled "
                          "(formatMsgNoLookups); Apache Logging calls this insufficient, so it "
                          "is not counted as a mitigation")
            ev.append("reachable: no configuration condition is known for this hole; an "
                      "affected, unpatched install is exploitable where the service is reachable")
            return True, ev, ""
        if audit is None or audit.error is not None:
            if audit is not None:
                ev.append(f"config: {audit.path}: {audit.error}")
            if self.assume_defaults:
                ev.append("config: none; assumed an IIS 4/5 default install (.ida/.idq mapped, "
                          "/scripts executable)")
                return True, ev, ""
            return None, ev, ""
        for m in adv.mitigations:
            if m.kind == "urlscan" and audit.urlscan is not None:
                ev.append(f"config: {audit.path}:{audit.urlscan}: URLScan is loaded")
                return False, ev, f"{m.id}: {m.description}"
        parts: list[bool] = []
        if adv.requires_webdav:
            dav = _webdav(adv, audit)
            ev.append(dav[1])
            if dav[0] is False:
                return False, ev, dav[2]
            parts.append(True)
        if adv.requires_mappings:
            present = [e for e in adv.requires_mappings if e in audit.mappings]
            open_ = [e for e in present if e not in audit.denied]
            for e in present:
                if e in audit.denied:
                    ev.append(f"config: {audit.path}:{audit.denied[e]}: {e} requests are "
                              "denied by request filtering")
                else:
                    ev.append(f"config: {audit.path}:{audit.mappings[e]}: {e} is mapped")
            if not open_:
                kind = "extensions-denied" if present else "mappings-absent"
                mit = next((m for m in adv.mitigations if m.kind == kind), None)
                if not present:
                    ev.append(f"config: {audit.path}: no {'/'.join(adv.requires_mappings)} "
                              "script map")
                return False, ev, (f"{mit.id}: {mit.description}" if mit else
                                   f"{'/'.join(adv.requires_mappings)} not mapped")
            parts.append(True)
        if adv.requires_exec_vdirs:
            if not audit.exec_vdirs:
                ev.append(f"config: {audit.path}: no virtual directory has execute permission")
                mit = next((m for m in adv.mitigations if m.kind == "no-executable-vdirs"), None)
                return False, ev, (f"{mit.id}: {mit.description}" if mit else
                                   "no executable virtual directory")
            for vdir, line in sorted(audit.exec_vdirs.items(), key=lambda kv: kv[1]):
                ev.append(f"config: {audit.path}:{line}: {vdir} has execute permission")
            parts.append(True)
        return (all(parts) if parts else True), ev, ""


def _webdav(adv: Advisory, audit: ConfigAudit) -> tuple[bool, str, str]:
    """(WebDAV served?, evidence, mitigation) from a configuration audit."""
    if audit.webdav_off is not None:
        mit = next((m for m in adv.mitigations if m.kind == "webdav-disabled"), None)
        return (False, f"config: {audit.path}:{audit.webdav_off}: WebDAV is disabled",
                f"{mit.id}: {mit.description}" if mit else "WebDAV disabled")
    if audit.webdav_on is not None:
        return True, f"config: {audit.path}:{audit.webdav_on}: WebDAV is enabled", ""
    return True, (f"config: {audit.path}: no WebDAV setting; IIS 5.0 serves WebDAV unless "
                  "DisableWebDAV=1 is set in the registry (W3SVC\\Parameters)"), ""
