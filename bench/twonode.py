"""Beyond one machine: two `secretum serve` nodes over one PostgreSQL behind HAProxy, one killed.

Issue 17's scale-out path: stateless serving nodes over one PostgreSQL. This builds one secured
practice of ``chart_search.py`` (database ``bench_twonode``, dropped at the end) with the load
accounts of ``load.py``, gives a second node a home as a provider makes one (``secretum node
export`` on the first, ``secretum node join`` on the second: the installation's key material, a
TLS pair of its own), serves both with ``secretum serve`` (TLS front, gunicorn
2 × 4 threads, audit signer, periodic tasks) behind Debian's HAProxy (installed when missing).
``load.py``'s users (``User``, ``Client``, ``log_in_all``, ``run_mix``) log in once and run:

**one node** (``--seconds`` through a frontend of node 1 alone), then **two nodes** (the same
sessions, both nodes, ``--seconds``; the signer's node is then killed, SIGKILL to its whole tree,
and the mix goes on ``--after`` seconds). A thread samples ``pg_locks`` (``SIGNER_LOCK``, who
signs) and HAProxy's view of the nodes every 0.5 s. Each acknowledged write (a new entry's POST
answered by the redirect to its chart) is looked for afterwards by the surviving node; then
``secretum audit verify``. A measurement, never a test: exits 0. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_search as cs
import load

REPO = cs.REPO
LABEL = "secured"
DATABASE = "bench_twonode"
HAPROXY = Path("/usr/sbin/haproxy")
VERIFY = ("-m", "secretum.cli", "audit", "verify")
SIGNERS_SQL = (
    "SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted "
    "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s AND database = "
    "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
)


def node_env(home: Path, url: str) -> dict[str, str]:
    env = cs.instance_env(home, False, url)
    # Behind a provider's proxy: the front lets it open more than 32 connections (every one
    # comes from its address), Django believes its X-Forwarded-Proto and, from it alone
    # (127.0.0.1), X-Forwarded-For: the audit log names each user's own address.
    env["SECRETUM_BEHIND_PROXY"] = "1"
    env["SECRETUM_TRUSTED_PROXIES"] = "127.0.0.1/32"
    # The daily backup would start at once on each node (I1): a provider runs it from one place.
    env["SECRETUM_BACKUP_EVERY"] = "0"
    return env


@dataclass
class Node(cs.Server):
    """``secretum serve`` of one node, in a session of its own."""

    killed_at: float = 0.0

    def start(self) -> None:
        self.port = cs.free_port()
        self.log = self.home.parent / f"{self.label}.log"
        # fmt: off
        command = [
            sys.executable, "-m", "secretum.cli", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--http-port", "0", "--workers", "2", "--threads", "4",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, env=node_env(self.home, self.database_url), cwd=REPO, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        # fmt: on

    def tree(self) -> list[int]:
        return [pid for pid, _, _ in load.process_tree(self.proc.pid)] if self.proc else []

    def kill(self) -> int:
        """The node lost at once: SIGKILL to its whole tree. Serve starts its signer and periodic
        tasks in process groups of their own, so its group alone would leave them running."""
        pids = self.tree()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed_at = time.monotonic()
        if self.proc is not None:
            self.proc.wait(timeout=10)
        return len(pids)

    def stop(self) -> None:
        pids = self.tree()
        super().stop()  # SIGTERM: the workers drain, the signer signs once more
        for pid in pids:  # whatever outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def said(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0


def second_home(first: Path, home: Path, url: str) -> None:
    """A node's home, made as a provider makes one: the installation's key material exported by
    the first node under a passphrase shown once, taken by the second (its own TLS pair)."""
    material, secret = first.parent / "node-material.age", first.parent / "node-material.pass"
    made = child(first, url, "-m", "secretum.cli", "node", "export", "--out", str(material))
    if made.returncode != 0:
        raise SystemExit(f"secretum node export failed:\n{made.stdout}{made.stderr}")
    secret.write_text(made.stdout.split("Passphrase, shown once: ")[1].split()[0])
    secret.chmod(0o600)
    joined = child(home, url, "-m", "secretum.cli", "node", "join", str(material),
                   "--passphrase-file", str(secret))  # fmt: skip
    material.unlink()
    secret.unlink()
    if joined.returncode != 0:
        raise SystemExit(f"secretum node join failed:\n{joined.stdout}{joined.stderr}")


def ensure_haproxy() -> None:
    if HAPROXY.exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing haproxy (Debian package)…", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "haproxy"]):
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    if not HAPROXY.exists():
        raise SystemExit("bench/twonode.py needs HAProxy: run `sudo apt-get install haproxy`")


def haproxy_config(root: Path, ports: dict[str, int], nodes: list[Node]) -> str:
    """HAProxy terminates TLS 1.2+ and re-encrypts to each node's own TLS front, verifying its
    certificate. A hosting provider does this rather than pass TLS through (TCP mode): the
    balancer then sees each request, so a node's death costs only the requests in flight on it
    (the users' connections to the balancer stay open, their next request goes to the other
    node) and the health check reads `/healthz` itself (503 when the node's signer stopped); it
    tells the nodes each user's address (X-Forwarded-For, trusted from it alone) where TCP mode
    would show the balancer's; and it is where a provider puts its certificate and limits.
    Re-encrypting keeps health data encrypted on the provider's network too (H3). Only a request
    never sent is retried elsewhere (HAProxy's default `retry-on conn-failure`): a POST in
    flight on the dead node fails, and is never sent twice."""
    home, pem = nodes[0].home, root / "haproxy.pem"
    pem.write_bytes((home / "tls/cert.pem").read_bytes() + (home / "tls/key.pem").read_bytes())
    pem.chmod(0o600)
    check = "ssl verify required verifyhost localhost"
    check += " ssl-min-ver TLSv1.2 check inter 500ms fastinter 250ms downinter 1s fall 2 rise 2"
    out = f"""global
    maxconn 4000
    stats socket {root / "haproxy.sock"} mode 600 level admin
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 2s
    timeout client 130s
    timeout server 130s
    timeout http-keep-alive 60s
    retries 2
    option redispatch 1
"""
    for name, port in ports.items():
        out += f"""frontend {name}
    bind 127.0.0.1:{port} ssl crt {pem} alpn http/1.1
    http-request del-header X-Forwarded-For
    http-request set-header X-Forwarded-Proto https
    option forwardfor
    default_backend {name}
backend {name}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server {check}
"""
        members = nodes[:1] if name == "one" else nodes
        # Each node's own certificate (``secretum node join`` makes one per node).
        out += "".join(
            f"    server {n.label} 127.0.0.1:{n.port} ca-file {n.home / 'tls/cert.pem'}\n"
            for n in members
        )
    return out


def haproxy_states(sock: Path) -> dict[str, str]:
    """HAProxy's view of each node of the two-node backend (UP, DOWN, …)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(sock))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    states = {}
    for row in data.decode().splitlines():
        cells = row.split(",")
        if len(cells) > 17 and cells[0] == "both" and cells[1] not in ("FRONTEND", "BACKEND"):
            states[cells[1]] = cells[17]
    return states


class Stamped(list[float]):
    """A list of latencies that also keeps when each was appended."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, value: float) -> None:
        super().append(value)
        self.at.append(time.monotonic())


class StampedTimes(dict[str, list[float]]):
    def setdefault(self, key: str, default: list[float] | None = None) -> list[float]:
        return self[key] if key in self else super().setdefault(key, Stamped())


@dataclass
class Watched(load.Recorder):
    """``load.Recorder`` with each request's time, each error's, and the writes answered."""

    error_at: list[tuple[float, str, str]] = field(default_factory=list)
    acked: list[dict[str, Any]] = field(default_factory=list)
    failed_writes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.times = StampedTimes()

    def error(self, op: str, what: str) -> None:
        super().error(op, what)
        self.error_at.append((time.monotonic(), op, what.split("\n")[0]))


class WritingUser(load.User):
    """``load.User``; a consultation note carries a reference of its own, and every POST of a new
    entry is kept: acknowledged (the redirect to the chart) or not."""

    # fmt: off
    async def timed(
        self, rec: load.Recorder, op: str, method: str, path: str, form: dict[str, str] | None,
        ok: Callable[[load.Response], bool],
    ) -> load.Response | None:
        # fmt: on
        if form is None or op != "entry" or not isinstance(rec, Watched):
            return await super().timed(rec, op, method, path, form, ok)
        _, _, uid, kind, _, _ = path.split("/")
        write = {"user": self.username, "patient": uid, "kind": kind}
        if kind == "encounter":
            form["objective"] += f" Réf. {uuid.uuid4().hex[:16]}"
            write["text"] = form["objective"]
        else:
            write["text"] = form["value"]
        answer = await super().timed(rec, op, method, path, form, ok)
        (rec.acked if answer is not None else rec.failed_writes).append(write)
        return answer


Sample = tuple[float, list[int], dict[str, str]]


def watch(url: str, sock: Path, samples: list[Sample], stop: threading.Event) -> None:
    """Every 0.5 s: the sessions holding the signer's lock, and HAProxy's state of each node."""
    import psycopg

    from secretum.audit.election import SIGNER_LOCK

    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            pids = [r[0] for r in conn.execute(SIGNERS_SQL, [SIGNER_LOCK])]
            states: dict[str, str] = {}
            with contextlib.suppress(OSError):
                states = haproxy_states(sock)
            samples.append((time.monotonic(), pids, states))
            stop.wait(0.5)


async def drive(
    nodes: list[Node], ports: dict[str, int], args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    context = load.tls_context(nodes[0])
    manifest = json.loads((root / LABEL / "patients.json").read_text())
    accounts = json.loads((root / LABEL / "accounts.json").read_text())
    # fmt: off
    users: list[load.User] = [
        WritingUser(
            name, load.Client(ports["both"], context, load.source_address(i)),
            [manifest[k] for k in accounts["panels"][name]], manifest,
            random.Random(args.seed * 1000 + i), accounts["day"],
        )
        for i, name in enumerate(load.ACCOUNT.format(i + 1) for i in range(args.users))
    ]
    # fmt: on
    begun = time.monotonic()
    await load.log_in_all(users)
    print(f"  {args.users} users logged in through HAProxy ({time.monotonic() - begun:.1f} s)")
    for user in users:  # the same sessions, through the frontend of node 1 alone
        await user.client.close()
        user.client.port = ports["one"]
    print(f"  one node: the mix for {args.seconds:.0f} s…", flush=True)
    one = await load.run_mix("one node", users, [nodes[0]], args.seconds, True, Watched())
    print(f"    {one.rec.requests()} requests ({load.machine(one)})", flush=True)
    for user in users:
        await user.client.close()
        user.client.port = ports["both"]
    leader = max(nodes, key=lambda n: n.said("audit signer: elected"))
    rec = Watched()
    kill_load: list[tuple[float, float, float]] = []

    async def kill_later() -> None:
        await asyncio.sleep(args.seconds)
        kill_load.append(os.getloadavg())
        count = leader.kill()
        print(f"    killed {leader.label} (the signer's node): SIGKILL to {count} processes")

    total = args.seconds + args.after
    print(f"  two nodes: the mix for {total:.0f} s, {leader.label} killed at {args.seconds:.0f} s…")
    killer = asyncio.create_task(kill_later())
    two = await load.run_mix("two nodes", users, list[cs.Server](nodes), total, True, rec)
    await killer
    print(f"    {two.rec.requests()} requests ({load.machine(two)})", flush=True)
    for user in users:
        await user.client.close()
    return {"one": one, "two": two, "rec": rec, "leader": leader, "kill_load": kill_load[0]}


def check_writes(path: Path) -> None:
    """In the surviving node's environment: every acknowledged write is in the database, read as
    its author reads it (the service layer: the gate, the audit event, the record's integrity
    check, decryption with this node's keys). A consultation note by its reference, an
    observation by its value (each user's own, for its patient, since the run began: as many as
    acknowledged)."""
    import django

    django.setup()
    from secretum.access.actor import Actor
    from secretum.accounts.models import User
    from secretum.clinical.services import access_chart

    plan = json.loads(path.read_text())
    fields = {"encounter": "objective", "observation": "value"}
    since = dt.datetime.fromisoformat(plan["since"])
    found: dict[tuple[str, str, str], collections.Counter[str]] = {}
    result: dict[str, Any] = {}
    for group in ("acked", "failed"):
        missing = []
        for write in plan[group]:
            ident = (write["user"], write["patient"], write["kind"])
            if ident not in found:
                author = User.objects.get(username=write["user"])
                chart = access_chart(Actor.for_user(author, source="bench"), write["patient"])
                found[ident] = collections.Counter(
                    entry.values.get(fields[write["kind"]]) or ""
                    for entry in chart.entries.get(write["kind"], [])
                    if entry.author == str(author) and entry.recorded_at >= since
                )
            if found[ident][write["text"]] > 0:
                found[ident][write["text"]] -= 1
            else:
                missing.append(write)
        result[group] = {"count": len(plan[group]), "missing": missing}
    print(json.dumps(result))


def child(home: Path, url: str, *command: str) -> subprocess.CompletedProcess[str]:
    """A Python child in the environment of the node at ``home``."""
    return subprocess.run(
        [sys.executable, *command],
        env=cs.instance_env(home, False, url),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def figures(title: str, rec: load.Recorder, window: tuple[float, float], machine: str) -> None:
    """Requests/s and p50/p95/p99 per operation of the requests ended within ``window``."""
    lo, hi = window
    fails = [op for at, op, _ in getattr(rec, "error_at", []) if lo <= at < hi]
    total = len(fails)
    print(f"  {title}: {hi - lo:.0f} s ({machine})")
    print(f"    {'operation':<20}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'err':>5}")
    for op, name in load.OPERATIONS:
        times = rec.times.get(op, Stamped())
        kept = [v for v, at in zip(times, getattr(times, "at", []), strict=True) if lo <= at < hi]
        total += len(kept)
        cells = "".join(f"{load.p(kept, q):>8.1f}" for q in (50, 95, 99))
        print(f"    {name:<20}{len(kept):>6}{cells}{fails.count(op):>5}")
    print(f"    {total / (hi - lo):.1f} requests/s, {len(fails)} errors")


def stamps(rec: load.Recorder) -> list[float]:
    return sorted(at for times in rec.times.values() for at in getattr(times, "at", []))


def report(run: dict[str, Any], args: argparse.Namespace) -> None:
    one, two, rec, leader = run["one"], run["two"], run["rec"], run["leader"]
    samples, writes, line = run["samples"], run["writes"], "-" * 100
    print("\nSecretum benchmark: two nodes behind HAProxy, one killed mid-run (issue 17)")
    print(
        f"  {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {os.cpu_count()} CPU · "
        f"{cs.code_version()} · {run['haproxy']}"
    )
    build = run["build"]
    print(
        f"  {args.patients} patients / {args.entries} entries on PostgreSQL (build "
        f"{build['seconds']:.0f} s, {build['database_mb']:.0f} MB) · {args.users} users, "
        "the mix of load.py · each node: secretum serve, 2 workers × 4 threads\n" + line
    )
    ends, kill = stamps(one.rec), leader.killed_at
    window = (ends[0] - 1e-3, ends[-1] + 1e-3)
    figures("one node through HAProxy", one.rec, window, load.machine(one))
    at_kill = load.machine(dataclasses.replace(two, load=run["kill_load"]))
    ends = stamps(rec)
    figures("two nodes through HAProxy, before the kill", rec, (ends[0] - 1e-3, kill), at_kill)
    figures("after the kill, one node left", rec, (kill, ends[-1] + 1e-3), load.machine(two))
    print(
        f"  Two nodes on the same {os.cpu_count()} cores are not faster than one: they share the "
        "CPUs. What this run shows is the failover.\n" + line
    )
    print(f"Failover: {leader.label} (the signer's node) killed at t = 0: SIGKILL, its whole tree")
    after = [(at - kill, op, what) for at, op, what in rec.error_at if at >= kill - 1]
    before = len(rec.error_at) - len(after)
    span = f", from t = {after[0][0]:+.2f} s to {after[-1][0]:+.2f} s" if after else ""
    print(f"  {len(after)} requests failed around the kill{span}; {before} errors before it")
    for at, op, what in after[:8]:
        print(f"    t = {at:+.2f} s  {op}: {what[:110]}")
    soon = [
        v for t in rec.times.values() for v, at in zip(t, t.at, strict=True) if 0 <= at - kill < 5
    ]
    print(f"  slowest answer in the 5 s after the kill: {max(soon, default=0):.0f} ms")
    logins = sum(1 for _, _, what in rec.error_at if "/accounts/login" in what)
    served = sum(1 for at in ends if at >= kill)
    print(
        f"  sessions: {served} requests answered after the kill with the cookies of the one "
        f"login, {logins} sent back to the login page"
    )
    down = [at - kill for at, _, s in samples if at >= kill and s.get(leader.label) != "UP"]
    print("  HAProxy: the node " + (f"DOWN at t = {down[0]:+.2f} s" if down else "never DOWN"))
    counts = collections.Counter(len(pids) for _, pids, _ in samples)
    print(
        f"  signer's lock in pg_locks ({len(samples)} samples, every 0.5 s): "
        + ", ".join(f"{n} holder(s) in {c}" for n, c in sorted(counts.items()))
    )
    zero = [at - kill for at, pids, _ in samples if not pids]
    back = next((at - kill for at, pids, _ in samples if pids and zero and at - kill > zero[0]), 0)
    if zero:
        print(f"  no holder from t = {zero[0]:+.2f} s to {zero[-1]:+.2f} s; one at {back:+.2f} s")
    holders = sorted({tuple(pids) for _, pids, _ in samples if pids})
    print(f"  lock holders (PostgreSQL backend pids): {holders}")
    for node in run["nodes"]:
        said = [node.said(f"audit signer: {w}") for w in ("elected", "standing by")]
        print(f"  {node.label}: 'elected' {said[0]}, 'standing by' {said[1]} (its log)")
    a, f = writes["acked"], writes["failed"]
    print(
        f"{line}\nAcknowledged writes (new entries answered by the redirect to their chart): "
        f"{a['count']}; found by the surviving node: {a['count'] - len(a['missing'])}; "
        f"missing: {len(a['missing'])}"
    )
    print("".join(f"    missing: {write}\n" for write in a["missing"][:5]), end="")
    print(f"  failed writes: {f['count']}, of which {f['count'] - len(f['missing'])} committed")
    for name, done in run["verified"].items():
        tail = "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        print(f"secretum audit verify, {name}'s home (exit {done.returncode}):\n    {tail}")
    print(line)
    checks = [
        ("no acknowledged write lost", a["count"] > 0 and not a["missing"]),
        ("sessions continue on the other node (none sent to the login page)", logins == 0),
        ("never two signers", max(counts) <= 1),
        ("no signer only after the kill, for at most 6 s", all(0 <= z <= 6 for z in zero)),
        ("one signer at the end", bool(samples) and len(samples[-1][1]) == 1),
        ("secretum audit verify passes", all(v.returncode == 0 for v in run["verified"].values())),
        ("a key rotation on node1 is refused while node2 serves", run["rotation_refused"]),
    ]
    for text, good in checks:
        print(f"  {text:<86}{'PASS' if good else 'MISS'}")


def run(args: argparse.Namespace) -> None:
    ensure_haproxy()
    root = Path(tempfile.mkdtemp(prefix="secretum-twonode-"))
    url = load.create_database(DATABASE)
    nodes: list[Node] = []
    haproxy: subprocess.Popen[bytes] | None = None
    samples: list[Sample] = []
    stop = threading.Event()
    try:
        print(f"Building one practice of {args.patients} patients in {root} (PostgreSQL)")
        build = cs.build_all(root, args, {LABEL: url}, (LABEL,))[LABEL]
        load.prepare_accounts(root, args.users, args.panel, args.seed, {LABEL: url}, (LABEL,))
        first = root / LABEL / "var"
        homes = [first, root / "node2" / "var"]
        second_home(first, homes[1], url)
        nodes = [Node(f"node{i + 1}", home, database_url=url) for i, home in enumerate(homes)]
        for node in nodes:
            node.start()
            node.wait_ready(120)
            time.sleep(2)  # node 1's signer is elected first
        ports = {"one": cs.free_port(), "both": cs.free_port()}
        (root / "haproxy.cfg").write_text(haproxy_config(root, ports, nodes))
        haproxy = subprocess.Popen(
            [str(HAPROXY), "-db", "-f", str(root / "haproxy.cfg")],
            stdout=(root / "haproxy.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if list(haproxy_states(root / "haproxy.sock").values()) == ["UP", "UP"]:
                    break
            time.sleep(0.5)
        else:
            raise SystemExit(
                f"HAProxy does not see both nodes UP:\n{(root / 'haproxy.log').read_text()}"
            )
        print(f"  HAProxy: {ports['one']} → node1, {ports['both']} → node1 + node2", flush=True)
        # E10, O2: each node announced itself; a rotation on one would leave the other's copy of
        # the key file behind, so it is refused while both serve (secretum.crypto.nodes).
        rotate = child(first, url, "-m", "secretum.cli", "keys", "rotate")
        refused = rotate.returncode != 0 and str(homes[1].resolve()) in rotate.stderr
        thread = threading.Thread(
            target=watch, args=(url, root / "haproxy.sock", samples, stop), daemon=True
        )
        since = dt.datetime.now(dt.UTC)
        thread.start()
        result = asyncio.run(drive(nodes, ports, args, root))
        time.sleep(6)  # a beat of the survivor's signer after the run
        stop.set()
        thread.join(timeout=10)
        survivor = next(n for n in nodes if n is not result["leader"])
        plan = root / "writes.json"
        recs = [result["one"].rec, result["rec"]]
        acked = [w for r in recs for w in r.acked]
        failed = [w for r in recs for w in r.failed_writes]
        plan.write_text(json.dumps({"since": since.isoformat(), "acked": acked, "failed": failed}))
        checked = child(
            survivor.home, url, str(Path(__file__).resolve()), "--check-writes", str(plan)
        )
        if checked.returncode != 0:
            raise SystemExit(f"checking the writes failed:\n{checked.stderr[-3000:]}")
        for node in nodes:
            node.stop()
        # Each node's witness is its own (README, hosting providers): verified from each home.
        verified = {n.label: child(n.home, url, *VERIFY) for n in nodes}
        result.update(
            nodes=nodes,
            samples=samples,
            build=build,
            haproxy=subprocess.check_output([HAPROXY, "-v"], text=True).splitlines()[0],
            verified=verified,
            rotation_refused=refused,
            writes=json.loads(checked.stdout.strip().splitlines()[-1]),
        )
        report(result, args)
    finally:
        stop.set()
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait(timeout=10)
        for node in nodes:
            node.stop()
        load.drop_database(DATABASE)
        shutil.rmtree(root, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--entries", type=int, help="clinical entries (default: 20 a patient)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="the one-node phase; two nodes before the kill"
    )
    parser.add_argument("--after", type=float, default=60.0, help="the mix after the kill")
    parser.add_argument("--panel", type=int, default=500, help="patients in each user's care")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--check-writes", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.entries = 20 * args.patients if args.entries is None else args.entries
    return args


def main(argv: list[str] | None = None) -> int:
    args, started = parse_args(argv), time.monotonic()
    if args.check_writes:
        check_writes(args.check_writes)
        return 0
    run(args)
    print(f"(the whole run took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
