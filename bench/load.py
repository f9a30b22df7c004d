"""Many users at once: the practice's mix over the real HTTPS stack, secured vs baseline.

Issue 17 asks what the server does with many people working at once, not one user in a loop.
For each database engine (SQLite, PostgreSQL) this builds the two practices of
``chart_search.py`` (same seed, same fictitious patients: *secured* and *baseline*, the latter
``SECRETUM_BENCHMARK_BASELINE=1``: no encryption, no audit), serves them as ``chart_search.py``
does (the TLS front and gunicorn's workers, ``secretum serve``'s path), gives each a number of
practitioner accounts of their own (``dr.load001``…, the demo's password and authenticator
seed, each with a panel of patients in their care and a day of appointments in the agenda), and
then drives them with an asyncio HTTPS client (standard library only):

* every user logs in like a browser: its own connection from its own loopback address, its own
  session cookie and CSRF token, password then the TOTP code of its authenticator;
* **mix**: each user acts every 3–10 s (random, seeded) for ``--seconds``: a name-prefix search,
  a chart open, a new entry (the form, then its POST: a consultation note or an observation;
  the redirect to the chart is followed as a browser does and counted as a chart open), or the
  agenda;
* **saturation**: the same mix without pause, the number of users doubling until p95 passes
  250 ms; the sustained throughput is the best requests/s seen below that.

It prints per operation the count, p50/p95/p99, errors (and answers saying "database is
locked"), the throughput, the machine's load beside each figure, the ratio secured/baseline,
the resident memory of every server process, and PASS/MISS against the issue's goals. It is a
measurement, never a test: it exits 0 on a MISS. See bench/README.md, "Many users at once".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import html
import json
import os
import platform
import random
import resource
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_search as cs

REPO = cs.REPO
PASSWORD = cs.PASSWORD  # the demo practitioners' password; the accounts made here use it too
ACCOUNT = "dr.load{:03d}"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/"  # trust authentication on this machine
ENGINES = ("sqlite", "postgresql")
ENGINE_TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# The goals (issue 17).
GOAL_USERS = 50
GOAL_P95_MS = 50.0
GOAL_RPS = 150.0
GOAL_RSS_MB = 150.0
GOAL_RATIO = 1.3
GOAL_APPEND_P95_MS = 0.5  # PostgreSQL, under the mix
SATURATION_P95_MS = 250.0
# What a person does, and how often (weights): mostly charts and searches.
ACTIONS = (("search", 30), ("chart", 35), ("entry", 20), ("agenda", 15))
OPERATIONS = (
    ("search", "name-prefix search"),
    ("chart", "chart open"),
    ("form", "new entry: form"),
    ("entry", "new entry: POST"),
    ("agenda", "agenda"),
)
LOGINS_AT_ONCE = 4  # Argon2 at each login: a few at a time, as people arrive


# --- accounts (runs in a child process, with the instance's environment) ---------------------


def make_accounts(home: Path, count: int, panel: int, seed: int) -> None:
    """``count`` practitioners (``dr.load001``…) made through ``accounts.services.create_user``
    with the demo's authenticator (``demo.enrol_demo_totp``), each in the care of ``panel``
    patients (C1: as the build records it for dr.martin); and tomorrow's agenda of dr.martin and
    dr.peeters (no booking in the past), booked through ``scheduling.services.book_appointment``.
    Kept in accounts.json; accounts already made are kept as they are."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django.utils import timezone

    from secretum.access.actor import Actor
    from secretum.access.models import CareRelationship
    from secretum.access.policy import Role
    from secretum.accounts.services import create_user
    from secretum.core.management.commands.demo import enrol_demo_totp
    from secretum.crypto import rows as sealed_rows
    from secretum.patients.models import Patient
    from secretum.scheduling.services import book_appointment

    done = home.parent / "accounts.json"
    known: dict[str, Any] = json.loads(done.read_text()) if done.exists() else {"panels": {}}
    manifest = json.loads((home.parent / "patients.json").read_text())
    pks = dict(Patient.objects.values_list("uid", "pk"))
    system = Actor.system()
    User = get_user_model()
    rng = random.Random(seed + 3)
    for i in range(count):
        name = ACCOUNT.format(i + 1)
        chosen = rng.sample(range(len(manifest)), min(panel, len(manifest)))
        if name in known["panels"]:
            continue
        with transaction.atomic():
            user = create_user(
                system,
                username=name,
                role=Role.PRACTITIONER,
                password=PASSWORD,
                first_name="Load",
                last_name=f"Doctor {i + 1}",
            )
            enrol_demo_totp(user)
            cared = CareRelationship.objects.bulk_create(
                CareRelationship(
                    patient_id=pks[uuid.UUID(manifest[k]["uid"])],
                    practitioner=user,
                    origin="declared",
                )
                for k in chosen
            )
            for relationship in cared:
                sealed_rows.stamp(relationship)
            CareRelationship.objects.bulk_update(cared, ["row_seal"])
        known["panels"][name] = chosen
    if "appointments" not in known:
        booked = 0
        day = timezone.localdate() + dt.timedelta(days=1)
        # The practice's secretary books, as at the desk (an appointment names who booked it).
        desk = Actor.for_user(User.objects.get(username="accueil"), source="bench")
        for doctor in User.objects.filter(username__in=["dr.martin", "dr.peeters"]):
            for slot in range(36):  # 08:00 to 17:00, every 15 minutes
                start = timezone.make_aware(dt.datetime.combine(day, dt.time(8))) + dt.timedelta(
                    minutes=15 * slot
                )
                uid = manifest[rng.randrange(len(manifest))]["uid"]
                try:
                    book_appointment(desk, uid, doctor.pk, start, 15)
                    booked += 1
                except ValidationError:
                    pass  # a slot the rules refuse (N2): the day has one appointment fewer
        known["appointments"] = booked
        known["day"] = day.isoformat()
    done.write_text(json.dumps(known))


