"""Chart open and patient search: latency over the real HTTPS stack, secured vs baseline.

Builds two fictitious practices with the same seed (default 20,000 patients, 400,000 clinical
entries): a *secured* instance (AES-256-GCM sealed fields, HMAC blind indexes, audit chain) and a
*baseline* instance (``SECRETUM_BENCHMARK_BASELINE=1``: plaintext with a marker, plain index
tokens, no audit event). Both are served as ``secretum serve`` serves (the TLS front, then
gunicorn's workers behind it) with the same configuration; one keep-alive HTTPS client logs in
as ``dr.martin`` on each (password; the demo authenticator code and the IT charter too where the
instance asks for them) and times, interleaving the two servers request by request:

* chart open          ``GET /patients/<uuid>/`` of a random patient
* search by name      ``POST /patients/`` with ``q`` = first 3 letters of a random family name
* search by NISS      ``POST /patients/`` with ``q`` = a random patient's formatted NISS

It prints p50/p95 per operation, the ratio secured/baseline and PASS/MISS against the targets.
It is a measurement, never a test: it exits 0 on a MISS. See bench/README.md.

The build bypasses the per-call audit for speed but stores exactly what the services store: the
identity is normalised by ``patients.services._normalise_input``, sealed by ``Patient.seal``
under a key from ``keyring.new_data_key``; search tokens are those of
``patients.services.index_patient`` (checked against it on a sample after the build), the index
then sized by ``secretum keys rotate --index-key``; entries are cleaned by
``clinical.rules.clean_entry`` and sealed by ``ClinicalEntry.seal``. All data is fictitious
(Faker fr_BE/nl_BE, national numbers built by ``secretum.lib.niss.build``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import http.client
import json
import os
import platform
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
USERNAME = "dr.martin"
PASSWORD = "demo-praticien-2026"  # noqa: S105  (the documented demo account of a demo instance)
TARGET_P95_MS = 50.0
TARGET_RATIO = 1.5
INSTANCES = ("secured", "baseline")
OPERATIONS = (
    ("chart", "chart open"),
    ("name", "search by name prefix"),
    ("niss", "search by national number"),
)
BATCH = 500  # patients per build transaction
OTHERS_MAX = 0.05  # CPU share other processes may use while measuring before figures are noisy


# --- build (runs in a child process, with the instance's environment) ------------------------


def instance_env(home: Path, baseline: bool, database_url: str = "") -> dict[str, str]:
    """The environment of one instance: none of the caller's SECRETUM_* settings leak in.
    ``database_url`` names a PostgreSQL database (bench/load.py); empty: the home's SQLite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env["SECRETUM_HOME"] = str(home)
    if database_url:
        env["SECRETUM_DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
    # Every child (init, demo, fill, the server) runs the code of the tree this file sits in.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    if baseline:
        env["SECRETUM_BENCHMARK_BASELINE"] = "1"
    return env


def entry_counts(rng: random.Random, patients: int, entries: int) -> list[int]:
    """Entries per patient: skewed (log-normal, a few long charts), capped, summing exactly."""
    if patients == 0:
        return []
    mean = entries / patients
    cap = max(1, int(mean * 12))
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(patients)]
    total = sum(weights)
    counts = [min(cap, int(entries * w / total)) for w in weights]
    missing = entries - sum(counts)
    while missing > 0:
        i = rng.randrange(patients)
        if counts[i] < cap:
            counts[i] += 1
            missing -= 1
    return counts


