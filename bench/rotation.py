"""KEK rotation (E10, O2; issue 13): how fast `secretum keys rotate` re-wraps patients' data keys.

A measurement, never a test: it prints figures and PASS/MISS against the issue's target ("a full
key rotation of 100,000 patients in under one minute") and exits 0 either way.

It makes a throwaway instance, fills it with --patients fictitious patients (N3: invented names
"Zorbatova<n>", no real person) stored exactly as ``patients.services.register_patient`` stores
them (a data key wrapped under the KEK, identity sealed under it, the record seal stamped), then
times ``crypto.rotation.run`` (the command's work: new key file, every wrapped data key and
sealed secret re-wrapped in batches, record seals renewed, the scan, the old version retired),
without the grace period (nothing else writes). With fewer patients than 100,000 the figure for
100,000 is extrapolated linearly and said to be.

    .venv/bin/python bench/rotation.py [--patients 10000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 100_000
TARGET_SECONDS = 60.0


def setup(database_url: str | None) -> None:
    sys.path.insert(0, str(REPO))
    from secretum import init

    home = Path(tempfile.mkdtemp(prefix="secretum-rotation-bench-")) / "var"
    init.create(home)
    os.environ["SECRETUM_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
    if database_url:
        os.environ["SECRETUM_DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    if database_url:
        from django.db import connection

        with connection.cursor() as cur:  # a clean slate: a bench database of its own
            cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0, interactive=False)


def fill(count: int) -> None:
    from django.db import transaction

    from secretum.crypto import keyring
    from secretum.patients import integrity, services
    from secretum.patients.models import Patient

    for start in range(0, count, 1000):
        rows = []
        for n in range(start, min(count, start + 1000)):
            patient = Patient()
            key, patient.wrapped_key = keyring.new_data_key(services.key_aad(patient))
            patient.seal(key, family_name=f"Zorbatova{n}", given_name="Quilline")
            integrity.stamp(patient, integrity.NO_ENTRIES)
            rows.append(patient)
        with transaction.atomic():
            Patient.objects.bulk_create(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("SECRETUM_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    setup(args.database_url)
    from django.db import connection

    from secretum.crypto import rotation
    from secretum.patients import integrity
    from secretum.patients.models import Patient

    began = time.perf_counter()
    fill(args.patients)
    print(f"fill: {args.patients} patients in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    summary = rotation.run(batch=rotation.BATCH, grace=0.0)
    took = time.perf_counter() - began
    counted = summary.counts["patients.Patient.wrapped_key"]
    assert counted.rewrapped == args.patients and summary.retired == [1], summary
    sample = Patient.objects.order_by("?")[:20]
    assert all(integrity.intact(p) for p in sample)
    rate = args.patients / took
    projected = TARGET / rate
    said = "measured" if args.patients >= TARGET else "extrapolated linearly"
    print(
        f"rotation ({connection.vendor}): {args.patients} data keys re-wrapped, record seals "
        f"renewed, version 1 retired in {took:.1f} s ({rate:,.0f} patients/s)"
    )
    verdict = "PASS" if projected < TARGET_SECONDS else "MISS"
    print(
        f"{TARGET:,} patients: {projected:.1f} s ({said}); target < {TARGET_SECONDS:.0f} s: "
        f"{verdict}"
    )


if __name__ == "__main__":
    main()