def prepare_accounts(
    root: Path,
    count: int,
    panel: int,
    seed: int,
    urls: dict[str, str],
    labels: tuple[str, ...] = cs.INSTANCES,
) -> dict[str, dict[str, Any]]:
    """The accounts of both instances (or of ``labels``), made in parallel (one child process
    each)."""
    running = {}
    for label in labels:
        home = root / label / "var"
        env = cs.instance_env(home, label == "baseline", urls.get(label, ""))
        # fmt: off
        command = [
            sys.executable, str(Path(__file__).resolve()), "--accounts-for", str(home),
            "--accounts", str(count), "--panel", str(panel), "--seed", str(seed),
        ]
        # fmt: on
        running[label] = subprocess.Popen(command, env=env, cwd=REPO)
    for label, proc in running.items():
        if proc.wait() != 0:
            raise SystemExit(f"{label}: making the load accounts failed (exit {proc.returncode})")
    return {label: json.loads((root / label / "accounts.json").read_text()) for label in labels}


# --- the client --------------------------------------------------------------------------------


def totp_code(username: str, now: float | None = None) -> str:
    """The current code of a demo authenticator (RFC 6238: SHA-1, 30 s, 6 digits). The seed is
    the demo's, derived from the account name (``demo.demo_totp_secret``: the first 20 bytes of
    SHA-256 of "secretum-demo-totp:<name>", which its base32 text encodes)."""
    secret = hashlib.sha256(f"secretum-demo-totp:{username}".encode()).digest()[:20]
    step = int((time.time() if now is None else now) // 30)
    mac = hmac.new(secret, struct.pack(">Q", step), "sha1").digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class Client:
    """One keep-alive HTTPS/1.1 connection (asyncio streams) with a cookie jar, from its own
    loopback address: each user is a browser of its own, as the front's per-address connection
    limit (32) sees real ones."""

    def __init__(self, port: int, context: ssl.SSLContext, source: str) -> None:
        self.port = port
        self.context = context
        self.source = source
        self.cookies: dict[str, str] = {}
        self.reconnects = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Accept: text/html",
            "User-Agent: secretum-bench-load",
        ]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = b""
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Referer: https://127.0.0.1:{self.port}{path}")
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, ssl=self.context, local_addr=(self.source, 0)
                )
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(raw)
                await self.writer.drain()
                response, close = await asyncio.wait_for(self._read(self.reader), 120)
                break
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                # The server closed an idle keep-alive connection: once more on a new one.
                await self.close()
                if fresh or attempt == 2:
                    raise
                self.reconnects += 1
        if close:
            await self.close()
        return response

    async def _read(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        status = int((await reader.readuntil(b"\r\n")).split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._cookie(value)
            else:
                headers[name] = value
        close = headers.get("connection", "").lower() == "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks += await reader.readexactly(size)
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            body = bytes(chunks)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, close = await reader.read(), True
        return Response(status, headers, body), close

    def _cookie(self, header: str) -> None:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value


def tls_context(server: cs.Server) -> ssl.SSLContext:
    """Trusting only the instance's own certificate, as chart_search's client does."""
    context = ssl.create_default_context(cafile=str(server.home / "tls" / "cert.pem"))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def source_address(index: int) -> str:
    """A loopback address of its own for each user (127.0.1.1, 127.0.1.2, … 127.0.2.1, …)."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


@dataclass
class Recorder:
    """Latencies (ms) per operation, errors, and what the errors said."""

    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    locked: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, op: str, what: str) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(what)

    def requests(self) -> int:
        return sum(len(t) for t in self.times.values()) + sum(self.errors.values())

    def every(self) -> list[float]:
        return [t for times in self.times.values() for t in times]


@dataclass
class User:
    username: str
    client: Client
    panel: list[dict[str, Any]]  # the patients in this user's care
    everyone: list[dict[str, Any]]
    rng: random.Random
    day: str  # the agenda's day (the one booked when the accounts were made)
    csrf: str = ""

    async def login(self) -> None:
        """As a browser: the login page (CSRF cookie and token), the password, the second
        factor's code, the IT charter where the instance asks for it."""
        page = await self.client.request("GET", "/accounts/login/")
        form = {
            "csrfmiddlewaretoken": cs.csrf_token(page.body),
            "username": self.username,
            "password": PASSWORD,
            "next": "",
        }
        answer = await self.client.request("POST", "/accounts/login/", form)
        if answer.status == 302 and answer.location.startswith(cs.SECOND_FACTOR):
            page = await self.client.request("GET", answer.location)
            for attempt in range(2):
                form = {
                    "csrfmiddlewaretoken": cs.csrf_token(page.body),
                    "code": totp_code(self.username),
                    "next": "",
                }
                answer = await self.client.request("POST", cs.SECOND_FACTOR, form)
                if answer.status == 302 or attempt:
                    break
                # A code is accepted once (B3): the next 30-second step brings a new one.
                page = answer
                await asyncio.sleep(31 - time.time() % 30)
        if answer.status != 302 or answer.location != "/":
            raise SystemExit(
                f"login as {self.username} did not reach the home page "
                f"(status {answer.status}, redirected to {answer.location or 'nowhere'})"
            )
        page = await self.client.request("GET", "/patients/")  # the CSRF token rotates at login
        if page.status == 302 and page.location.startswith(cs.CHARTER):
            charter = await self.client.request("GET", cs.CHARTER)
            await self.client.request("POST", cs.CHARTER, cs.hidden_inputs(charter.body))
            page = await self.client.request("GET", "/patients/")
        if page.status != 200:
            raise SystemExit(
                f"{self.username}: after login, the search page answered {page.status}"
            )
        self.csrf = cs.csrf_token(page.body)

    async def timed(
        self,
        rec: Recorder,
        op: str,
        method: str,
        path: str,
        form: dict[str, str] | None,
        ok: Callable[[Response], bool],
    ) -> Response | None:
        start = time.perf_counter()
        try:
            answer = await self.client.request(method, path, form)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            rec.error(op, f"{method} {path}: {exc!r}")
            return None
        elapsed = (time.perf_counter() - start) * 1000
        rec.times.setdefault(op, []).append(elapsed)
        if b"database is locked" in answer.body:
            rec.locked += 1
        if not ok(answer):
            excerpt = answer.body[:300].decode(errors="replace")
            rec.error(op, f"{method} {path} → {answer.status} {answer.location}\n{excerpt}")
            return None
        return answer

    async def search(self, rec: Recorder) -> None:
        patient = self.rng.choice(self.everyone)
        form = {"csrfmiddlewaretoken": self.csrf, "q": cs.name_prefix(patient["family_name"])}
        await self.timed(
            rec,
            "search",
            "POST",
            "/patients/",
            form,
            lambda r: r.status == 200 and b'data-testid="results"' in r.body,
        )

    async def chart(self, rec: Recorder, patient: dict[str, Any] | None = None) -> None:
        patient = patient or self.rng.choice(self.panel)
        name = html.escape(patient["family_name"].upper()).encode()
        await self.timed(
            rec,
            "chart",
            "GET",
            f"/patients/{patient['uid']}/",
            None,
            lambda r: r.status == 200 and name in r.body,
        )

    async def entry(self, rec: Recorder) -> None:
        patient = self.rng.choice(self.panel)
        chart = f"/patients/{patient['uid']}/"
        if self.rng.random() < 0.5:
            kind = "encounter"
            values = {
                "reason": self.rng.choice(("Contrôle tension", "Toux", "Bilan annuel", "Fatigue")),
                "subjective": "Patient fictif, plainte stable depuis la dernière visite.",
                "objective": "Examen clinique sans particularité.",
                "assessment": "",
                "plan": "Revoir dans trois mois.",
            }
        else:
            kind = "observation"
            values = {
                "code": "bp",
                "value": f"{self.rng.randrange(105, 175)}/{self.rng.randrange(55, 100)}",
            }
        path = f"/clinical/{patient['uid']}/{kind}/new/"
        page = await self.timed(
            rec,
            "form",
            "GET",
            path,
            None,
            lambda r: r.status == 200 and b"csrfmiddlewaretoken" in r.body,
        )
        if page is None:
            return
        form = {"csrfmiddlewaretoken": cs.csrf_token(page.body), **values}
        done = await self.timed(
            rec, "entry", "POST", path, form, lambda r: r.status == 302 and r.location == chart
        )
        if done is not None:
            await self.chart(rec, patient)  # the browser follows the redirect

    async def agenda(self, rec: Recorder) -> None:
        await self.timed(
            rec,
            "agenda",
            "GET",
            f"/agenda/?day={self.day}",
            None,
            lambda r: r.status == 200 and b'<table class="results">' in r.body,
        )

    async def act(self, rec: Recorder, end: float, paced: bool) -> None:
        """Actions until ``end``: one every 3–10 s (``paced``), or one after the other."""
        names = [a for a, _ in ACTIONS]
        weights = [w for _, w in ACTIONS]
        if paced:  # people do not all start at the same second
            await asyncio.sleep(self.rng.uniform(0, 10))
        while time.monotonic() < end:
            action = self.rng.choices(names, weights)[0]
            await getattr(self, action)(rec)
            if paced:
                await asyncio.sleep(min(self.rng.uniform(3, 10), max(0.0, end - time.monotonic())))


async def log_in_all(users: list[User]) -> None:
    gate = asyncio.Semaphore(LOGINS_AT_ONCE)

    async def one(user: User) -> None:
        async with gate:
            await user.login()

    await asyncio.gather(*(one(u) for u in users))


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Phase:
    """One run of the mix on one instance: what it measured and what the machine did meanwhile."""

    label: str
    users: int
    rec: Recorder
    seconds: float
    load: tuple[float, float, float]
    others: float | None  # CPU share of other processes (chart_search.CpuMeter)
    client_cpu: float  # this client's CPU seconds per wall second
    rss: dict[str, float] = field(default_factory=dict)  # server label → largest VmRSS seen, MB
    appends: dict[str, float] = field(default_factory=dict)  # audit_bench.py's probe, if run
    cpu: dict[str, float] = field(default_factory=dict)  # role → CPU seconds during the phase

    @property
    def rps(self) -> float:
        return self.rec.requests() / self.seconds if self.seconds else 0.0


def p(values: list[float], q: float) -> float:
    return cs.percentile(values, q) if values else float("nan")


async def run_mix(
    label: str,
    users: list[User],
    servers: list[cs.Server],
    seconds: float,
    paced: bool,
    rec: Recorder | None = None,
) -> Phase:
    """``rec``: a recorder of the caller's (bench/twonode.py's keeps each request's time)."""
    rec = Recorder() if rec is None else rec
    meter = cs.CpuMeter([os.getpid()] + [s.proc.pid for s in servers if s.proc])
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    rss: dict[str, float] = {}
    roles_before = cpu_sample(servers)
    started = time.monotonic()
    sampler = asyncio.create_task(sample_memory(servers, rss))
    await asyncio.gather(*(u.act(rec, started + seconds, paced) for u in users))
    wall = time.monotonic() - started
    sampler.cancel()
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    roles = cpu_spent(roles_before, cpu_sample(servers))
    roles["client"] = spent
    phase = Phase(label, len(users), rec, wall, os.getloadavg(), meter.others(), spent / wall, rss)
    phase.cpu = roles
    return phase


def cpu_sample(servers: list[cs.Server]) -> dict[tuple[str, int], float]:
    """CPU seconds so far (user + system, /proc) of each process serving ``servers``, by (role,
    pid): the TLS front, gunicorn's arbiter, the workers (SQLite works inside them), the
    instance's other children (its audit signer, its periodic tasks), and the PostgreSQL
    server's processes, every one of them on this machine (no other database works here
    meanwhile); ("ended", postmaster) holds the time of PostgreSQL's processes that have ended
    (a connection's, replaced by Django after CONN_MAX_AGE), which the postmaster collected."""
    tick = os.sysconf("SC_CLK_TCK")
    spent: dict[tuple[str, int], float] = {}
    stat = cs.proc_stat
    for server in servers:
        for role, pid, _command in roles_of(server):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat(pid)
                spent[(role, pid)] = (int(fields[11]) + int(fields[12])) / tick
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            pid, fields = int(entry.name), stat(int(entry.name))
            spent[("database", pid)] = (int(fields[11]) + int(fields[12])) / tick
            if Path(f"/proc/{fields[1]}/comm").read_text().strip() != "postgres":
                spent[("ended", pid)] = (int(fields[13]) + int(fields[14])) / tick
    return spent


def cpu_spent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    """CPU seconds of each role between two samples: a process's difference; all of a process
    that started meanwhile; for a PostgreSQL process that ended meanwhile, what the postmaster
    collected of it, less what it had spent before."""
    spent: dict[str, float] = {}
    for key, now in after.items():
        role = "database" if key[0] == "ended" else key[0]
        spent[role] = spent.get(role, 0.0) + now - before.get(key, 0.0)
    for (role, pid), then in before.items():
        if role == "database" and (role, pid) not in after:
            spent[role] = spent.get(role, 0.0) - then
    return spent


def cpu_per_request(phase: Phase) -> str:
    """Where a request's time went in ``phase``: CPU milliseconds per request of each role."""
    done = phase.rec.requests()
    if not done or not phase.cpu:
        return ""
    names = {
        "front": "TLS front",
        "worker": "workers",
        "database": "PostgreSQL",
        "arbiter": "arbiter",
        "child": "signer and tasks",
        "client": "this client",
    }
    cells = [
        f"{name} {phase.cpu[role] / done * 1000:.1f}"
        for role, name in names.items()
        if role in phase.cpu
    ]
    total = sum(phase.cpu.values()) / done * 1000
    return f"CPU ms a request: {', '.join(cells)}; all {total:.1f}"


async def sample_memory(servers: list[cs.Server], peaks: dict[str, float]) -> None:
    """The largest VmRSS of any process of each server, read every second while a phase runs
    (VmHWM also counts the logins before it: Argon2 takes 100 MiB a hash)."""
    while True:
        for server in servers:
            top = max((rss for _, _, rss, _ in memory(server)), default=0.0)
            peaks[server.label] = max(peaks.get(server.label, 0.0), top)
        await asyncio.sleep(1.0)


def machine(phase: Phase) -> str:
    others = "?" if phase.others is None else f"{phase.others:.0%}"
    one, five, _ = phase.load
    return (
        f"load {one:.2f}/{five:.2f} on {os.cpu_count()} CPU, other processes {others}, "
        f"this client {phase.client_cpu:.0%} of a core"
    )


async def saturate(
    label: str, users: list[User], servers: list[cs.Server], step_seconds: float
) -> list[Phase]:
    """The mix without pause, doubling the users until p95 passes SATURATION_P95_MS."""
    steps = []
    n = 1
    while True:
        n = min(n, len(users))
        phase = await run_mix(label, users[:n], servers, step_seconds, paced=False)
        steps.append(phase)
        every = phase.rec.every()
        print(
            f"    [{label}] {n:>3} users without pause: {phase.rps:6.1f} req/s, "
            f"p95 {p(every, 95):6.1f} ms, {sum(phase.rec.errors.values())} errors "
            f"({machine(phase)})",
            flush=True,
        )
        print(f"          {cpu_per_request(phase)}", flush=True)
        if p(every, 95) > SATURATION_P95_MS or n == len(users):
            return steps
        n *= 2


def process_tree(root: int) -> list[tuple[int, int, str]]:
    """(pid, depth, command) of ``root`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int(cs.proc_stat(entry.name)[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        with contextlib.suppress(OSError):
            command = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode()
            out.append((pid, depth, command.strip()))
        todo.extend((c, depth + 1) for c in sorted(children.get(pid, []), reverse=True))
    return out


def memory(server: cs.Server) -> list[tuple[str, int, float, float]]:
    """(role, pid, VmRSS MB, VmHWM MB) of every process serving ``server``."""
    rows: list[tuple[str, int, float, float]] = []
    for role, pid, _command in roles_of(server):
        status = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                status[key] = value.strip()
        if "VmRSS" not in status:
            continue
        rss = int(status["VmRSS"].split()[0]) / 1024
        hwm = int(status.get("VmHWM", status["VmRSS"]).split()[0]) / 1024
        rows.append((role, pid, rss, hwm))
    return rows


def roles_of(server: cs.Server) -> list[tuple[str, int, str]]:
    """(role, pid, command) of every process serving ``server``: its front, gunicorn's arbiter
    (started by the front, secretum/lib/workers.py), the workers, and its other children."""
    if server.proc is None:
        return []
    found = []
    for pid, depth, command in process_tree(server.proc.pid):
        role = "front" if depth == 0 else ("worker" if depth >= 2 else "child")
        if depth == 1 and "secretum.lib.workers" in command:
            role = "arbiter"
        found.append((role, pid, command))
    return found


def server_log_findings(server: cs.Server, since: int) -> tuple[int, int, str]:
    """Tracebacks and "database is locked" in the server's log since byte ``since``, and the
    first traceback (what a defect report needs)."""
    text = server.log.read_bytes()[since:].decode(errors="replace")
    first = ""
    if "Traceback" in text:
        start = text.index("Traceback")
        first = "\n".join(text[start:].splitlines()[:40])
    return text.count("Traceback"), text.count("database is locked"), first


# --- one engine --------------------------------------------------------------------------------


@dataclass
class EngineResult:
    engine: str
    build: dict[str, dict[str, Any]]
    mix: dict[str, Phase]
    saturation: dict[str, list[Phase]]
    memory: dict[str, list[tuple[str, int, float, float]]]
    logs: dict[str, tuple[int, int, str]]
    appointments: int


def create_database(name: str) -> str:
    import psycopg

    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES + name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_probe(server: cs.Server, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """Audit appends beside the mix, on the same log (``audit_bench.py --probe-seconds``): the
    issue's append figure under many users. One every ``--probe-every`` s, for the mix's length
    less 20 s (the users start within its first 10 s)."""
    if not args.probe_every:
        return None
    command = [
        *(sys.executable, str(REPO / "bench" / "audit_bench.py"), "--reuse", str(server.home)),
        *("--database-url", server.database_url, "--probe-every", str(args.probe_every)),
        *("--probe-seconds", str(max(1.0, args.seconds - 20))),
    ]
    env = cs.instance_env(server.home, False, server.database_url)
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE)


def probe_figures(prober: subprocess.Popen[bytes]) -> dict[str, float]:
    out, _ = prober.communicate(timeout=600)
    if prober.returncode:
        print(f"    the audit append probe failed (exit {prober.returncode})", flush=True)
        return {}
    return json.loads(out.decode().strip().splitlines()[-1])


async def drive(
    servers: dict[str, cs.Server],
    manifests: dict[str, list[dict[str, Any]]],
    accounts: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> tuple[dict[str, Phase], dict[str, list[Phase]]]:
    count = max(args.users, args.max_users if args.saturation else 0)
    pools: dict[str, list[User]] = {}
    for label, server in servers.items():
        context = tls_context(server)
        everyone = manifests[label]
        pools[label] = [
            User(
                ACCOUNT.format(i + 1),
                Client(server.port, context, source_address(i)),
                [everyone[k] for k in accounts[label]["panels"][ACCOUNT.format(i + 1)]],
                everyone,
                random.Random(args.seed * 1000 + i),
                accounts[label]["day"],
            )
            for i in range(count)
        ]
        begun = time.monotonic()
        await log_in_all(pools[label])
        print(f"  [{label}] {count} users logged in ({time.monotonic() - begun:.1f} s)", flush=True)
    every = list(servers.values())
    mix = {}
    for label in cs.INSTANCES:
        print(f"  [{label}] mix: {args.users} users, {args.seconds:.0f} s…", flush=True)
        prober = start_probe(servers[label], args) if label == "secured" else None
        mix[label] = await run_mix(label, pools[label][: args.users], every, args.seconds, True)
        if prober is not None:
            mix[label].appends = await asyncio.to_thread(probe_figures, prober)
        print(f"    {mix[label].rec.requests()} requests ({machine(mix[label])})", flush=True)
    saturation: dict[str, list[Phase]] = {}
    if args.saturation:
        for label in cs.INSTANCES:
            print(f"  [{label}] saturation, {args.step_seconds:.0f} s a step…", flush=True)
            saturation[label] = await saturate(label, pools[label], every, args.step_seconds)
    for pool in pools.values():
        for user in pool:
            await user.client.close()
    return mix, saturation


def run_engine(engine: str, args: argparse.Namespace) -> EngineResult:
    if args.workdir and engine == "sqlite":
        root = args.workdir.resolve()
    else:  # PostgreSQL's databases are dropped at the end: nothing to reuse
        root = Path(tempfile.mkdtemp(prefix=f"secretum-load-{engine}-"))
    names = {label: f"bench_load_{os.getpid()}_{label}" for label in cs.INSTANCES}
    urls = {}
    servers: dict[str, cs.Server] = {}
    try:
        if engine == "postgresql":
            urls = {label: create_database(name) for label, name in names.items()}
        print(
            f"{ENGINE_TITLES[engine]}: building two practices of {args.patients} patients / "
            f"{args.entries} entries in {root}",
            flush=True,
        )
        build = cs.build_all(root, args, urls)
        count = max(args.users, args.max_users if args.saturation else 0)
        accounts = prepare_accounts(root, count, args.panel, args.seed, urls)
        manifests = {
            label: json.loads((root / label / "patients.json").read_text())
            for label in cs.INSTANCES
        }
        for label in cs.INSTANCES:
            servers[label] = cs.Server(
                label,
                root / label / "var",
                database_url=urls.get(label, ""),
                workers=args.workers,
                threads=args.threads,
            )
            servers[label].start()
        for server in servers.values():
            server.wait_ready()
        offsets = {label: s.log.stat().st_size for label, s in servers.items()}
        mix, saturation = asyncio.run(drive(servers, manifests, accounts, args))
        mem = {label: memory(server) for label, server in servers.items()}
        logs = {label: server_log_findings(s, offsets[label]) for label, s in servers.items()}
        return EngineResult(
            engine, build, mix, saturation, mem, logs, accounts["secured"].get("appointments", 0)
        )
    finally:
        for server in servers.values():
            server.stop()
        if engine == "postgresql":
            for name in names.values():
                drop_database(name)
        if not (args.workdir and engine == "sqlite"):
            shutil.rmtree(root, ignore_errors=True)


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: list[EngineResult], args: argparse.Namespace) -> None:
    line = "-" * 100
    print()
    print("Secretum benchmark: many users at once over HTTPS (issue 17)")
    print(
        f"  {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {os.cpu_count()} CPU · "
        f"Python {platform.python_version()} · {cs.code_version()}"
    )
    print(
        f"  {args.patients} patients / {args.entries} entries · each user's panel "
        f"{args.panel} patients · servers: TLS front + gunicorn {args.workers} workers × "
        f"{args.threads} threads"
    )
    print(
        "  mix: one action every 3–10 s per user among "
        + ", ".join(f"{a} {w} %" for a, w in ACTIONS)
        + " (a new entry is its form, its POST and the chart it redirects to)"
    )
    goals: list[tuple[str, bool]] = []
    for result in results:
        title = ENGINE_TITLES[result.engine]
        print(line)
        built = ", ".join(
            f"{label} {b['database_mb']:.0f} MB, {b['seconds']:.0f} s"
            for label, b in result.build.items()
        )
        print(f"{title}: build {built}; {result.appointments} appointments in the agenda's day")
        for label in cs.INSTANCES:
            phase = result.mix[label]
            print(
                f"  mix, {label}: {phase.users} users, {phase.seconds:.0f} s, "
                f"{phase.rec.requests()} requests, {phase.rps:.1f} req/s ({machine(phase)})"
            )
            print(f"    {cpu_per_request(phase)}")
        head = f"  {'operation':<20}{'n':>6}  {'secured p50':>11}{'p95':>7}{'p99':>7}{'err':>5}"
        print(
            head
            + f"  {'baseline p50':>12}{'p95':>7}{'p99':>7}{'err':>5}  {'ratio p50':>9}{'p95':>6}"
        )
        s_rec, b_rec = result.mix["secured"].rec, result.mix["baseline"].rec
        for op, name in OPERATIONS:
            s, b = s_rec.times.get(op, []), b_rec.times.get(op, [])
            r50 = p(s, 50) / p(b, 50) if s and b else float("nan")
            r95 = p(s, 95) / p(b, 95) if s and b else float("nan")
            print(
                f"  {name:<20}{len(s):>6}  {p(s, 50):>11.1f}{p(s, 95):>7.1f}{p(s, 99):>7.1f}"
                f"{s_rec.errors.get(op, 0):>5}  {p(b, 50):>12.1f}{p(b, 95):>7.1f}{p(b, 99):>7.1f}"
                f"{b_rec.errors.get(op, 0):>5}  {r50:>9.2f}{r95:>6.2f}"
            )
            if s:
                users = result.mix["secured"].users
                text = f"{title}, {users} users: {name} p95 {p(s, 95):.1f} ms"
                goals.append((text, p(s, 95) <= GOAL_P95_MS))
                text = f"{title}, {users} users: {name} ratio p50 / p95 {r50:.2f} / {r95:.2f}"
                goals.append((text, max(r50, r95) <= GOAL_RATIO))
        appends = result.mix["secured"].appends
        if appends:
            print(
                f"  audit append (record_event in its transaction) beside the secured mix, "
                f"{appends['appends']:.0f} appends by audit_bench.py's probe: p50 "
                f"{appends['p50']:.3f}, p95 {appends['p95']:.3f}, p99 {appends['p99']:.3f}, "
                f"max {appends['max']:.3f} ms"
            )
            if "lock_p95" in appends:
                print(
                    f"    of which taking the log's lock and its last number p50 "
                    f"{appends['lock_p50']:.3f}, p95 {appends['lock_p95']:.3f} ms; the INSERT "
                    f"p50 {appends['insert_p50']:.3f}, p95 {appends['insert_p95']:.3f} ms"
                )
            if result.engine == "postgresql":
                text = f"{title}: audit append p95 under the mix {appends['p95']:.3f} ms"
                goals.append((text, appends["p95"] <= GOAL_APPEND_P95_MS))
        for label, rec in (("secured", s_rec), ("baseline", b_rec)):
            print(
                f"  {label}: {sum(rec.errors.values())} errors, "
                f"{rec.locked} answers saying 'database is locked'"
            )
            for sample in rec.samples:
                print("    " + sample.replace("\n", "\n    "))
        clean = not s_rec.errors and not s_rec.locked and not result.logs["secured"][0]
        goals.append((f"{title}: no error, no 'database is locked' (secured, mix)", clean))
        for label, (tracebacks, locked, first) in result.logs.items():
            if tracebacks or locked:
                print(
                    f"  {label} server log: {tracebacks} tracebacks, {locked} 'database is locked'"
                )
                print("    " + first.replace("\n", "\n    "))
        for label, steps in result.saturation.items():
            print(
                f"  saturation, {label} (no pause, users doubling until p95 > "
                f"{SATURATION_P95_MS:.0f} ms):"
            )
            print(f"    {'users':>5}{'req/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}{'err':>5}  machine")
            for step in steps:
                every = step.rec.every()
                print(
                    f"    {step.users:>5}{step.rps:>8.1f}{p(every, 50):>7.1f}{p(every, 95):>7.1f}"
                    f"{p(every, 99):>7.1f}{sum(step.rec.errors.values()):>5}  {machine(step)}"
                )
            held = [s for s in steps if p(s.rec.every(), 95) <= SATURATION_P95_MS]
            top = max(held, key=lambda s: s.rps) if held else None
            best = top.rps if top else 0.0
            print(
                f"    sustained: {best:.1f} req/s "
                f"(the best step with p95 ≤ {SATURATION_P95_MS:.0f} ms)"
            )
            if top is not None:
                print(f"    where the time goes at that step: {cpu_per_request(top)}")
            if label == "secured":
                goals.append((f"{title}: saturation, sustained {best:.1f} req/s", best >= GOAL_RPS))
        print("  resident memory per server process after the runs (VmRSS now / VmHWM peak, MB):")
        for label, rows in result.memory.items():
            cells = ", ".join(f"{role} {pid} {rss:.0f}/{hwm:.0f}" for role, pid, rss, hwm in rows)
            print(f"    {label}: {cells}")
        phases = [result.mix["secured"], *result.saturation.get("secured", [])]
        during = max(phase.rss.get("secured", 0.0) for phase in phases)
        print(
            f"    largest VmRSS seen while the runs went on (sampled each second): {during:.0f} MB"
        )
        text = f"{title}: largest server process during the runs, {during:.0f} MB"
        goals.append((text, during <= GOAL_RSS_MB))
    print(line)
    print(
        f"Goals (issue 17): p95 ≤ {GOAL_P95_MS:.0f} ms under the mix at {GOAL_USERS} users "
        f"(this run: {args.users}), no error; ≥ {GOAL_RPS:.0f} req/s at saturation; "
        f"≤ {GOAL_RSS_MB:.0f} MB per process; ratio secured/baseline ≤ {GOAL_RATIO}"
    )
    for text, ok in goals:
        print(f"  {text:<86}{verdict(ok)}")


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--entries", type=int, help="clinical entries (default: 20 a patient)")
    parser.add_argument("--users", type=int, default=GOAL_USERS, help="users of the mix")
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the mix")
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="both")
    parser.add_argument("--panel", type=int, default=500, help="patients in each user's care")
    parser.add_argument(
        "--no-saturation", dest="saturation", action="store_false", help="the mix only"
    )
    parser.add_argument("--max-users", type=int, default=64, help="saturation's last step")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="each saturation step")
    parser.add_argument(
        "--probe-every",
        type=float,
        default=0.5,
        help="seconds between the audit appends timed beside the secured mix (0: none)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes a server")
    parser.add_argument("--threads", type=int, default=4, help="threads a gunicorn process")
    parser.add_argument(
        "--workdir", type=Path, help="keep the SQLite instances here (reused when present)"
    )
    # Internal: the accounts, made in a child process with the instance's environment.
    parser.add_argument("--accounts-for", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.entries is None:
        args.entries = 20 * args.patients
    if args.patients < 1 or args.users < 1 or args.seconds <= 0 or args.max_users < 2:
        parser.error("--patients and --users at least 1, --seconds above 0, --max-users at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.accounts_for:
        make_accounts(args.accounts_for, args.accounts, args.panel, args.seed)
        return 0
    engines = ENGINES if args.engine == "both" else (args.engine,)
    results = [run_engine(engine, args) for engine in engines]
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