def build_instance(home: Path, patients: int, entries: int, seed: int, label: str) -> None:
    """Fill a fresh instance (after `secretum init` and `secretum demo --patients 0`)."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from faker import Faker

    from secretum.access.models import CareRelationship
    from secretum.access.policy import Role
    from secretum.clinical import integrity, rules
    from secretum.clinical.models import MODELS
    from secretum.core.management.commands import demo
    from secretum.crypto import keyring
    from secretum.crypto import rows as sealed_rows
    from secretum.lib import niss as niss_lib
    from secretum.patients import integrity as records
    from secretum.patients import services as patient_services
    from secretum.patients.models import Patient, SearchToken

    started = time.monotonic()
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in ("fr_BE", "nl_BE", "fr_FR")}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    notes = [fakers["fr_FR"].paragraph(nb_sentences=3) for _ in range(400)]
    doctors = list(get_user_model().objects.filter(role=Role.PRACTITIONER).order_by("username"))
    measured = get_user_model().objects.get(username=USERNAME)
    if not doctors:
        raise SystemExit("no practitioner: `secretum demo --patients 0` did not run")
    counts = entry_counts(rng, patients, entries)
    # The five kinds the figures above were measured with (vaccinations and lab results, added
    # since, are not made: the same seed still makes the same practice).
    kind_weights = {"encounter": 40, "observation": 35, "medication": 12, "problem": 8}
    kind_weights["allergy"] = 5
    kinds = [k for k in MODELS if k in kind_weights]
    weights = [kind_weights[k] for k in kinds]
    used_niss: set[str] = set()

    def identity() -> dict[str, Any]:
        fake = fakers["fr_BE" if rng.random() < 0.6 else "nl_BE"]
        where = fakers["nl_BE"]
        sex = rng.choice(["female", "male"])
        while True:
            birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 33000))
            serial = rng.randrange(1, 997)
            serial += (serial % 2 == 0) if sex == "male" else (serial % 2 == 1)
            number = niss_lib.build(birth, serial)
            if number not in used_niss:  # a national number is unique
                used_niss.add(number)
                break
        return {
            "family_name": fake.last_name(),
            "given_name": fake.first_name_female() if sex == "female" else fake.first_name_male(),
            "birth_date": birth,
            "sex": sex,
            "niss": number,
            "street": where.street_address(),
            "postal_code": where.postcode(),
            "city": where.city(),
            "phone": where.phone_number(),
            "email": fake.free_email(),
            "insurer": rng.choice(demo.INSURERS),
            "insurer_number": str(rng.randrange(10**8, 10**9)),
        }

    def entry(kind: str) -> dict[str, Any]:
        if kind == "encounter":
            return {
                "reason": rng.choice(demo.REASONS),
                "subjective": rng.choice(notes),
                "objective": rng.choice(notes),
                "assessment": rng.choice(notes) if rng.random() < 0.7 else "",
                "plan": rng.choice(notes),
            }
        if kind == "observation":
            code = rng.choice(["bp", "bp", "weight", "height", "temperature"])
            value = {
                "bp": lambda: f"{rng.randrange(105, 175)}/{rng.randrange(55, 100)}",
                "weight": lambda: f"{rng.randrange(30, 1300) / 10}",
                "height": lambda: str(rng.randrange(50, 205)),
                "temperature": lambda: f"{rng.randrange(355, 400) / 10}",
            }[code]()
            return {"code": code, "value": value}
        if kind == "medication":
            drug, dose, freq, duration = rng.choice(demo.DRUGS)
            return {"drug": drug, "dose": dose, "frequency": freq, "duration": duration}
        if kind == "problem":
            code, label = rng.choice(demo.PROBLEMS)
            onset = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(0, 9000))
            return {
                "system": "icpc-2",  # the demo's problems are ICPC-2 codes (issue 15)
                "code": code,
                "label": label,
                "onset": onset if rng.random() < 0.5 else "",
            }
        substance, reaction = rng.choice(demo.ALLERGENS)
        return {
            "substance": substance,
            "reaction": reaction,
            "severity": rng.choice(["mild", "moderate", "severe"]),
        }

    def tokens(values: dict[str, str | None]) -> set[tuple[str, bytes]]:
        # What patients.services.index_patient stores (real and padding tokens; checked below).
        return patient_services.search_tokens(values)

    manifest: list[dict[str, Any]] = []
    token_count = 0
    entry_total = 0
    for first in range(0, patients, BATCH):
        batch = range(first, min(first + BATCH, patients))
        with transaction.atomic():
            rows, keys, all_values = [], [], []
            for _ in batch:
                values = patient_services._normalise_input(identity())
                patient = Patient()
                key, patient.wrapped_key = keyring.new_data_key(patient_services.key_aad(patient))
                patient.seal(key, **values)
                rows.append(patient)
                keys.append(key)
                all_values.append(values)
            Patient.objects.bulk_create(rows)  # SQLite >= 3.35 returns the primary keys
            search_rows = [
                SearchToken(patient=p, kind=kind, token=token)
                for p, values in zip(rows, all_values, strict=True)
                for kind, token in tokens(values)
            ]
            SearchToken.objects.bulk_create(search_rows)
            token_count += len(search_rows)
            by_kind: dict[str, list[Any]] = {k: [] for k in kinds}
            for n, patient, key in zip(batch, rows, keys, strict=True):
                per_kind = dict.fromkeys(kinds, 0)
                seals = []
                for kind in rng.choices(kinds, weights, k=counts[n]):
                    row = MODELS[kind](patient=patient, author=rng.choice(doctors))
                    row.seal(key, **rules.clean_entry(kind, entry(kind)))
                    integrity.stamp(row, str(patient.uid))  # as record_entry does
                    seals.append((kind, row.uid, row.row_seal))
                    by_kind[kind].append(row)
                    per_kind[kind] += 1
                records.stamp(patient, records.digest_of(seals))
                values = all_values[n - first]
                manifest.append(
                    {
                        "uid": str(patient.uid),
                        "family_name": values["family_name"],
                        "given_name": values["given_name"],
                        "niss": niss_lib.formatted(values["niss"] or ""),
                        "entries": per_kind,
                    }
                )
            Patient.objects.bulk_update(rows, ["record_version", "entries_digest", "record_seal"])
            # C1: the signed-in doctor takes care of every patient (as `declare_care` records it),
            # so that every chart open passes the care check the gate makes.
            cared = CareRelationship.objects.bulk_create(
                CareRelationship(patient=p, practitioner=measured, origin="declared") for p in rows
            )
            for relationship in cared:
                sealed_rows.stamp(relationship)
            CareRelationship.objects.bulk_update(cared, ["row_seal"])
            for kind, kind_rows in by_kind.items():
                MODELS[kind].objects.bulk_create(kind_rows)
                entry_total += len(kind_rows)
        done = batch.stop
        if done == patients or done % 2000 == 0:
            print(
                f"  [{label}] {done:>6}/{patients} patients, {entry_total:>7} entries, "
                f"{time.monotonic() - started:6.1f} s",
                flush=True,
            )

    verified = verify_sample(manifest, rng)
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    figures = {
        "instance": label,
        "baseline": bool(settings.SECRETUM_BENCHMARK_BASELINE),
        "patients": patients,
        "entries": entry_total,
        "search_tokens": token_count,
        "seed": seed,
        "fill_seconds": round(time.monotonic() - started, 1),
        "verified": verified,
    }
    (home.parent / "patients.json").write_text(json.dumps(manifest))
    (home.parent / "fill.json").write_text(json.dumps(figures, indent=2))


def verify_sample(manifest: list[dict[str, Any]], rng: random.Random) -> int:
    """Check a sample against the services themselves, then roll everything back: the real
    ``index_patient`` writes the same tokens, search finds the patient, the chart shows its
    entries."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from secretum.access.actor import Actor
    from secretum.clinical.services import CHART_LIMIT, access_chart
    from secretum.patients import services as patient_services
    from secretum.patients.models import IDENTITY_FIELDS, SearchToken

    system = Actor.system()
    sample = rng.sample(manifest, min(30, len(manifest)))
    with transaction.atomic():
        for item in sample:
            patient, key = patient_services.open_patient(item["uid"])
            values = {n: patient.unseal(key, n) for n in IDENTITY_FIELDS}
            mine = set(SearchToken.objects.filter(patient=patient).values_list("kind", "token"))
            patient_services.index_patient(patient, values)
            theirs = set(SearchToken.objects.filter(patient=patient).values_list("kind", "token"))
            real = patient_services.real_tokens(values)
            mine_set = {(k, bytes(t)) for k, t in mine}
            theirs_set = {(k, bytes(t)) for k, t in theirs}
            if not real <= mine_set or len(mine_set) != len(theirs_set) or not real <= theirs_set:
                raise SystemExit(f"build check: tokens differ from index_patient ({item['uid']})")
            found = patient_services.search_patients(system, item["niss"])
            if [p.uid for p in found.patients] != [item["uid"]]:
                raise SystemExit("build check: search by national number failed")
            try:
                found = patient_services.search_patients(
                    system, f"{item['family_name']} {item['given_name']}"
                )
            except ValidationError:
                pass  # a name too short to search by words; the national number was checked
            else:
                if item["uid"] not in {p.uid for p in found.patients}:
                    raise SystemExit("build check: search by full name failed")
            chart = access_chart(system, item["uid"])
            for kind, count in item["entries"].items():
                if len(chart.entries[kind]) != min(count, CHART_LIMIT):
                    raise SystemExit(f"build check: chart shows a wrong number of {kind}")
            if chart.patient.family_name != item["family_name"]:
                raise SystemExit("build check: identity does not open")
            if chart.altered:
                raise SystemExit("build check: the record seal does not match what was written")
        transaction.set_rollback(True)  # leave the instance as built: no extra audit event
    return len(sample)


