"""Browser tests: a real `secretum serve` over TLS, driven by Debian's Chromium (Playwright).

One instance for the whole session: `secretum init`, then `secretum demo --print` (fictitious
patients, N3), then `secretum serve` on a free port. No mocks: the browser talks HTTPS to
gunicorn, which runs the application on its own SQLite database.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.instances import INIT_SETTINGS, demo_output, fresh

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_TIMEOUT = 30.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Demo accounts (README): fictitious practice, demo passwords for a demo only.
PRACTITIONER = ("dr.martin", "demo-praticien-2026")
SECRETARY = ("accueil", "demo-secretaire-2026")


@dataclass(frozen=True)
class DemoPatient:
    """One line of `secretum demo --print`: `FAMILY Given<TAB>dd/mm/yyyy<TAB>yy.mm.dd-sss.cc`."""

    display_name: str
    family_name: str
    birth_date: str
    niss: str

    @property
    def niss_digits(self) -> str:
        return "".join(c for c in self.niss if c.isdigit())


@dataclass(frozen=True)
class Server:
    base_url: str
    patients: tuple[DemoPatient, ...]
    log: Path


def _family_name(display_name: str) -> str:
    # display_name is the family name in capitals, then the given name(s).
    words = display_name.split()
    family = []
    for word in words:
        if word != word.upper() or (family and len(family) == len(words) - 1):
            break
        family.append(word)
    return " ".join(family) or words[0]


def parse_demo_output(stdout: str) -> tuple[DemoPatient, ...]:
    patients = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise AssertionError(f"unexpected line from `secretum demo --print`: {line!r}")
        name, birth, niss = (p.strip() for p in parts)
        patients.append(DemoPatient(name, _family_name(name), birth, niss))
    return tuple(patients)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`secretum {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def _healthy(url: str) -> bool:
    context = ssl._create_unverified_context()  # noqa: S323  (the instance's self-signed cert)
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def running_server(folder: Path, **extra_env: str) -> Iterator[Server]:
    """`secretum init`, `secretum demo --print`, then `secretum serve` on a free port. The first
    two as a copy of the session's template instance that they made (tests/instances.py)."""
    env = os.environ.copy()
    env["SECRETUM_HOME"] = str(folder / "var")
    env.pop("SECRETUM_DATABASE_URL", None)
    env.pop("SECRETUM_DEBUG", None)
    env.update(extra_env)
    # The project's own source first, whatever the working directory of pytest.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )

    demo = ("--patients", "8", "--seed", "5", "--print")
    if INIT_SETTINGS.isdisjoint(env):  # as `init` then `demo` leave it: a copy (tests/instances.py)
        witness = env.get("SECRETUM_AUDIT_WITNESS")
        fresh(folder / "var", Path(witness) if witness else None, demo=demo)
        printed = demo_output(demo)
    else:
        _run(["init"], env, folder)
        printed = _run(["demo", *demo], env, folder).stdout
    patients = parse_demo_output(printed)
    if len(patients) != 8:
        raise RuntimeError(f"`secretum demo --print` listed {len(patients)} patients, not 8")

    port = _free_port()
    # localhost, not 127.0.0.1: WebAuthn needs a domain name as relying party.
    base_url = f"https://localhost:{port}"
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secretum.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--http-port",
                "0",
                "--workers",
                "1",
            ],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(f"https://127.0.0.1:{port}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"exited with code {process.returncode}"
                    if process.poll() is not None
                    else f"did not answer /healthz within {STARTUP_TIMEOUT:.0f} s"
                )
                app_log = folder / "var" / "logs" / "secretum.log"
                raise RuntimeError(
                    f"`secretum serve` {why}. Its output ({log}):\n"
                    + log.read_text(encoding="utf-8", errors="replace")
                    + (f"\n{app_log}:\n" + app_log.read_text()[-3000:] if app_log.exists() else "")
                )
            time.sleep(0.2)
        yield Server(base_url, patients, log)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("secretum-e2e")) as running:
        yield running


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.base_url


@pytest.fixture(scope="session")
def demo_patients(server: Server) -> tuple[DemoPatient, ...]:
    return server.patients


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "Install it with `apt-get install -y chromium` (CI does the same).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(ignore_https_errors=True, base_url=server.base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def fresh_page(browser: Any, server: Server) -> Iterator[Any]:
    """A second browser of its own beside ``page``: another person, or the same one elsewhere."""
    context = browser.new_context(ignore_https_errors=True, base_url=server.base_url)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- signing in: password, then a TOTP code, then the charter on a first login -------------------

_last_step: dict[str, int] = {}


def totp_code(username: str) -> str:
    """A code the server has not seen yet for this demo account (a code works once, B3)."""
    import pyotp

    from secretum.core.management.commands.demo import demo_totp_secret

    now_step = int(time.time() // 30)
    step = max(now_step, _last_step.get(username, 0) + 1)
    if step > now_step + 1:  # the server accepts one step ahead at most: wait for the clock
        time.sleep(max(0.0, (step - 1) * 30 - time.time()) + 0.5)
    _last_step[username] = step
    return pyotp.TOTP(demo_totp_secret(username)).at(step * 30)


_signed_in_cookies: dict[tuple[str, str], list[Any]] = {}


def sign_in(page: Any, account: tuple[str, str], fresh: bool = False) -> None:
    """Log in through the real pages; raise with what the page says when it fails.

    A session already opened by an earlier test for the same account is reused when it is
    still valid (each new login spends a TOTP code, and a code works once)."""
    from urllib.parse import urlsplit

    from playwright.sync_api import expect

    username, password = account
    page.goto("/healthz")
    parts = urlsplit(page.url)
    cache_key = (f"{parts.scheme}://{parts.netloc}", username)
    if not fresh and cache_key in _signed_in_cookies:
        page.context.add_cookies(_signed_in_cookies[cache_key])
        page.goto("/")
        if urlsplit(page.url).path == "/":
            return
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    if urlsplit(page.url).path != "/accounts/login/verify/":
        raise AssertionError(
            f"login as {username} failed at {page.url}: "
            + " ".join(page.inner_text("main").split())[:300]
        )
    page.fill("#id_code", totp_code(username))
    with page.expect_navigation():
        page.click("form:has(#id_code) button[type=submit]")
    if urlsplit(page.url).path == "/accounts/charter/":
        with page.expect_navigation():
            page.click("form:has(input[name=version]) button[type=submit]")
    if urlsplit(page.url).path.startswith("/accounts/login/"):
        raise AssertionError(
            f"second factor for {username} refused at {page.url}: "
            + " ".join(page.inner_text("main").split())[:300]
        )
    expect(page.locator("[data-testid=who]")).to_be_visible()
    _signed_in_cookies[cache_key] = page.context.cookies()
