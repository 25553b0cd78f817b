"""``assess``: inventory → configuration audit → verdicts → patch plan, as one library call.

    from wormsign.fleet import assess
    report = assess("examples/fleet/inventory.csv", max_per_wave=2)
    report.to_json()          # the --json contract
    report.exploitable        # True when any verdict is exploitable (exit status 1)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypedDict, Unpack

from wormsign.fleet.audit import ConfigAudit, audit_file
from wormsign.fleet.inventory import Host, Inventory, load_inventory
from wormsign.fleet.kb import KnowledgeBase, load_kb
from wormsign.fleet.plan import Ranked, Wave, Window, make_plan, rank
from wormsign.fleet.urgency import Outbreak, UrgencyModel, forecast_advisories
from wormsign.fleet.verdict import Judge, ProbeEvidence, Verdict

if TYPE_CHECKING:
    from wormsign.detect.suppress import AcceptedRisk
    from wormsign.fleet.vex import VexStatement


@dataclass
class AssessReport:
    """Everything one assessment found."""

    inventory: Inventory
    kb: KnowledgeBase
    verdicts: dict[str, tuple[Verdict, ...]]
    audits: dict[str, ConfigAudit]
    ranked: list[Ranked]
    plan: list[Wave]
    urgency: UrgencyModel
    host_audit: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> list[Host]:
        return self.inventory.hosts

    @property
    def exploitable(self) -> bool:
        return any(v.status == "exploitable" for vs in self.verdicts.values() for v in vs)

    def counts(self) -> dict[str, int]:
        """Number of verdicts per status."""
        out: dict[str, int] = {}
        for vs in self.verdicts.values():
            for v in vs:
                out[v.status] = out.get(v.status, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The stable ``--json`` contract of ``wormsign assess``."""
        memo: dict[int, list[dict[str, object]]] = {}   # identical builds share verdicts

        def findings(vs: tuple[Verdict, ...]) -> list[dict[str, object]]:
            out = memo.get(id(vs))
            if out is None:
                out = memo[id(vs)] = [v.to_dict() for v in vs]
            return out

        out: dict[str, Any] = {
            "hosts": [{"host": h.host, "exposure": h.exposure,
                       "findings": findings(self.verdicts[h.host])}
                      for h in self.inventory.hosts],
            "plan": [w.to_dict() for w in self.plan],
            "skipped_rows": [{"line": s.line, "error": s.error}
                             for s in self.inventory.skipped],
        }
        if self.urgency.forecast is not None:
            out["urgency"] = self.urgency.to_dict()
        return out

    def write_json(self, out: IO[str]) -> None:
        """Write :meth:`to_json` with one host, wave or skipped row per line (fast for big
        fleets, easy to grep; still one JSON document)."""
        doc = self.to_json()
        out.write("{")
        for i, key in enumerate(("hosts", "plan", "skipped_rows")):
            items = doc[key]
            out.write(("" if i == 0 else ",") + f"\n{json.dumps(key)}: [")
            for j, item in enumerate(items):
                out.write(("\n  " if j == 0 else ",\n  ") + json.dumps(item, ensure_ascii=True))
            out.write("\n]" if items else "]")
        if "urgency" in doc:
            out.write(',\n"urgency": ' + json.dumps(doc["urgency"], ensure_ascii=True))
        out.write("\n}\n")


@dataclass(frozen=True)
class AssessOptions:
    """How :func:`assess` reads and decides (see there): the knowledge base (``kb``, else
    loaded from ``kb_dirs``), the inventory's ``fmt`` and ``default_exposure``,
    ``assume_defaults``, the outbreak model (``outbreak_state``, ``outbreak_source``,
    ``seed``, a ``forecast`` document named ``forecast_name``), the plan (``max_per_wave``,
    ``windows``), the evidence (``probes``, ``vex``, ``accepted`` risks at ``now``) and the
    ``config_root``."""

    kb: KnowledgeBase | None = None
    kb_dirs: Sequence[str] = ()
    fmt: str | None = None
    default_exposure: str | None = None
    assume_defaults: bool = False
    outbreak_state: str | None = None
    outbreak_source: str = "auto"
    seed: int = 1
    max_per_wave: int | None = None
    windows: Sequence[Window] = ()
    probes: Mapping[str, ProbeEvidence] | None = None
    config_root: str | Path | None = None
    forecast: Mapping[str, Any] | None = None
    forecast_name: str = "forecast"
    accepted: Sequence[AcceptedRisk] = ()
    now: int | None = None
    vex: Sequence[VexStatement] = ()