# --- orchestration ---------------------------------------------------------------------------


def run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def database_mb(home: Path, database_url: str = "") -> float:
    if database_url:  # PostgreSQL (bench/load.py): the database's size as the server counts it
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0] if row else 0) / 1e6
    files = [home / "data" / "secretum.sqlite3", home / "data" / "secretum.sqlite3-wal"]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def reuse(folder: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The figures of a finished build of the same size in ``folder``, if there is one."""
    done = folder / "build.json"
    if not done.exists():
        if (folder / "var").exists():
            raise SystemExit(
                f"{folder} holds an unfinished build; delete it or use another --workdir."
            )
        return None
    figures: dict[str, Any] = json.loads(done.read_text())
    if (figures["patients"], figures["entries"], figures["seed"]) != (
        args.patients,
        args.entries,
        args.seed,
    ):
        raise SystemExit(
            f"{folder} holds a build of {figures['patients']} patients / "
            f"{figures['entries']} entries (seed {figures['seed']}); use another --workdir."
        )
    print(f"  [{folder.name}] reusing {folder}", flush=True)
    figures["reused"] = True
    return figures


def build_all(
    root: Path,
    args: argparse.Namespace,
    databases: dict[str, str] | None = None,
    labels: tuple[str, ...] = INSTANCES,
) -> dict[str, dict[str, Any]]:
    """Both instances, filled in parallel (one core each): init, demo accounts, bulk fill.
    ``databases`` maps an instance to its PostgreSQL URL (bench/load.py); default SQLite.
    ``labels``: the instances to build (bench/twonode.py builds the secured one only)."""
    urls = databases or {}
    figures: dict[str, dict[str, Any]] = {}
    running: dict[str, tuple[subprocess.Popen[bytes], float]] = {}
    sizing: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for label in labels:
            folder = root / label
            reused = reuse(folder, args)
            if reused is not None:
                figures[label] = reused
                continue
            folder.mkdir(parents=True, exist_ok=True)
            home = folder / "var"
            env = instance_env(home, baseline=label == "baseline", database_url=urls.get(label, ""))
            started = time.monotonic()
            run([sys.executable, "-m", "secretum.cli", "init"], env, f"{label}: secretum init")
            run(
                [sys.executable, "-m", "secretum.cli", "demo", "--patients", "0"],
                env,
                f"{label}: secretum demo --patients 0",
            )
            print(f"  [{label}] instance created, demo accounts ready; filling…", flush=True)
            # fmt: off
            command = [
                sys.executable, str(Path(__file__).resolve()), "--fill", str(home),
                "--label", label, "--patients", str(args.patients),
                "--entries", str(args.entries), "--seed", str(args.seed),
            ]
            # fmt: on
            running[label] = (subprocess.Popen(command, env=env, cwd=REPO), started)
        # E10: each search index sized for its number of patients, as `serve` keeps it (its daily
        # `keys rotate --index-key --if-due`: a new generation, every token rebuilt), started as
        # soon as its fill ends, both at once (one core each).
        ended: dict[str, float] = {}
        sized: dict[str, float] = {}
        while len(sized) < len(running):
            for label, (proc, _) in running.items():
                if label not in ended and proc.poll() is not None:
                    ended[label] = time.monotonic()
                    if proc.returncode != 0:
                        raise SystemExit(f"{label}: building failed (exit {proc.returncode})")
                    sizing[label] = start_sizing(root / label, label, urls.get(label, ""))
            for label, proc in sizing.items():
                if label not in sized and proc.poll() is not None:
                    if proc.returncode != 0:
                        log = (root / label / "index.log").read_text()
                        raise SystemExit(
                            f"{label}: secretum keys rotate --index-key failed "
                            f"(exit {proc.returncode}):\n{log}"
                        )
                    sized[label] = time.monotonic() - ended[label]
                    print(f"  [{label}] search index sized: {sized[label]:.1f} s", flush=True)
            time.sleep(0.2)
        for label, (_, started) in running.items():
            folder = root / label
            result = json.loads((folder / "fill.json").read_text())
            result["seconds"] = round(ended[label] - started, 1)
            result["index_seconds"] = round(sized[label], 1)
            result["database_mb"] = round(database_mb(folder / "var", urls.get(label, "")), 1)
            (folder / "build.json").write_text(json.dumps(result, indent=2))
            figures[label] = result
    finally:
        for proc in [p for p, _ in running.values()] + list(sizing.values()):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    return figures


def start_sizing(folder: Path, label: str, database_url: str) -> subprocess.Popen[bytes]:
    """``secretum keys rotate --index-key`` on one built instance, its output in index.log."""
    env = instance_env(folder / "var", baseline=label == "baseline", database_url=database_url)
    with (folder / "index.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "secretum.cli", "keys", "rotate", "--index-key"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    label: str
    home: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)
    database_url: str = ""  # PostgreSQL (bench/load.py); empty: the home's SQLite
    workers: int = 2  # gunicorn's processes and threads (bench/load.py --workers, --threads)
    threads: int = 4

    def start(self) -> None:
        self.port = free_port()
        self.log = self.home.parent / "server.log"
        env = instance_env(self.home, self.label == "baseline", self.database_url)
        # The serving path of `secretum serve` (which refuses the baseline setting): the TLS front
        # (G4) and gunicorn's workers behind it, 2 × 4 threads unless told. The same for both
        # instances: only encryption and audit differ.
        command = [
            *(sys.executable, "-m", "secretum.lib.front", "--home", str(self.home)),
            *("--port", str(self.port)),
            *("--workers", str(self.workers), "--threads", str(self.threads)),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"{self.label} server exited:\n{self.log.read_text()[-3000:]}")
            try:
                client = Client(self.port, self.home / "tls" / "cert.pem")
                status, _ = client.request("GET", "/healthz")
                client.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.label} server did not answer in {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # the front, then its workers: graceful shutdown on SIGTERM
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Client:
    """One keep-alive HTTPS connection with a cookie jar, trusting only the instance's cert."""

    def __init__(self, port: int, cafile: Path) -> None:
        context = ssl.create_default_context(cafile=str(cafile))
        # The self-signed certificate is its own trust anchor.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        self.port = port
        self.context = context
        self.cookies: dict[str, str] = {}
        self.location = ""  # the Location header of the last response
        self.reconnects = 0
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=60)

    def close(self) -> None:
        self.conn.close()

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"https://127.0.0.1:{self.port}{path}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                ssl.SSLEOFError,
            ):
                # The server closed an idle keep-alive connection (over TLS, a write may see its
                # close_notify as SSLEOFError): once more on a new one.
                self.conn.close()
                self.conn = self._connect()
                self.reconnects += 1
                if attempt == 2:
                    raise
        self.location = response.headers.get("Location", "")
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, data


