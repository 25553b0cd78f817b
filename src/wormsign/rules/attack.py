"""MITRE ATT&CK techniques of the rules: which technique (and tactic) a rule's match shows.

A rule may name its techniques (``attack: [T1190]``); otherwise its family decides
(:data:`FAMILY_TECHNIQUES`), and a family not listed there is an exploitation attempt against
the web server: T1190 *Exploit Public-Facing Application* (tactic *Initial Access*), the
technique of every request-borne worm from Code Red to Mirai's HTTP exploits. Scanners and
probes are *Active Scanning: Vulnerability Scanning* (reconnaissance), the use of Code Red II's
``root.exe`` a web shell (persistence).

Sigma tags (``attack.t1190``, ``attack.initial-access``) and ECS ``threat.*`` fields are both
written from :func:`techniques_of`. Names and ids are ATT&CK Enterprise v16 facts
(https://attack.mitre.org/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TACTICS", "TECHNIQUES", "Tactic", "Technique", "parse_technique_ids",
           "techniques_of"]


@dataclass(frozen=True)
class Tactic:
    """An ATT&CK tactic: ``TA0001`` / ``Initial Access`` / Sigma tag ``initial-access``."""

    id: str
    name: str

    @property
    def tag(self) -> str:
        return self.name.lower().replace(" ", "-")

    @property
    def reference(self) -> str:
        return f"https://attack.mitre.org/tactics/{self.id}/"


@dataclass(frozen=True)
class Technique:
    """An ATT&CK technique or sub-technique (``T1505.003``) with its parent's name and the
    tactic it serves here (ATT&CK lists some techniques under several tactics)."""

    id: str
    name: str
    tactic: Tactic
    parent_name: str = ""

    @property
    def parent_id(self) -> str:
        return self.id.partition(".")[0]

    @property
    def is_sub(self) -> bool:
        return "." in self.id

    @property
    def tag(self) -> str:
        return self.id.lower()

    def reference(self, parent: bool = False) -> str:
        tid = self.parent_id if parent else self.id
        return f"https://attack.mitre.org/techniques/{tid.replace('.', '/')}/"


TACTICS: dict[str, Tactic] = {t.id: t for t in (
    Tactic("TA0043", "Reconnaissance"),
    Tactic("TA0001", "Initial Access"),
    Tactic("TA0002", "Execution"),
    Tactic("TA0003", "Persistence"),
    Tactic("TA0006", "Credential Access"),
    Tactic("TA0007", "Discovery"),
    Tactic("TA0008", "Lateral Movement"),
    Tactic("TA0011", "Command and Control"),
    Tactic("TA0040", "Impact"),
)}


def _t(tid: str, name: str, tactic: str, parent: str = "") -> Technique:
    return Technique(tid, name, TACTICS[tactic], parent)


TECHNIQUES: dict[str, Technique] = {t.id: t for t in (
    _t("T1190", "Exploit Public-Facing Application", "TA0001"),
    _t("T1595", "Active Scanning", "TA0043"),
    _t("T1595.001", "Scanning IP Blocks", "TA0043", "Active Scanning"),
    _t("T1595.002", "Vulnerability Scanning", "TA0043", "Active Scanning"),
    _t("T1505.003", "Web Shell", "TA0003", "Server Software Component"),
    _t("T1059.003", "Windows Command Shell", "TA0002", "Command and Scripting Interpreter"),
    _t("T1059.004", "Unix Shell", "TA0002", "Command and Scripting Interpreter"),
    _t("T1210", "Exploitation of Remote Services", "TA0008"),
    _t("T1046", "Network Service Discovery", "TA0007"),
    _t("T1083", "File and Directory Discovery", "TA0007"),
    _t("T1105", "Ingress Tool Transfer", "TA0011"),
    _t("T1110.001", "Password Guessing", "TA0006", "Brute Force"),
    _t("T1499", "Endpoint Denial of Service", "TA0040"),
)}

#: Families whose requests show something other than (or more than) T1190.
FAMILY_TECHNIQUES: dict[str, tuple[str, ...]] = {
    "scanner": ("T1595.002",),
    "isapi-probe": ("T1595.002",),
    "crii-backdoor": ("T1505.003",),
    "cmd-exe": ("T1190", "T1059.003"),
}
DEFAULT_TECHNIQUES = ("T1190",)

_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")


def parse_technique_ids(values: object) -> tuple[tuple[str, ...], str | None]:
    """A rule's ``attack:`` value as technique ids, or an error message: a list of known ids
    (:data:`TECHNIQUES`), upper case as ATT&CK writes them."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return (), "attack must be a list of ATT&CK technique ids such as T1190"
    out: list[str] = []
    for v in values:
        tid = v.strip().upper()
        if not _ID.match(tid) or tid not in TECHNIQUES:
            return (), (f"unknown ATT&CK technique {v!r} (known: "
                        f"{', '.join(sorted(TECHNIQUES))})")
        out.append(tid)
    return tuple(dict.fromkeys(out)), None


def techniques_of(family: str, attack: tuple[str, ...] = ()) -> tuple[Technique, ...]:
    """The techniques a rule of ``family`` shows: its own ``attack:`` list when it has one."""
    ids = attack or FAMILY_TECHNIQUES.get(family, DEFAULT_TECHNIQUES)
    return tuple(TECHNIQUES[i] for i in ids if i in TECHNIQUES)
