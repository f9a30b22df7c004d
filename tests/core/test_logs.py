"""The instance's logs (``secretum.lib.logs``), in the application and behind `secretum serve`:
JSON lines, the request id on every line written during a request and on its access line (the
one its answer names in X-Request-Id, and its audit events record), no personal data (H2)."""

from __future__ import annotations

import json
import logging
import logging.config
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretum.lib import logs
from secretum.lib.logs import LogSettings
from secretum.patients import services as patients
from tests.conftest import SecureClient, actor_for, client_for, events, identity
from tests.serving import Served, serving

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# Fictitious, and unique enough that finding them anywhere in a log means they were written.
USERNAME = "xylo.fictive-login"
PASSWORD = "Fictive-passphrase-0077"
SECRET_QUERY = "token=do-not-log-4242"


def _records(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.log*"))
        if not path.name.endswith(".lock")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _everything(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in folder.iterdir())


@pytest.fixture
def log_folder(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """The application's logs in a folder of the test's own, at DEBUG: the most they write."""
    folder = tmp_path / "logs"
    logging.config.dictConfig(logs.dict_config(LogSettings(folder, "DEBUG")))
    try:
        yield folder
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_every_line_of_a_request_carries_the_id_its_answer_names(
    practitioner: Any, log_folder: Path
) -> None:
    client = client_for(practitioner)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    request_id = response["X-Request-Id"]
    assert UUID.fullmatch(request_id)
    logging.getLogger("secretum.xylo").warning("after the request")
    *during, after = _records(log_folder)
    assert any(line["message"] == "Not Found: /no-such-page/" for line in during)
    assert {line["request_id"] for line in during} == {request_id}
    assert after["request_id"] is None
    other = client.get("/no-such-page/")["X-Request-Id"]
    assert UUID.fullmatch(other) and other != request_id


def test_a_request_s_audit_events_carry_its_id_too(db: Any) -> None:
    client = SecureClient()
    page = client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"username": USERNAME, "password": PASSWORD},
        HTTP_REFERER="https://testserver/accounts/login/",
    )
    assert response.status_code in (200, 429), page.status_code
    (event,) = events(action="login-failed")
    assert event.request_id == response["X-Request-Id"]


def test_no_personal_data_is_written_even_at_debug(
    settings: Any, practitioner: Any, log_folder: Path
) -> None:
    """H2: a login's user name and password, a search's name, a query string's token: none in
    the logs at DEBUG, with Django's debug cursor on (which would log each SQL statement with
    its parameters)."""
    settings.DEBUG = True
    person = identity(family_name="Xylophanova")
    client = client_for(practitioner)
    patients.register_patient(actor_for(practitioner), person)
    assert client.post("/patients/", {"q": "Xylophanova"}).status_code == 200
    assert client.get("/patients/?" + SECRET_QUERY).status_code in (200, 400)
    SecureClient().post("/accounts/login/", {"username": USERNAME, "password": PASSWORD})
    logging.getLogger("secretum.xylo").debug("DEBUG lines reach the file")
    text = _everything(log_folder)
    assert "DEBUG lines reach the file" in text
    for said in ("Xylophanova", USERNAME, PASSWORD, "do-not-log-4242", person["niss"]):
        assert said not in text, said


# --- behind `secretum serve`: the front, the workers, gunicorn ---------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = {"SECRETUM_LOG_LEVEL": "INFO"}  # gunicorn's own lines too
    with serving(tmp_path_factory.mktemp("logs"), "--workers", "1", settings=settings) as running:
        yield running


def _get(served: Served, path: str) -> tuple[int, str]:
    status, request_id, _body = _fetch(served, path)
    return status, request_id


