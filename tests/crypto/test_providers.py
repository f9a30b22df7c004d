"""Key providers (E10, G3, O1, O2; issue 13): the key file apart from the database and the web
root, a key given in the environment or a file named by it, refused when weak or malformed, and
what `secretum check` says of each. The PKCS#11 token: tests/crypto/test_token.py."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from secretum import init, instance
from secretum.core import health
from secretum.crypto import checks, evidence, keyring, layout, providers, token
from secretum.instance import InstanceError
from tests.core.test_instance_key import one_sentence, secretum
from tests.instances import initialised


@pytest.fixture(autouse=True)
def _own_keys() -> Any:
    """Tests here point the settings at instances of their own: the keyring forgets them after."""
    yield
    keyring.reset_cache()


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _key_text(**changes: Any) -> str:
    fields = {
        "format": instance.KEYFILE_FORMAT,
        "kek": _b64(secrets.token_bytes(32)),
        "blind_index_key": _b64(secrets.token_bytes(32)),
        "django_secret_key": secrets.token_urlsafe(50),
    }
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not None})


# --- where the key comes from -------------------------------------------------------------------


def test_the_environment_names_the_provider(tmp_path: Path) -> None:
    text = _key_text()
    env = {"SECRETUM_HOME": str(tmp_path), "SECRETUM_KEY": text}
    given = instance.Instance.from_env(env)
    assert given.provider == "environment" and given.exists()
    assert given.read_keys()["django_secret_key"] == json.loads(text)["django_secret_key"]
    assert given.key_file_identity() == (0,)
    assert text not in repr(given)  # never in a log line or a traceback's locals
    named = instance.Instance.from_env({"SECRETUM_HOME": str(tmp_path), "SECRETUM_KEY_FILE": "k"})
    assert named.provider == "file" and named.key_file == Path("k").absolute()
    assert instance.Instance.from_env({"SECRETUM_HOME": str(tmp_path)}).key_path is None
    with pytest.raises(InstanceError, match="give the key one way only"):
        instance.Instance.from_env({**env, "SECRETUM_KEY_FILE": "/run/secrets/secretum.key"})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "The key in SECRETUM_KEY is empty"),
        ("kek=abc", "The key in SECRETUM_KEY is not valid JSON"),
        (_key_text(kek="A" * 43 + "="), "'kek' of the key in SECRETUM_KEY holds a key that is not"),
        (_key_text(kek=_b64(bytes(range(8)) * 4)), r"not random \(8 distinct bytes\)"),
        (_key_text(kek=_b64(b"short")), "holds a 5-byte key"),
        (_key_text(blind_index_key=None), "lacks the field 'blind_index_key'"),
    ],
)
def test_a_weak_or_malformed_key_in_the_environment_is_refused(
    tmp_path: Path, text: str, said: str
) -> None:
    given = instance.Instance(tmp_path, key_text=text)
    with pytest.raises(InstanceError, match=said) as caught:
        given.read_keys()
    assert "kek=abc" not in str(caught.value)  # the value itself is never repeated


def test_one_key_used_as_kek_and_index_key_is_refused(tmp_path: Path) -> None:
    same = _b64(secrets.token_bytes(32))
    given = instance.Instance(tmp_path, key_text=_key_text(kek=same, blind_index_key=same))
    with pytest.raises(InstanceError, match="one key as both a KEK and the blind-index key"):
        given.read_keys()


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"token_keks": "2"}, "'token_keks' .* is not a list of versions"),
        ({"token_keks": [3], "kek_version": 2}, "'token_keks' .* up to the current one"),
        ({"token_keks": [2], "kek_version": 2, "kek": None}, "pins no 'fingerprint'"),
        (
            {"token_keks": [1, 2], "kek_version": 2, "older_keks": {"1": _b64(os.urandom(32))}},
            "'older_keks' .* or one the token holds",
        ),
    ],
)
def test_a_malformed_list_of_token_versions_is_refused(
    tmp_path: Path, changes: dict[str, Any], said: str
) -> None:
    with pytest.raises(InstanceError, match=said):
        instance.Instance(tmp_path, key_text=_key_text(**changes)).read_keys()


def test_a_key_file_with_its_kek_in_the_token_reads_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _key_text(
        kek=None,
        kek_version=2,
        token_keks=[2],
        fingerprint="ab" * 32,
        backup_key=_b64(secrets.token_bytes(32)),
    )
    given = instance.Instance(tmp_path, key_text=text)
    assert "kek" not in given.read_keys()
    versions = given.read_key_versions()
    assert versions.in_token == {2} and versions.keks == {} and versions.versions == [2]
    # O2: `secretum check` says where the KEK is, and claims no copy in memory it does not hold.
    for name in (token.MODULE_VARIABLE, token.TOKEN_VARIABLE, token.PIN_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    lines = providers.describe(given, versions)
    assert lines[0].startswith("Key provider: the environment (SECRETUM_KEY)")
    assert lines[1:] == [
        "  PKCS#11 token not named holds KEK version 2: the KEK never leaves it (AES-256-GCM "
        "inside the token)."
    ]


# --- where the key file may not be --------------------------------------------------------------


@pytest.fixture
def made(tmp_path: Path) -> instance.Instance:
    return init.create(tmp_path / "var")


def _database_at(settings: Any, monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    conf = settings.DATABASES["default"]
    monkeypatch.setitem(conf, "NAME", str(path))
    monkeypatch.setitem(conf, "ENGINE", "django.db.backends.sqlite3")


def test_a_new_instance_keeps_its_database_apart(
    made: instance.Instance, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert made.database == made.home / "data" / "secretum.sqlite3"
    assert (made.home / "data").stat().st_mode & 0o777 == 0o700
    _database_at(settings, monkeypatch, made.database)
    assert providers.location_faults(made) == []
    providers.refuse_at_start(made)  # nothing to refuse


def test_a_key_file_in_the_database_folder_is_refused(
    made: instance.Instance, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance made before: secretum.sqlite3 beside secretum.key."""
    (made.home / "secretum.sqlite3").write_bytes(b"")
    assert made.database == made.home / "secretum.sqlite3"
    _database_at(settings, monkeypatch, made.database)
    ((fact, hint),) = providers.location_faults(made)
    assert fact.startswith(f"The key file {made.key_file} sits in the database's folder")
    assert "run 'secretum upgrade'" in hint and "'secretum keys separate' does only" in hint
    with pytest.raises(InstanceError, match="secretum upgrade"):
        providers.refuse_at_start(made)
    settings.INSTANCE = made
    (found,) = [p for p in checks.key_provider_checks() if p.id == "secretum.E011"]
    assert found.hint == hint
    # A key file named by SECRETUM_KEY_FILE into a database's folder: moved by hand.
    elsewhere = instance.Instance(made.home, key_path=made.home / "data" / "k")
    _database_at(settings, monkeypatch, made.home / "data" / "secretum.sqlite3")
    ((fact, hint),) = providers.location_faults(elsewhere)
    assert "SECRETUM_KEY_FILE" in hint


