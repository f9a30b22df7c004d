"""Crypto-shredding of one patient (J2; issue 13: "in under 100 ms").

A measurement, never a test: it prints figures and PASS/MISS against the target and exits 0
either way.

It makes a throwaway instance and fills it through the real services (N3: fictitious patients
"Zorbatova<n>"): --patients patients, each with a realistic chart of --entries clinical entries
(the p95 of the chart benchmark's law: 62), --documents scanned letters of 200 KB and
--appointments appointments. It times ``retention.services.destroy_record`` for each, as a
manager, with the retention's clock 31 years ahead (the records and their audit events stay as
written: nothing can be backdated in the audit log): the basis checked (last contact over six
tables, confirmed by the audit log and the record's seal), every row naming the patient and its
data key deleted, the certificate signed (Ed25519) and saved, the audit event appended, one
transaction committed.

    .venv/bin/python bench/shredding.py [--patients 20] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rotation import setup  # bench/ is not a package: its folder is on the path

TARGET_MS = 100.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * (200 * 1024)


def fill(count: int, entries: int, documents: int, appointments: int) -> tuple[list[str], object]:
    from django.utils import timezone

    from secretum.access.actor import Actor
    from secretum.access.policy import Role
    from secretum.accounts.models import User
    from secretum.clinical import services as clinical
    from secretum.documents import services as docs
    from secretum.lib import clamav
    from secretum.patients import services as patients
    from secretum.scheduling.models import Appointment

    doctor = User.objects.create(username="dr.bench", role=Role.PRACTITIONER)
    manager = User.objects.create(username="manager.bench", role=Role.MANAGER)
    actor = Actor.for_user(doctor)
    kinds = [
        ("encounter", {"reason": "Toux", "subjective": "Depuis 3 jours " * 20, "plan": "Repos"}),
        ("observation", {"code": "weight", "value": "72"}),
        ("medication", {"drug": "Paracétamol", "dose": "1 g", "frequency": "3x/j",
                        "duration": "5 j"}),
        ("problem", {"system": "icpc-2", "code": "R05", "label": "Toux"}),
    ]  # fmt: skip
    uids = []
    then = timezone.now() - dt.timedelta(days=30)  # appointments of last month
    for n in range(count):
        uid = patients.register_patient(
            actor, {"family_name": f"Zorbatova{n}", "given_name": "Quilline"}
        ).uid
        for i in range(entries):
            kind, data = kinds[i % len(kinds)]
            clinical.record_entry(actor, uid, kind, data)
        patient, key = patients.writable_patient(uid)
        for i in range(documents):
            docs.store(
                patient, key, SimpleNamespace(detail={}), title=f"lettre-{i}.png",
                kind="image/png", data=PNG, verdict=clamav.Verdict(clean=True), author=doctor,
            )  # fmt: skip
        Appointment.objects.bulk_create(
            Appointment(patient=patient, practitioner=doctor, booked_by=doctor, starts_at=then)
            for _ in range(appointments)
        )
        uids.append(str(uid))
    return uids, Actor.for_user(manager)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--entries", type=int, default=62)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--appointments", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("SECRETUM_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    setup(args.database_url)
    from django.db import connection
    from django.utils import timezone

    from secretum.retention import contact, services

    began = time.perf_counter()
    uids, manager = fill(args.patients, args.entries, args.documents, args.appointments)
    print(
        f"fill: {args.patients} patients × ({args.entries} entries, {args.documents} documents "
        f"of 200 KB, {args.appointments} appointments) in {time.perf_counter() - began:.1f} s"
    )
    ahead = dt.timedelta(days=365 * 31 + 9)
    later = SimpleNamespace(
        now=lambda: timezone.now() + ahead,
        localdate=lambda value=None: timezone.localdate(value or timezone.now() + ahead),
        make_aware=timezone.make_aware,
    )
    services.timezone = contact.timezone = later  # type: ignore[assignment]
    took = []
    for uid in uids:
        began = time.perf_counter()
        services.destroy_record(manager, uid)  # type: ignore[arg-type]
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    p95 = took[max(0, int(len(took) * 0.95) - 1)]
    print(
        f"crypto-shredding ({connection.vendor}), one patient: median "
        f"{statistics.median(took):.1f} ms, p95 {p95:.1f} ms, max {took[-1]:.1f} ms "
        f"over {len(took)} patients"
    )
    print(f"target < {TARGET_MS:.0f} ms (p95): {'PASS' if p95 < TARGET_MS else 'MISS'}")


if __name__ == "__main__":
    main()