SECOND_FACTOR = "/accounts/login/verify/"
CHARTER = "/accounts/charter/"
HIDDEN_INPUT = re.compile(rb'<input type="hidden" name="([^"]+)" value="([^"]*)"')
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def hidden_inputs(page: bytes) -> dict[str, str]:
    """The hidden fields of a page's form (CSRF token included), to submit it as it is."""
    return {
        html.unescape(m.group(1).decode()): html.unescape(m.group(2).decode())
        for m in HIDDEN_INPUT.finditer(page)
    }


def csrf_token(page: bytes) -> str:
    found = CSRF_INPUT.search(page)
    if not found:
        raise SystemExit("no CSRF token in the page")
    return found.group(1).decode()


@dataclass
class Session:
    label: str
    client: Client
    csrf: str = ""
    times: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def login(cls, server: Server) -> Session:
        client = Client(server.port, server.home / "tls" / "cert.pem")
        status, page = client.request("GET", "/accounts/login/")
        if status != 200 or "__Host-secretum-csrf" not in client.cookies:
            raise SystemExit(f"{server.label}: login page answered {status} without CSRF cookie")
        form = {
            "csrfmiddlewaretoken": csrf_token(page),
            "username": USERNAME,
            "password": PASSWORD,
            "next": "",
        }
        status, _ = client.request("POST", "/accounts/login/", form)
        if status == 302 and client.location.startswith(SECOND_FACTOR):
            # Where the instance asks for a second factor: the demo account's authenticator code.
            status, page = client.request("GET", client.location)
            # The code of the tree that serves this instance (compare_trees.py serves another
            # commit's too): another tree's code may not read this instance's database.
            tree = getattr(server, "tree", REPO)
            env = instance_env(server.home, baseline=server.label == "baseline")
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(tree), os.environ.get("PYTHONPATH")])
            )
            for attempt in range(2):
                code = subprocess.run(
                    [sys.executable, "-m", "secretum.cli", "demo_code", USERNAME],
                    env=env,
                    cwd=tree,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.strip()
                form = {"csrfmiddlewaretoken": csrf_token(page), "code": code, "next": ""}
                status, page = client.request("POST", SECOND_FACTOR, form)
                if status == 302 or attempt:
                    break
                # A code is accepted once (B3): the build's own login may have used this one.
                # The next 30-second step brings a new code.
                time.sleep(31 - time.time() % 30)
        where = client.location
        if status != 302 or "__Host-secretum-session" not in client.cookies or where != "/":
            raise SystemExit(
                f"{server.label}: login as {USERNAME} did not reach the home page "
                f"(status {status}, redirected to {where or 'nowhere'})"
            )
        status, page = client.request("GET", "/patients/")  # the CSRF token rotates at login
        if status == 302 and client.location.startswith(CHARTER):
            # Where the instance asks to accept the IT charter first: accept it, once.
            status, page = client.request("GET", CHARTER)
            client.request("POST", CHARTER, hidden_inputs(page))
            status, page = client.request("GET", "/patients/")
        if status != 200:
            raise SystemExit(
                f"{server.label}: after login, the search page answered {status} "
                f"(redirected to {client.location or 'nowhere'})"
            )
        return cls(server.label, client, csrf_token(page))

    def do(self, op: str, patient: dict[str, Any], record: bool) -> None:
        if op == "chart":
            method, path, form = "GET", f"/patients/{patient['uid']}/", None
            expect = html.escape(patient["family_name"].upper()).encode()
        else:
            q = patient["niss"] if op == "niss" else name_prefix(patient["family_name"])
            method, path, form = "POST", "/patients/", {"csrfmiddlewaretoken": self.csrf, "q": q}
            expect = b'data-testid="results"'
        start = time.perf_counter()
        status, page = self.client.request(method, path, form)
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200 or expect not in page:
            raise SystemExit(
                f"{self.label}: {method} {path} ({op}) answered {status} without the expected "
                f"content:\n{page[:600].decode(errors='replace')}"
            )
        if record:
            self.times.setdefault(op, []).append(elapsed)


def name_prefix(family_name: str) -> str:
    """The first 3 letters of a family name, as a person would type them."""
    return "".join(c for c in family_name if c.isalpha())[:3]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command's name (Linux): state (0), ppid (1), …,
    utime (11), stime (12), cutime (13), cstime (14), in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


class CpuMeter:
    """The share of the machine's CPU used by *other* processes while measuring: figures taken
    while a test suite or a build runs are not worth keeping (Linux /proc; None elsewhere)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.start = self._sample()

    def _sample(self) -> tuple[int, int, int] | None:
        try:
            cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            children: dict[int, list[int]] = {}
            ticks: dict[int, int] = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = proc_stat(entry.name)
                    except (OSError, ValueError):
                        continue  # ended meanwhile
                    children.setdefault(int(fields[1]), []).append(int(entry.name))
                    ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            return None
        ours, todo = 0, list(self.roots)
        while todo:  # this process, the servers and all their descendants
            pid = todo.pop()
            ours += ticks.get(pid, 0)
            todo.extend(children.get(pid, []))
        idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)
        return sum(cpu), sum(cpu) - idle, ours

    def others(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        total, busy, ours = (e - s for e, s in zip(end, self.start, strict=True))
        return max(0.0, (busy - ours) / total)


def measure(
    servers: dict[str, Server], manifests: dict[str, list[dict[str, Any]]], args: argparse.Namespace
) -> tuple[dict[str, Session], float | None]:
    """Timings per instance and operation, and the CPU share other processes used meanwhile."""
    meter = CpuMeter([os.getpid()] + [s.proc.pid for s in servers.values() if s.proc])
    sessions = {label: Session.login(server) for label, server in servers.items()}
    rng = random.Random(args.seed + 1)
    plan = {"chart": args.charts, "name": args.name_searches, "niss": args.niss_searches}
    count = len(manifests["secured"])
    for record in (False, True):
        for op, _title in OPERATIONS:
            n = plan[op] if record else min(plan[op], args.warmup)
            stage = "measuring" if record else "warm-up"
            print(f"  {stage}: {n} × {op} on each server", flush=True)
            for i in range(n):
                k = rng.randrange(count)  # the same patient (same seed, same data) on both
                order = INSTANCES if i % 2 == 0 else INSTANCES[::-1]
                for label in order:
                    sessions[label].do(op, manifests[label][k], record)
    return sessions, meter.others()


def code_version() -> str:
    """The commit measured, marked when the work tree differs from it."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "secretum"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"code in {REPO} (not a git work tree)"
    return f"commit {rev}" + (" + uncommitted changes in secretum/" if dirty else "")


def report(
    builds: dict[str, dict[str, Any]],
    build_wall: float,
    sessions: dict[str, Session],
    others: float | None,
) -> None:
    line = "-" * 92
    print()
    print("Secretum benchmark: chart open and patient search over HTTPS")
    print(
        f"  {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {os.cpu_count()} CPU · "
        f"Python {platform.python_version()} · SQLite {sqlite_version()} · {code_version()}"
    )
    print(
        "  servers: TLS front + gunicorn, 2 workers × 4 threads (gthread), same for both instances"
    )
    print(line)
    if any(built.get("reused") for built in builds.values()):
        how = "figures of the earlier build reused from --workdir"
    else:
        how = f"both instances in parallel, {build_wall:.0f} s wall clock"
    print(f"Build (init + demo accounts + bulk fill + sample check; {how})")
    head = ("instance", "patients", "entries", "tokens", "seconds", "MB")
    print("  {:<10}{:>10}{:>10}{:>11}{:>10}{:>9}".format(*head))
    for label in INSTANCES:
        built = builds[label]
        print(
            f"  {label:<10}{built['patients']:>10}{built['entries']:>10}"
            f"{built['search_tokens']:>11}{built['seconds']:>10.1f}{built['database_mb']:>9.1f}"
        )
    print(line)
    print("Latency in ms (one keep-alive client, requests interleaved between the two servers)")
    print(
        f"  {'operation':<27}{'n':>5}  {'secured p50':>11}{'p95':>8}  "
        f"{'baseline p50':>12}{'p95':>8}  {'ratio p50':>9}{'p95':>7}"
    )
    figures: dict[str, dict[str, float]] = {}
    for op, title in OPERATIONS:
        secured, baseline = sessions["secured"].times[op], sessions["baseline"].times[op]
        f = {
            "s50": percentile(secured, 50),
            "s95": percentile(secured, 95),
            "b50": percentile(baseline, 50),
            "b95": percentile(baseline, 95),
        }
        f["r50"], f["r95"] = f["s50"] / f["b50"], f["s95"] / f["b95"]
        figures[op] = f
        print(
            f"  {title:<27}{len(secured):>5}  {f['s50']:>11.1f}{f['s95']:>8.1f}  "
            f"{f['b50']:>12.1f}{f['b95']:>8.1f}  {f['r50']:>9.2f}{f['r95']:>7.2f}"
        )
    print(line)
    print(
        f"Targets: chart p95 ≤ {TARGET_P95_MS:.0f} ms, search p95 ≤ {TARGET_P95_MS:.0f} ms, "
        f"overhead ratio (secured/baseline, p50 and p95) ≤ {TARGET_RATIO}"
    )
    for op, title in OPERATIONS:
        f = figures[op]
        verdict = "PASS" if f["s95"] <= TARGET_P95_MS else "MISS"
        label = f"{title} p95 (secured)"
        print(f"  {label:<42}{f['s95']:>8.1f} ms   ≤ {TARGET_P95_MS:.0f}   {verdict}")
    for op, title in OPERATIONS:
        f = figures[op]
        for p in ("50", "95"):
            ratio = f["r" + p]
            verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
            label = f"{title} ratio p{p}"
            print(f"  {label:<42}{ratio:>8.2f}      ≤ {TARGET_RATIO}  {verdict}")
    print(line)
    if others is not None:
        note = "" if others <= OTHERS_MAX else f" (over {OTHERS_MAX:.0%}: figures unreliable)"
        print(f"CPU used by other processes on the machine while measuring: {others:.0%}{note}")
    reconnects = sum(s.client.reconnects for s in sessions.values())
    if reconnects:
        print(f"  ({reconnects} keep-alive reconnections during the run)")


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--workdir", type=Path, help="keep the built instances here (reused when present)"
    )
    parser.add_argument("--charts", type=int, default=500, help="chart opens measured")
    parser.add_argument("--name-searches", type=int, default=300)
    parser.add_argument("--niss-searches", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests per kind")
    # Internal: the bulk fill, run in a child process with the instance's environment.
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.patients < 1 or args.entries < 0:
        parser.error("--patients must be at least 1 and --entries at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fill:
        build_instance(args.fill, args.patients, args.entries, args.seed, args.label)
        return 0
    if args.workdir:
        root = args.workdir.resolve()
    else:
        root = Path(tempfile.mkdtemp(prefix="secretum-bench-"))
    servers: dict[str, Server] = {}
    try:
        print(
            f"Building two practices of {args.patients} patients / {args.entries} entries "
            f"in {root}",
            flush=True,
        )
        build_started = time.monotonic()
        builds = build_all(root, args)
        build_wall = time.monotonic() - build_started
        manifests = {
            label: json.loads((root / label / "patients.json").read_text()) for label in INSTANCES
        }
        for label in INSTANCES:
            servers[label] = Server(label, root / label / "var")
            servers[label].start()
        for server in servers.values():
            server.wait_ready()
        print(
            "Servers up: "
            + ", ".join(f"{s.label} https://127.0.0.1:{s.port}/" for s in servers.values()),
            flush=True,
        )
        sessions, others = measure(servers, manifests, args)
        for session in sessions.values():
            session.client.close()
        report(builds, build_wall, sessions, others)
    finally:
        for server in servers.values():
            server.stop()
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