def test_a_link_into_the_database_folder_is_judged_by_its_target(
    made: instance.Instance, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    link = tmp_path / "key-link"
    target = made.home / "data" / "secretum.key"
    shutil.move(made.key_file, target)
    link.symlink_to(target)
    _database_at(settings, monkeypatch, made.database)
    assert len(providers.location_faults(instance.Instance(made.home, key_path=link))) == 1


def test_a_key_file_under_the_web_root_is_refused(
    made: instance.Instance, settings: Any, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    settings.STATICFILES_DIRS = [static]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STATIC_ROOT = None
    served = instance.Instance(made.home, key_path=static / "secretum.key")
    ((fact, hint),) = providers.location_faults(served)
    assert "a folder the web server serves" in fact and "SECRETUM_KEY_FILE" in hint
    assert (
        len(
            providers.location_faults(
                instance.Instance(made.home, key_path=tmp_path / "media" / "k")
            )
        )
        == 1
    )
    # An app's own static folder is served too (WhiteNoise's finders).
    package = Path(providers.__file__).parent / "static" / "secretum.key"  # crypto's
    assert len(providers.location_faults(instance.Instance(made.home, key_path=package))) == 1


def test_no_folder_for_a_database_in_memory_or_on_postgresql(
    made: instance.Instance, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _database_at(settings, monkeypatch, Path("file:memorydb_default?mode=memory&cache=shared"))
    assert providers.database_folder() is None
    monkeypatch.setitem(settings.DATABASES["default"], "NAME", str(made.home / "x"))
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.postgresql")
    assert providers.database_folder() is None
    assert providers.location_faults(made) == []


def test_check_names_the_provider_and_its_weakness(
    made: instance.Instance, settings: Any, monkeypatch: pytest.MonkeyPatch, db: Any
) -> None:
    versions = made.read_key_versions()
    (line,) = providers.describe(made, versions)[:1]
    assert line == (
        f"Key provider: the key file {made.key_file} (owner-only, apart from the database and "
        "the web root)."
    )
    given = instance.Instance(made.home, key_text=made.key_file.read_text())
    said = "\n".join(providers.describe(given, versions))
    assert "Key provider: the environment (SECRETUM_KEY)" in said and "/proc/PID/environ" in said
    assert "  KEK version 1 in the key file's content" in said
    assert providers._versions([2, 1]) == "KEK versions 1, 2"  # during a rotation
    settings.INSTANCE = given
    assert [p.id for p in checks.key_provider_checks()] == ["secretum.W011"]
    monkeypatch.setenv("SECRETUM_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
    ids = [p.id for p in checks.key_provider_checks()]
    assert ids == ["secretum.E012", "secretum.W011"]
    # The rest of the instance takes the environment's key as it takes a key file.
    assert health.key_file() == "readable"
    assert made.key_file not in evidence.secret_files()
    assert "key file is missing" not in evidence.key_custody().summary


# --- an instance made before: the database moved out ---------------------------------------------


def _legacy(made: instance.Instance, wal: bool = True) -> Path:
    legacy = made.home / "secretum.sqlite3"
    with sqlite3.connect(legacy) as db:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE fictitious (name TEXT)")
        db.execute("INSERT INTO fictitious VALUES ('Peeters')")
    db.close()
    return legacy


def test_separate_moves_the_database_in_one_rename(made: instance.Instance) -> None:
    legacy = _legacy(made)
    inode = legacy.stat().st_ino
    moved = layout.separate(made)
    assert moved == made.home / "data" / "secretum.sqlite3" == made.database
    assert moved.stat().st_ino == inode and not legacy.exists()
    with sqlite3.connect(moved) as db:
        assert db.execute("SELECT name FROM fictitious").fetchall() == [("Peeters",)]
    db.close()
    with pytest.raises(InstanceError, match=r"already in .*data, apart from the key file"):
        layout.separate(made)


def test_separate_refuses_a_database_in_use(made: instance.Instance) -> None:
    legacy = _legacy(made)
    server = sqlite3.connect(legacy, isolation_level=None)
    server.execute("BEGIN IMMEDIATE")
    server.execute("INSERT INTO fictitious VALUES ('Janssens')")  # a write under way
    try:
        with pytest.raises(InstanceError, match="is in use: stop 'secretum serve'"):
            layout.separate(made)
    finally:
        server.execute("ROLLBACK")
        server.close()
    assert legacy.exists() and not (made.home / "data" / "secretum.sqlite3").exists()


def test_separate_refuses_a_database_locked_by_another_process(made: instance.Instance) -> None:
    legacy = _legacy(made, wal=False)
    server = sqlite3.connect(legacy, isolation_level=None)
    server.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InstanceError, match="is in use"):
            layout.separate(made)
    finally:
        server.execute("ROLLBACK")
        server.close()


def test_separate_with_nothing_or_two_databases(made: instance.Instance) -> None:
    with pytest.raises(InstanceError, match=r"No database at .*nothing to move"):
        layout.separate(made)
    _legacy(made)
    (made.home / "data" / "secretum.sqlite3").write_bytes(b"")
    with pytest.raises(InstanceError, match=r"Both .* exist"):
        layout.separate(made)


def test_separate_as_a_command(
    made: instance.Instance, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("SECRETUM_HOME", str(made.home))
    assert layout.main(["--force"]) == 2
    assert layout.main([]) == 1
    assert "No database at" in capsys.readouterr().err
    _legacy(made)
    assert layout.main([]) == 0
    assert "Moved the database to" in capsys.readouterr().out


# --- as a user meets it: real processes -----------------------------------------------------------


def test_an_instance_made_before_is_refused_until_separated(tmp_path: Path) -> None:
    """E10, O2: every command but `check` refuses the key file beside the database, naming the
    one command that mends it; after it the instance serves its data as before."""
    home = initialised(tmp_path / "var")
    (home / "data" / "secretum.sqlite3").rename(home / "secretum.sqlite3")
    line = one_sentence(secretum(home, "records", "verify"))
    assert "sits in the database's folder" in line and "run 'secretum upgrade'" in line
    checked = secretum(home, "check")
    assert checked.returncode != 0 and "run 'secretum upgrade'" in checked.stderr
    assert secretum(home, "keys", "separate").returncode == 0
    assert secretum(home, "records", "verify").returncode == 0


def test_a_group_readable_key_file_and_a_key_in_the_environment(tmp_path: Path) -> None:
    home = initialised(tmp_path / "var")
    key = home / "secretum.key"
    key.chmod(0o640)
    assert "is readable by others; run 'chmod 600'" in one_sentence(
        secretum(home, "records", "verify")
    )
    key.chmod(0o600)
    text = key.read_text()
    moved = tmp_path / "kept-elsewhere.key"
    key.rename(moved)
    checked = secretum(home, "check", SECRETUM_KEY=text)
    assert "Key provider: the environment (SECRETUM_KEY)" in checked.stdout, checked.stderr
    assert "warning: The key is given in SECRETUM_KEY" in checked.stderr
    assert secretum(home, "records", "verify", SECRETUM_KEY_FILE=str(moved)).returncode == 0
    weak = json.loads(text) | {"kek": "A" * 43 + "="}
    line = one_sentence(secretum(home, "records", "verify", SECRETUM_KEY=json.dumps(weak)))
    assert "The field 'kek' of the key in SECRETUM_KEY holds a key that is not random" in line