def _fetch(served: Served, path: str) -> tuple[int, str, bytes]:
    conn = served.connect(timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("X-Request-Id", ""), body
    finally:
        conn.close()


def _access_line(served: Served, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in served.access_lines() if line["request_id"] == request_id]
        if found:
            (line,) = found
            return line
        assert time.monotonic() < deadline, served.access_lines()[-10:]
        time.sleep(0.1)


def test_each_request_is_one_access_line_with_its_id_and_never_its_query(served: Served) -> None:
    status, request_id, body = _fetch(served, "/healthz?" + SECRET_QUERY)
    assert status == 200 and UUID.fullmatch(request_id)
    line = _access_line(served, request_id)
    assert (
        line.items()
        >= {
            "logger": logs.ACCESS_LOGGER,
            "level": "INFO",
            "message": "GET /healthz 200",
            "client": "127.0.0.1",
            "method": "GET",
            "path": "/healthz",
            "status": 200,
            "bytes": len(body),
        }.items()
    )
    assert list(line)[5:] == list(logs.ACCESS_FIELDS)
    assert isinstance(line["duration_ms"], int)
    # A static file never reaches Django's middleware: its id comes from the workers all the same.
    status, static_id = _get(served, "/static/secretum.css?v=" + SECRET_QUERY)
    assert status == 200 and _access_line(served, static_id)["path"] == "/static/secretum.css"
    assert "do-not-log" not in _everything(served.logs) + served.log.read_text()


def test_the_application_s_lines_and_the_access_line_share_the_request_id(served: Served) -> None:
    status, request_id = _get(served, "/no-such-page/?" + SECRET_QUERY)
    assert status == 404
    assert _access_line(served, request_id)["status"] == 404
    (warning,) = [
        line
        for line in _records(served.logs)
        if line["logger"] == "django.request" and line["request_id"] == request_id
    ]
    assert warning["message"] == "Not Found: /no-such-page/" and warning["level"] == "WARNING"


def test_the_front_s_own_answers_have_an_id_and_the_same_fields(served: Served) -> None:
    """G4 and H2: a request the front refuses (505) never reaches a worker; its access line is
    written by the front, with a request id of its own and the path without its query."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
        with served.context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(f"GET /refused?{SECRET_QUERY} HTTP/2.0\r\nHost: x\r\n\r\n".encode())
            assert tls.recv(100).startswith(b"HTTP/1.1 505")
    deadline = time.monotonic() + 10
    while not (found := [x for x in served.access_lines() if x["path"] == "/refused"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (line,) = found
    assert line["status"] == 505 and line["method"] == "GET" and UUID.fullmatch(line["request_id"])
    assert list(line)[5:] == list(logs.ACCESS_FIELDS)


def test_a_login_leaves_no_name_nor_password_in_the_logs(served: Served) -> None:
    conn = served.connect(timeout=10)
    conn.request("GET", "/accounts/login/")
    page = conn.getresponse()
    html = page.read().decode()
    cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token
    form = {"csrfmiddlewaretoken": token.group(1), "username": USERNAME, "password": PASSWORD}
    conn.request(
        "POST",
        "/accounts/login/?" + SECRET_QUERY,
        body=urllib.parse.urlencode(form),
        headers={
            "Cookie": cookie,
            "Referer": f"https://127.0.0.1:{served.port}/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status in (200, 429)
    _access_line(served, response.getheader("X-Request-Id", ""))
    text = _everything(served.logs) + served.log.read_text()
    for said in (USERNAME, PASSWORD, "do-not-log"):
        assert said not in text, said


def test_the_log_files_are_the_owner_s_alone(served: Served) -> None:
    assert served.logs.stat().st_mode & 0o777 == 0o700
    names = {p.name for p in served.logs.iterdir()}
    assert {"secretum.log", "access.log"} <= names
    for path in served.logs.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_gunicorn_s_own_lines_are_json_lines_of_secretum_log(served: Served) -> None:
    """Every line of every file parses as one object (``_records``), gunicorn's too."""
    lines = [x for x in _records(served.logs) if x["logger"] == "gunicorn.error"]
    assert any(x["message"].startswith("Booting worker") for x in lines), lines
    assert all(x["level"] == "INFO" and x["request_id"] is None for x in lines)
