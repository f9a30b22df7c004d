"""The maintenance log as it is read and written (K1, E3, K2): the intervention a person records,
the entry as the pages show it, and the limits of its text.

Plain values: no database, no key. ``services`` seals and opens the rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The sealed text of an entry, each key with its longest value (N2).
TEXT_LIMITS = {
    "intervener": 150,  # who intervened: a person's name
    "company": 150,  # their company; empty: a member of the practice
    "equipment": 150,  # on which equipment
    "what": 2000,  # what was done
    "consent_by": 150,  # the user of the workstation who consented (E3)
    "correction_reason": 500,  # why an entry is corrected
}


@dataclass(frozen=True)
class Intervention:
    """What a person records of an intervention, as the services take it (the form's fields)."""

    intervened_at: dt.datetime
    intervener: str
    equipment: str
    what: str
    company: str = ""  # empty: someone of the practice; else an outside company (K2)
    supervisor_id: int | None = None  # a user of the practice who supervised it (K2)
    on_workstation: bool = True  # on a user's workstation (E3), not the server or the network
    consent: bool | None = None  # did that user consent beforehand? None: not answered
    consent_by: str = ""  # who consented


@dataclass(frozen=True)
class EntryView:
    uid: str
    number: int
    intervened_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: str
    origin: str
    origin_label: str
    intervener: str
    company: str
    supervisor: str  # "" when nobody supervised
    supervisor_id: int | None
    equipment: str
    what: str
    on_workstation: bool
    consent: bool
    consent_by: str
    corrects: int | None = None  # the number of the entry this one corrects
    correction_reason: str = ""
    corrected_by: int | None = None  # the number of the entry that corrects this one

    @property
    def outside(self) -> bool:
        return bool(self.company)


@dataclass(frozen=True)
class EntryGroup:
    """One intervention as the log lists it: the entry as it stands, then the earlier entries it
    corrects, the latest first."""

    current: EntryView
    earlier: tuple[EntryView, ...] = ()
