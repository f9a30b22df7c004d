from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.clinical.records import verify_records


class Command(BaseCommand):
    help = (
        "Verify every patient record against its seals (E10, G3): identity, the set of entries "
        "and documents, every entry and document row, and the audit log's last write; name "
        "each record that does not match."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(done: int, total: int) -> None:
            self.stderr.write(f"  {done}/{total} records checked")

        checked, findings = verify_records(progress)
        for finding in findings:
            self.stdout.write(
                f"ALTERED: patient {finding.patient_uid}: {', '.join(finding.problems)}"
            )
        if findings:
            raise CommandError(
                f"{len(findings)} of {checked} records were altered outside Secretum; examine "
                "each (or restore it from a backup), then run `secretum records acknowledge "
                "UID --reason …`."
            )
        self.stdout.write(f"records intact: {checked} records verified.")
