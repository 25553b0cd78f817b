"""The Traffic Light Protocol (FIRST TLP 2.0) level of an incident's shared exports.

Each incident has one level (``clear``, ``green``, ``amber``, ``amber+strict``, ``red``;
TLP:AMBER until someone chooses): the STIX bundle marks every object with the level's
marking definition, the MISP event carries its ``tlp:`` tag, and the TAXII collection of the
incident serves the marked bundle. The STIX marking definitions are the fixed objects of the
OASIS TLP 2.0 extension (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d in
oasis-open/cti-stix-common-objects): the same ids everywhere, so receivers recognise them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from wormsign.errors import InvalidError
from wormsign.incidents import schema as t
from wormsign.incidents.store import Store, now_s

DEFAULT = "amber"
TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
#: Level -> the id of its STIX 2.1 marking definition (TLP 2.0 extension).
MARKINGS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
LEVELS = tuple(MARKINGS)


def check(level: str) -> str:
    """A level in its canonical spelling (``TLP:AMBER+STRICT`` -> ``amber+strict``)."""
    s = level.strip().lower()
    s = s[4:] if s.startswith("tlp:") else s
    if s == "white":  # TLP 1.0's name for clear
        s = "clear"
    if s not in MARKINGS:
        raise InvalidError(f"TLP level must be one of {', '.join(LEVELS)}, not {level!r}")
    return s


def marking_definition(level: str) -> dict[str, Any]:
    """The STIX 2.1 marking-definition object of a level."""
    level = check(level)
    return {"type": "marking-definition", "spec_version": "2.1", "id": MARKINGS[level],
            "created": "2022-10-01T00:00:00.000Z", "name": f"TLP:{level.upper()}",
            "extensions": {TLP_EXTENSION: {"extension_type": "property-extension",
                                           "tlp_2_0": level}}}


def get_tlp(store: Store, incident_id: int) -> str:
    """The incident's level (TLP:AMBER when none was chosen)."""
    s = t.sharing
    with store.engine.connect() as conn:
        v = conn.execute(sa.select(s.c.tlp).where(s.c.incident_id == incident_id)).scalar()
    return str(v) if v else DEFAULT


def set_tlp(store: Store, incident_id: int, level: str, *, actor: str = "") -> str:
    """Choose the incident's level (recorded in the audit trail); returns it."""
    level = check(level)
    store.get_incident(incident_id)
    s = t.sharing
    with store.begin() as conn:
        stmt = store.insert(s).values(incident_id=incident_id, tlp=level, updated_at=now_s(),
                                      actor=actor)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["incident_id"],
            set_={"tlp": level, "updated_at": now_s(), "actor": actor}))
        store.log_action(conn, incident_id, "sharing",
                         f"TLP:{level.upper()}" + (f" by {actor}" if actor else ""))
    return level
