"""`secretum backup drill-check MANIFEST`: run inside a restored instance (I3) by the restore and
the restore drill; prints one JSON line of findings and exits non-zero when one fails.

Checks, in this order: the rows of every table are as many as the signed manifest says (read
first, before anything of this process could write); the audit log verifies (hashes, codes,
signed checkpoints, witness); a sample of patient records decrypts (each patient's data key
unwraps under the key file, the family name opens, the record seal matches). The key file's
binding to the database was checked by ``secretum`` before this command ran (O2). Django's
system checks are not run (as for ``secretum restore`` itself): they check the code's
configuration, not the restored data, and took most of this process's time (the URL
configuration imported whole: views, PDF fonts); Secretum's own checks are deploy checks, run
only by ``check --deploy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

SAMPLE = 20


def _counts() -> dict[str, int]:
    with connection.cursor() as cur:
        names = sorted(connection.introspection.table_names(cur))
        found = {}
        for name in names:
            cur.execute(f'SELECT COUNT(*) FROM "{name}"')  # noqa: S608  (the schema's names)
            found[name] = int(cur.fetchone()[0])
    return found


def _sample() -> tuple[int, list[str]]:
    """A sample of patients read, decrypted and checked against their record seal. A backup made
    by an earlier release holds the tables as they were then: only the columns there are read
    (a column a later release added, as the archive's, is not there yet)."""
    import hmac

    from secretum.crypto.keyring import DecryptionError
    from secretum.patients import integrity
    from secretum.patients.models import Patient
    from secretum.patients.services import patient_key

    with connection.cursor() as cur:
        table = Patient._meta.db_table
        present = {c.name for c in connection.introspection.get_table_description(cur, table)}
    names = [f.attname for f in Patient._meta.concrete_fields if f.column in present]
    archived = None if "archived_at" in present else False  # None: as the row says
    bad = []
    patients = list(Patient.objects.only(*names).order_by("?")[:SAMPLE])
    for patient in patients:
        try:
            key = patient_key(patient)
            patient.unseal(key, "family_name")
        except DecryptionError:
            bad.append(f"patient {patient.uid} does not decrypt")
            continue
        sealed = patient.record_seal
        if sealed is None or not hmac.compare_digest(
            bytes(sealed), integrity.seal_of(patient, archived)
        ):
            bad.append(f"patient {patient.uid} does not match its record seal")
    return len(patients), bad


class Command(BaseCommand):
    help = "Check a restored instance against its backup's manifest (I3)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("manifest", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        from secretum.audit.verify import verify_log

        try:
            manifest = json.loads(options["manifest"].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(
                f"The manifest {options['manifest']} cannot be read ({exc})."
            ) from None
        expected = {k: int(v) for k, v in manifest.get("tables", {}).items()}
        found = _counts()
        problems = [
            f"table {name}: {found.get(name, 'missing')} rows, the manifest says "
            f"{expected.get(name, 'none')}"
            for name in sorted(expected.keys() | found.keys())
            if expected.get(name) != found.get(name)
        ]
        log = verify_log()
        if not log.ok:
            problems.append(f"the audit log does not verify: {log.problem}")
        sampled, bad = _sample()
        problems += bad
        findings = {
            "ok": not problems,
            "tables": len(found),
            "rows": sum(found.values()),
            "audit_events": log.checked,
            "sampled": sampled,
            "problem": "; ".join(problems[:5]),
        }
        self.stdout.write(json.dumps(findings))
        if problems:
            raise CommandError("; ".join(problems[:5]))
