"""Fleet assessment: which of our servers are exposed to Code Red and Nimda, why, and in what
order to patch them.

- ``inventory`` / ``nmap``   host inventories (CSV, JSON, YAML, nmap -sV XML) → ``Host`` records
- ``kb`` + ``kb/*.json``     the knowledge base: OSV advisories, patches and supersedence
- ``audit`` (+ ``audit_iis``, ``audit_unix``)  configuration exports → findings with file:line
- ``verdict``                one verdict per host × advisory, with its evidence
- ``urgency``                how soon the first worm probe arrives (simulator or closed form)
- ``plan``                   risk ranking and patch waves (max per wave, maintenance windows)
- ``assess``                 the whole pipeline as one call
- ``output``                 table, JSON, CSV and SARIF 2.1.0 renderings
- ``probe``                  the non-destructive remote check (banner, /NULL.ida)
- ``accepted``               accepted risks (``wormsign-ignore.yml``) turn verdicts ``accepted``
- ``vex``                    OpenVEX documents written from and read into the verdicts
"""

from wormsign.fleet.assess import AssessOptions, AssessReport, assess
from wormsign.fleet.audit import ConfigAudit, Finding, audit_file, audit_text
from wormsign.fleet.inventory import Host, Inventory, SkippedRow, load_inventory
from wormsign.fleet.kb import Advisory, KnowledgeBase, load_kb, validate_kb
from wormsign.fleet.plan import Wave, Window, parse_window
from wormsign.fleet.urgency import Outbreak, UrgencyModel, closed_form, from_simulator
from wormsign.fleet.verdict import Judge, ProbeEvidence, Verdict

__all__ = [
    "Advisory", "AssessOptions", "AssessReport", "ConfigAudit", "Finding", "Host", "Inventory",
    "Judge", "KnowledgeBase", "Outbreak", "ProbeEvidence", "SkippedRow", "UrgencyModel", "Verdict",
    "Wave", "Window", "assess", "audit_file", "audit_text", "closed_form", "from_simulator",
    "load_inventory", "load_kb", "parse_window", "validate_kb",
]
