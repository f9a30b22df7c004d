"""Encryption overhead (issue 13): Secretum's envelope beside raw AES-256-GCM, in one run.

A measurement, never a test: it prints figures and exits 0.

Raw: pyca/cryptography's ``AESGCM`` with a fresh 96-bit nonce from ``os.urandom``, the floor no
envelope goes under. Secretum's: a field as a model seals and opens it (``SealedModel.seal`` and
``unseal``: the value bound to its model, field and row by its associated data, a version byte,
the nonce beside the ciphertext), a patient's data key unwrapped under the KEK (as each request
that reads a record does once), and a 1 MiB document sealed and opened whole (D4). Each figure is
the best of ``--rounds`` rounds (the least disturbed by other work), and the machine's load
average is printed beside them.

    .venv/bin/python bench/envelope.py [--rounds 5] [--fields 20000] [--documents 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rotation import setup  # bench/ is not a package: its folder is on the path

FIELD = "Zorbatova-Quilline 1971"  # a fictitious identity value (N3)
MIB = 1024 * 1024


def best(rounds: int, count: int, work: Callable[[], object]) -> float:
    """The best per-operation time of ``rounds`` rounds of ``count`` operations, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            work()
        times.append((time.perf_counter() - start) / count)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fields", type=int, default=20000)
    parser.add_argument("--documents", type=int, default=50)
    args = parser.parse_args()
    setup(None)

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from secretum.crypto import keyring
    from secretum.patients.models import Patient

    raw = AESGCM(AESGCM.generate_key(bit_length=256))
    value, aad = FIELD.encode(), b"patients.Patient.family_name:0"
    blob = (nonce := os.urandom(12)) + raw.encrypt(nonce, value, aad)
    document = os.urandom(MIB)
    sealed_document = (dnonce := os.urandom(12)) + raw.encrypt(dnonce, document, aad)

    key, wrapped = keyring.new_data_key("patients.Patient.wrapped_key:bench")
    patient = Patient(uid="9d48964b-c860-4736-96d1-c40370c729c5")
    patient.seal(key, family_name=FIELD)
    opened_document = key.seal_bytes(document, "documents.Document.content:bench")

    def raw_seal() -> object:
        n = os.urandom(12)
        return raw.encrypt(n, value, aad)

    figures = {
        "field, raw AES-GCM seal": best(args.rounds, args.fields, raw_seal),
        "field, raw AES-GCM open": best(
            args.rounds, args.fields, lambda: raw.decrypt(blob[:12], blob[12:], aad)
        ),
        "field, Secretum seal": best(
            args.rounds, args.fields, lambda: patient.seal(key, family_name=FIELD)
        ),
        "field, Secretum open": best(
            args.rounds, args.fields, lambda: patient.unseal(key, "family_name")
        ),
        "data key unwrap (once per record read)": best(
            args.rounds,
            args.fields,
            lambda: keyring.unwrap_data_key(wrapped, "patients.Patient.wrapped_key:bench"),
        ),
    }
    documents = {
        "1 MiB, raw AES-GCM seal": best(
            args.rounds, args.documents, lambda: raw.encrypt(os.urandom(12), document, aad)
        ),
        "1 MiB, raw AES-GCM open": best(
            args.rounds,
            args.documents,
            lambda: raw.decrypt(sealed_document[:12], sealed_document[12:], aad),
        ),
        "1 MiB, Secretum seal": best(
            args.rounds,
            args.documents,
            lambda: key.seal_bytes(document, "documents.Document.content:bench"),
        ),
        "1 MiB, Secretum open": best(
            args.rounds,
            args.documents,
            lambda: key.open_bytes(opened_document, "documents.Document.content:bench"),
        ),
    }
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"Encryption overhead, best of {args.rounds} rounds (load average {load}, 2 cores)")
    print(f"{'operation':42} {'per op':>12}  beside raw")
    for name, seconds in figures.items():
        base = figures.get(name.replace("Secretum", "raw AES-GCM"))
        ratio = f"{seconds / base:5.2f}×" if base and "Secretum" in name else ""
        print(f"{name:42} {seconds * 1e6:9.2f} µs  {ratio}")
    for name, seconds in documents.items():
        base = documents.get(name.replace("Secretum", "raw AES-GCM"))
        ratio = f"{seconds / base:5.2f}×" if base and "Secretum" in name else ""
        rate = MIB / seconds / 1e9
        print(f"{name:42} {seconds * 1e3:9.3f} ms  {ratio}  ({rate:.2f} GB/s)")


if __name__ == "__main__":
    main()
