"""What an import reports, and how it opens encrypted input (``importing.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from secretum.crypto import age


class Format(StrEnum):
    FHIR_BUNDLE = "fhir-bundle"  # one patient's export (secretum export --patient), maybe .age
    FHIR_BULK = "fhir-bulk"  # a folder with a Bulk Data manifest.json
    KMEHR = "kmehr"  # a KMEHR XML message
    SECRETUM = "secretum"  # Secretum's own export
    UNKNOWN = "unknown"


class ImportRefused(ValueError):
    """The input cannot be imported at all (nothing was written): the reason, for the console."""


@dataclass
class Report:
    """What an import did: created patients, entries by kind, skipped with their reasons."""

    format: Format
    patients: int = 0
    entries: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)  # already known: left as they are
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    unsupported: dict[str, int] = field(default_factory=dict)  # resource types not read
    notes: list[str] = field(default_factory=list)  # what a format's importer adds, said last

    def skip(self, where: str, why: str) -> None:
        self.skipped.append((where, why))

    def lines(self) -> list[str]:
        out = [f"Imported ({self.format}): {self.patients} patients."]
        out += [f"  {kind}: {n}" for kind, n in sorted(self.entries.items())]
        for where in self.conflicts:
            out.append(f"Conflict: {where}: a patient with this national number exists; "
                       "left as it is.")  # fmt: skip
        for where, why in self.skipped:
            out.append(f"Skipped: {where}: {why}")
        for rtype, n in sorted(self.unsupported.items()):
            out.append(f"Not imported: {n} {rtype} (not a kind of entry Secretum records)")
        return out + self.notes


@dataclass
class Secrets:
    """How to open encrypted input: a passphrase, asked once (on the terminal) when a file
    needs it, or an age X25519 identity."""

    passphrase: Callable[[], str] | None = None
    identity: age.ScryptIdentity | age.X25519Identity | None = None

    def opener(self) -> age.ScryptIdentity | age.X25519Identity:
        if self.identity is None:
            if self.passphrase is None:
                raise ImportRefused("The input is encrypted: give its passphrase or --identity.")
            self.identity = age.ScryptIdentity(self.passphrase())
        return self.identity
