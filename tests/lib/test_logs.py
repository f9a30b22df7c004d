"""Secretum's logs (``secretum.lib.logs``): one JSON object per line, the request id on each line
written during a request, owner-only files that several processes rotate together (H2)."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretum.lib import logs
from secretum.lib.logs import LogSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[logging.Logger]:
    """A logger of its own writing the instance's way into tmp_path/logs, 10 kB files."""
    conf = logs.dict_config(LogSettings(tmp_path / "logs", "DEBUG", 10_000, 3))
    config = {
        **conf,
        "root": {"handlers": [], "level": "WARNING"},
        "loggers": {
            "xylo.app": {"handlers": ["app"], "level": "DEBUG", "propagate": False},
            logs.ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
    logging.config.dictConfig(config)
    yield logging.getLogger("xylo.app")
    for name in ("xylo.app", logs.ACCESS_LOGGER):
        for h in logging.getLogger(name).handlers:
            h.close()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_record_is_one_json_object_with_the_common_fields(
    logger: logging.Logger, tmp_path: Path
) -> None:
    logger.warning('first line\nsecond line "quoted" é')
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    raw = (tmp_path / "logs" / "secretum.log").read_text(encoding="utf-8")
    assert raw.count("\n") == 2  # a line break in a message or a traceback stays escaped
    first, second = _lines(tmp_path / "logs" / "secretum.log")
    assert list(first) == ["time", "level", "logger", "message", "request_id"]
    assert first["message"] == 'first line\nsecond line "quoted" é'
    assert (first["level"], first["logger"], first["request_id"]) == ("WARNING", "xylo.app", None)
    assert str(first["time"]).endswith("Z") and "T" in str(first["time"])
    assert second["message"] == "failed" and "ValueError: boom" in str(second["exception"])


def test_lines_written_during_a_request_carry_its_id_and_only_those(
    logger: logging.Logger, tmp_path: Path
) -> None:
    token = logs.REQUEST_ID.set("11111111-2222-4333-8444-555555555555")
    logger.warning("inside")
    logs.REQUEST_ID.reset(token)
    logger.warning("outside")
    inside, outside = _lines(tmp_path / "logs" / "secretum.log")
    assert inside["request_id"] == "11111111-2222-4333-8444-555555555555"
    assert outside["request_id"] is None


def test_an_access_line_holds_the_access_fields_and_never_overrides_the_common_ones(
    logger: logging.Logger, tmp_path: Path
) -> None:
    fields = {"client": "127.0.0.9", "method": "GET", "path": "/patients/", "status": 200}
    fields |= {"bytes": 12, "duration_ms": 3, "level": "forged", "message": "forged"}
    logs.log_access(logging.getLogger(logs.ACCESS_LOGGER), "rid-1", fields)
    (line,) = _lines(tmp_path / "logs" / "access.log")
    assert line["message"] == "GET /patients/ 200" and line["level"] == "INFO"
    assert line["logger"] == logs.ACCESS_LOGGER and line["request_id"] == "rid-1"
    assert {k: line[k] for k in logs.ACCESS_FIELDS} == {k: fields[k] for k in logs.ACCESS_FIELDS}
    assert not (tmp_path / "logs" / "secretum.log").exists()  # never propagated


def test_the_access_fields_are_read_from_the_format_the_workers_get() -> None:
    """H2: the access log's fields are the atoms of gunicorn's access_log_format in use: the
    path (PATH_INFO) and never the request line or the query string."""
    assert logs.access_fields(logs.ACCESS_LOG_FORMAT) == dict(logs.ACCESS_FIELDS)
    assert list(logs.ACCESS_FIELDS) == [
        *("client", "method", "path", "status", "bytes", "duration_ms")
    ]
    assert logs.ACCESS_FIELDS["path"] == "U"
    assert not {"r", "q", "f", "a", "u"} & set(logs.ACCESS_FIELDS.values())
    assert logs.access_fields('%(h)s "%(r)s" %({x-request-id}o)s') == {
        "client": "h",
        "r": "r",
        "{x-request-id}o": "{x-request-id}o",
    }


def test_files_and_folder_are_the_owners_alone_whatever_the_umask(
    logger: logging.Logger, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        logger.warning("x")
    finally:
        os.umask(old)
    folder = tmp_path / "logs"
    assert folder.stat().st_mode & 0o777 == 0o700
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_file_opened_by_others_is_closed_to_them_again(
    logger: logging.Logger, tmp_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o700)
    (folder / "secretum.log").write_text("")
    (folder / "secretum.log").chmod(0o644)
    logger.warning("x")
    assert (folder / "secretum.log").stat().st_mode & 0o777 == 0o600


def test_rotation_keeps_the_configured_number_of_old_files(
    logger: logging.Logger, tmp_path: Path
) -> None:
    for n in range(400):  # about 40 kB: four times the limit
        logger.warning("line %03d %s", n, "x" * 40)
    names = sorted(p.name for p in (tmp_path / "logs").glob("secretum.log*"))
    assert names == [
        "secretum.log",
        "secretum.log.1",
        "secretum.log.2",
        "secretum.log.3",
        "secretum.log.lock",
    ]
    for name in names[:-1]:
        assert (tmp_path / "logs" / name).stat().st_size <= 10_000
    last = _lines(tmp_path / "logs" / "secretum.log")[-1]
    assert str(last["message"]).startswith("line 399 ")


def test_a_file_moved_away_by_logrotate_is_followed(logger: logging.Logger, tmp_path: Path) -> None:
    logger.warning("before")
    path = tmp_path / "logs" / "secretum.log"
    path.rename(path.with_name("secretum.log-20260101"))
    logger.warning("after")
    assert [line["message"] for line in _lines(path)] == ["after"]
    assert [line["message"] for line in _lines(path.with_name("secretum.log-20260101"))] == [
        "before"
    ]


WRITER = """
import logging, logging.config, sys
from pathlib import Path
from secretum.lib import logs
conf = logs.dict_config(logs.LogSettings(Path(sys.argv[1]), "INFO", 20_000, 200))
logging.config.dictConfig(conf)
log = logging.getLogger("xylo.writer")
for n in range(int(sys.argv[3])):
    log.warning("%s %05d %s", sys.argv[2], n, "y" * 60)
"""


def test_processes_writing_at_once_lose_no_line_and_tear_none(tmp_path: Path) -> None:
    """The front, the workers and the signer write the same files: four processes, 1,500 lines
    each (about 1 MB), rotating every 20 kB, and every line arrives whole, exactly once, in
    order per process. (The standard RotatingFileHandler loses about 6 % of them here.)"""
    folder, per = tmp_path / "logs", 1500
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(folder), f"w{i}", str(per)], env=env)
        for i in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    backups = sorted(folder.glob("secretum.log.[0-9]*"), key=lambda p: -int(p.suffix[1:]))
    seen: dict[str, list[int]] = {}
    for path in [*backups, folder / "secretum.log"]:  # oldest first
        assert path.stat().st_size <= 20_000
        for line in _lines(path):
            who, n, _ = str(line["message"]).split(" ")
            seen.setdefault(who, []).append(int(n))
    assert {who: sorted(ns) for who, ns in seen.items()} == {
        f"w{i}": list(range(per)) for i in range(4)
    }
    for ns in seen.values():
        assert ns == sorted(ns)  # each process's lines in the order it wrote them


def test_the_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert LogSettings.from_env({}, home) == LogSettings(home / "logs", "WARNING", 10 << 20, 10)
    conf = LogSettings.from_env(
        {
            "SECRETUM_LOG_DIR": str(tmp_path / "elsewhere"),
            "SECRETUM_LOG_LEVEL": "info",
            "SECRETUM_LOG_MAX_BYTES": "0",
            "SECRETUM_LOG_BACKUPS": "3",
        },
        home,
    )
    assert conf == LogSettings(tmp_path / "elsewhere", "INFO", 0, 3)
    assert LogSettings.from_env({"SECRETUM_LOG_DIR": "-"}, home).directory is None
    handlers = logs.dict_config(LogSettings(None))["handlers"]
    assert {h["class"] for h in handlers.values()} == {"logging.StreamHandler"}


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SECRETUM_LOG_LEVEL", "LOUD", "SECRETUM_LOG_LEVEL must be DEBUG, INFO, WARNING"),
        ("SECRETUM_LOG_MAX_BYTES", "10MB", "SECRETUM_LOG_MAX_BYTES must be a whole number"),
        ("SECRETUM_LOG_MAX_BYTES", "-1", "SECRETUM_LOG_MAX_BYTES must be a whole number"),
        ("SECRETUM_LOG_BACKUPS", "0", "SECRETUM_LOG_BACKUPS must be a whole number (at least 1)"),
    ],
)
def test_a_bad_setting_is_named_in_one_sentence(
    tmp_path: Path, name: str, value: str, said: str
) -> None:
    with pytest.raises(logs.LogSettingError, match="^" + re.escape(said)):
        LogSettings.from_env({name: value}, tmp_path)