class AssessKw(TypedDict, total=False):
    """:class:`AssessOptions` as keyword arguments of :func:`assess`."""

    kb: KnowledgeBase | None
    kb_dirs: Sequence[str]
    fmt: str | None
    default_exposure: str | None
    assume_defaults: bool
    outbreak_state: str | None
    outbreak_source: str
    seed: int
    max_per_wave: int | None
    windows: Sequence[Window]
    probes: Mapping[str, ProbeEvidence] | None
    config_root: str | Path | None
    forecast: Mapping[str, Any] | None
    forecast_name: str
    accepted: Sequence[AcceptedRisk]
    now: int | None
    vex: Sequence[VexStatement]


def assess(inventory: str | Inventory, options: AssessOptions | None = None,
           **overrides: Unpack[AssessKw]) -> AssessReport:
    """Assess a fleet: read the inventory, audit each configuration export once, decide a
    verdict per host and advisory, and plan the patching. ``options`` (or the keyword
    ``overrides`` of its fields: ``assess(inv, kb=kb, seed=2)``) say how.

    ``probes`` maps host names (or addresses) to what ``wormsign probe`` saw. Configuration
    files named by the inventory are read only inside ``config_root`` (by default the
    inventory's folder); one outside it is refused and reported like a missing one.

    ``forecast`` is a forecast JSON document (``wormsign forecast --json``, named
    ``forecast_name`` in messages): its median probe-rate curve replaces the preset for the
    advisories of its family, at ``outbreak_state`` ``now`` (the evidence end) by default;
    without it the default state is ``peak``.

    ``vex`` statements (:mod:`wormsign.fleet.vex`) settle verdicts first; ``accepted`` risks
    (the ``accept`` list of a ``wormsign-ignore.yml``) active at ``now``
    turn the verdicts they cover into ``accepted`` before the plan is made
    (:mod:`wormsign.fleet.accepted`).
    """
    opts = dataclasses.replace(options or AssessOptions(), **overrides)
    inv = inventory if isinstance(inventory, Inventory) else load_inventory(
        inventory, fmt=opts.fmt, exposure=opts.default_exposure)
    kb = opts.kb or load_kb(opts.kb_dirs)
    judge = Judge(kb, assume_defaults=opts.assume_defaults)
    root = Path(opts.config_root) if opts.config_root is not None else Path(inv.source).parent
    probes = opts.probes
    audits: dict[str, ConfigAudit] = {}
    verdicts: dict[str, tuple[Verdict, ...]] = {}
    host_audit: dict[str, str] = {}
    for h in inv.hosts:
        audit = None
        if h.config is not None:
            audit = audits.get(h.config)
            if audit is None:
                # h.config is relative to the working folder (the inventory reader joined
                # it to the inventory's folder); confine() reads relative names from root
                audit = audits[h.config] = audit_file(str(Path(h.config).absolute()),
                                                      root=root)
            host_audit[h.host] = h.config
        probe = None
        if probes:
            probe = probes.get(h.host) or (probes.get(h.address) if h.address else None)
        verdicts[h.host] = judge.judge(h, audit, probe)
    if opts.vex:
        from wormsign.fleet.vex import apply_vex
        verdicts = apply_vex(verdicts, opts.vex)
    if opts.accepted:
        from wormsign.fleet.accepted import apply_accepted
        verdicts = apply_accepted(verdicts, opts.accepted,
                                  int(time.time()) if opts.now is None else opts.now)
    urgency = _urgency(kb, opts)
    ranked = rank(inv.hosts, verdicts, kb, urgency)
    plan = make_plan(ranked, kb, urgency, opts.max_per_wave, opts.windows)
    return AssessReport(inv, kb, verdicts, audits, ranked, plan, urgency, host_audit)


def _urgency(kb: KnowledgeBase, opts: AssessOptions) -> UrgencyModel:
    state, source, seed, forecast = (opts.outbreak_state, opts.outbreak_source, opts.seed,
                                     opts.forecast)
    if forecast is None:
        return UrgencyModel(state, source, seed)
    outbreak = Outbreak.from_forecast(forecast, name=opts.forecast_name)
    ids = forecast_advisories(forecast.get("family"),
                              {a.id: a.worms for a in kb.advisories.values()})
    return UrgencyModel(state, source, seed, forecast=outbreak, forecast_ids=ids)