def test_secretum_refuses_a_bad_log_setting_in_one_sentence(tmp_path: Path) -> None:
    """Before anything is written: no instance, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env |= {"SECRETUM_HOME": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    env |= {"SECRETUM_LOG_MAX_BYTES": "ten"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "secretum.cli", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "secretum: SECRETUM_LOG_MAX_BYTES must be a whole number (0: never rotate), not 'ten'.\n"
    )
    assert not (tmp_path / "var").exists()


def test_a_stack_is_kept_on_its_line(logger: logging.Logger, tmp_path: Path) -> None:
    logger.warning("where", stack_info=True)
    (line,) = _lines(tmp_path / "logs" / "secretum.log")
    assert "test_a_stack_is_kept_on_its_line" in str(line["stack"])


def test_a_log_that_cannot_be_written_never_breaks_the_caller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk or a folder gone wrong costs the line, not the request that logs it."""
    (tmp_path / "not-a-folder").write_text("")
    handler = logs.SharedRotatingFileHandler(tmp_path / "not-a-folder" / "secretum.log", 1000, 1)
    handler.setFormatter(logs.JsonFormatter())
    record = logging.LogRecord("xylo", logging.ERROR, __file__, 1, "lost", None, None)
    handler.handle(record)  # no exception
    assert "Logging error" in capsys.readouterr().err
    handler.close()


def test_gunicorn_s_values_are_typed_for_json() -> None:
    from secretum.lib.gunicorn_log import _typed

    assert [_typed(v) for v in ("200", 1234, "-", None, "GET", "/a")] == [
        *(200, 1234, None, None, "GET", "/a")
    ]
