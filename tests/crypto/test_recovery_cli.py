"""`secretum keys backup` and `secretum keys recover` (O2, I2): the key file lost, and rebuilt
from its recovery material, as a practice does it at the terminal."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from secretum.crypto import custody, recovery_io
from secretum.crypto.custody import RecoveryError
from tests.audit.elsewhere import witness_elsewhere
from tests.crypto.test_custody import FAST, PASSPHRASE
from tests.instances import initialised

pytestmark = pytest.mark.django_db

PASSPHRASE_VARS = (recovery_io.PASSPHRASE_ENV, recovery_io.PASSPHRASE_FILE_ENV)


class Terminal(io.StringIO):
    """Standard input that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def _fast_and_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custody, "STRONG", FAST)
    for name in PASSPHRASE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", Pipe(""))


def _backup(out: Path, **options: Any) -> list[Path]:
    stdout = io.StringIO()
    call_command("keys_backup", out=str(out), stdout=stdout, **options)
    return [Path(line) for line in stdout.getvalue().splitlines() if line.endswith(".txt")]


def test_backup_with_a_passphrase_from_the_environment(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    (written,) = _backup(tmp_path, passphrase=True)
    assert written.name.endswith("-passphrase.txt")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    text = written.read_text()
    assert "# Secretum key recovery: the key file, sealed under the practice's passphrase" in text
    piece = custody.from_text(text)
    assert custody.open_material([piece], PASSPHRASE) == settings.INSTANCE.key_file.read_text()


def test_backup_refuses_a_weak_passphrase_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, "ManchesterUnited")
    with pytest.raises(RecoveryError, match="too easy to guess"):
        _backup(tmp_path, passphrase=True)
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, "too short")
    with pytest.raises(RecoveryError, match="too short"):
        _backup(tmp_path, passphrase=True)
    assert list(tmp_path.iterdir()) == []


def test_backup_reads_the_passphrase_from_a_file_or_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (written,) = _backup(out, passphrase=True, passphrase_file=str(secret))
    assert custody.open_material([custody.from_text(written.read_text())], PASSPHRASE)
    with pytest.raises(RecoveryError, match="cannot be read"):
        _backup(out, passphrase=True, passphrase_file=str(tmp_path / "none"))
    monkeypatch.setenv(recovery_io.PASSPHRASE_FILE_ENV, str(secret))
    assert recovery_io.read_passphrase() == PASSPHRASE
    monkeypatch.delenv(recovery_io.PASSPHRASE_FILE_ENV)
    with pytest.raises(RecoveryError, match="no passphrase: type it on a terminal"):
        recovery_io.read_passphrase()
    # On a terminal: typed twice without echo; two different ones write nothing.
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    typed = iter([PASSPHRASE, PASSPHRASE, PASSPHRASE, "lamp orbit cellar tulip!"])
    monkeypatch.setattr(recovery_io.getpass, "getpass", lambda prompt: next(typed))
    assert recovery_io.read_passphrase(confirm=True) == PASSPHRASE
    with pytest.raises(RecoveryError, match="two passphrases differ"):
        recovery_io.read_passphrase(confirm=True)


@pytest.mark.parametrize("scheme", ["2-of-2", "2-of-3", "3-of-3"])
def test_backup_as_shares(settings: Any, tmp_path: Path, scheme: str) -> None:
    k, n = int(scheme[0]), int(scheme[-1])
    written = _backup(tmp_path, shares=scheme)
    assert [p.name[-len(f"share-1-of-{n}.txt") :] for p in written] == [
        f"share-{i}-of-{n}.txt" for i in range(1, n + 1)
    ]
    pieces = [custody.from_text(p.read_text()) for p in written[-k:]]
    assert custody.open_material(pieces) == settings.INSTANCE.key_file.read_text()
    assert f"({k} shares are needed)" in written[0].read_text()


@pytest.mark.parametrize("scheme", ["1-of-3", "2-of-4", "two", "3-of-2", "2-of-"])
def test_backup_refuses_an_unoffered_scheme(tmp_path: Path, scheme: str) -> None:
    with pytest.raises(CommandError, match="choose 2-of-2, 2-of-3 or 3-of-3"):
        _backup(tmp_path, shares=scheme)


def test_backup_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such folder"):
        _backup(tmp_path / "none", shares="2-of-3")


# --- recover ------------------------------------------------------------------------------


def test_recover_rebuilds_a_lost_key_file_from_a_passphrase_file(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    (written,) = _backup(tmp_path, passphrase=True)
    home = tmp_path / "new" / "var"
    assert recovery_io.recover([str(written), "--home", str(home)]) == 0
    assert (home / "secretum.key").read_text() == settings.INSTANCE.key_file.read_text()
    assert stat.S_IMODE((home / "secretum.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert "Recovered the key file of instance" in capsys.readouterr().out
    # Never over a key file: not even the same one.
    with pytest.raises(RecoveryError, match=r"already exists .* refusing to overwrite"):
        recovery_io.recover([str(written), "--home", str(home)])


def test_recover_refuses_a_wrong_passphrase_or_a_flipped_byte_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    (written,) = _backup(tmp_path, passphrase=True)
    home = tmp_path / "var"
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, "lamp orbit cellar tulips")
    with pytest.raises(RecoveryError, match="wrong passphrase"):
        recovery_io.recover([str(written), "--home", str(home)])
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    lines = written.read_text().splitlines()
    qr = lines[-1]
    at = len(custody.QR_PREFIX) + 40
    flipped = qr[:at] + ("A" if qr[at] != "A" else "B") + qr[at + 1 :]
    written.write_text("\n".join([*lines[:-1], flipped]))
    with pytest.raises(RecoveryError, match=f"{written}: |wrong passphrase|malformed"):
        recovery_io.recover([str(written), "--home", str(home)])
    assert not home.exists()


def test_recover_from_shares_typed_or_in_files(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    first, _second, third = _backup(tmp_path, shares="2-of-3")
    home = tmp_path / "var"
    with pytest.raises(RecoveryError, match="1 share given, 2 needed"):
        recovery_io.recover(["--share", str(first), "--home", str(home)])
    # The third person types their sheet's lines at the keyboard ('-'): a mistyped line is
    # named by its number and typed again.
    lines = custody.lines(custody.from_text(third.read_text()))
    mistyped = lines[1][:-2] + ("AA" if not lines[1].endswith("AA") else "BB")
    typed = "\n".join([lines[0], mistyped, *lines[1:]]) + "\n\nignored\n"
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    assert recovery_io.recover(["--share", str(first), "--share", "-", "--home", str(home)]) == 0
    assert "line 02 has a typing mistake" in capsys.readouterr().err
    assert (home / "secretum.key").read_text() == settings.INSTANCE.key_file.read_text()
    (home / "secretum.key").unlink()
    monkeypatch.setattr(sys, "stdin", Pipe(third.read_text()))
    assert recovery_io.recover(["--share", "-", "--share", str(first), "--home", str(home)]) == 0
    (home / "secretum.key").unlink()
    monkeypatch.setattr(sys, "stdin", Terminal(typed.partition("\n\n")[0]))  # ends at EOF
    assert recovery_io.recover(["--share", "-", "--share", str(first), "--home", str(home)]) == 0


def test_recover_names_the_bad_file_and_the_bad_arguments(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\n")
    with pytest.raises(RecoveryError, match=f"{junk}: this line is not a recovery line"):
        recovery_io.recover([str(junk), "--home", str(tmp_path / "var")])
    with pytest.raises(RecoveryError, match="cannot be read"):
        recovery_io.recover([str(tmp_path / "none"), "--home", str(tmp_path / "var")])
    with pytest.raises(RecoveryError, match="not both"):
        recovery_io.recover([str(junk), "--share", str(junk)])
    with pytest.raises(RecoveryError, match="not both"):
        recovery_io.recover([])


def test_recover_leaves_a_key_file_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _backup(tmp_path, shares="2-of-2")
    home = tmp_path / "var"
    real = recovery_io.open_pieces

    def racing(*args: Any) -> Any:
        found = real(*args)
        home.mkdir(parents=True)
        (home / "secretum.key").write_text("someone else's")
        return found

    monkeypatch.setattr(recovery_io, "open_pieces", racing)
    with pytest.raises(RecoveryError, match=r"appeared .* left as it is"):
        recovery_io.recover(["--share", str(first), "--share", str(second), "--home", str(home)])
    assert (home / "secretum.key").read_text() == "someone else's"


def test_recover_defaults_to_secretum_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _backup(tmp_path, shares="2-of-2")
    monkeypatch.setenv("SECRETUM_HOME", str(tmp_path / "home"))
    assert recovery_io.recover(["--share", str(first), "--share", str(second)]) == 0
    assert (tmp_path / "home" / "secretum.key").exists()


# --- the real command, end to end -----------------------------------------------------------


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SECRETUM_") and k != "DJANGO_SETTINGS_MODULE"}  # fmt: skip
    # D2: the witness on another file system than the instance's (`check` warns otherwise).
    witness = witness_elsewhere(str(home))
    environ.update(SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness))
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=environ, capture_output=True, text=True, timeout=180, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_lost_key_file_is_recovered_with_the_real_command(tmp_path: Path) -> None:
    """O2 end to end: init, backup under a passphrase (strong Argon2id), key file lost, every
    command refuses; recover; the instance works again and its database accepts the key."""
    home, out = tmp_path / "var", tmp_path / "safe"
    out.mkdir()
    initialised(home)  # as `secretum init` leaves it (tests/instances.py)
    key = (home / "secretum.key").read_text()
    made = _run(home, "keys", "backup", "--passphrase", "--out", str(out),
                SECRETUM_RECOVERY_PASSPHRASE=PASSPHRASE)  # fmt: skip
    assert made.returncode == 0, made.stderr
    written, sheet = sorted(out.iterdir(), key=lambda p: p.suffix != ".txt")
    assert sheet.read_bytes().startswith(b"%PDF") and written.suffix == ".txt"
    cost, _salt = custody.from_text(written.read_text()).cost()
    assert cost == custody.Cost(time=3, memory_kib=256 * 1024, lanes=4)
    (home / "secretum.key").unlink()
    lost = _run(home, "check")
    assert lost.returncode != 0 and "key file" in lost.stderr and "missing" in lost.stderr
    wrong = _run(home, "keys", "recover", str(written), SECRETUM_RECOVERY_PASSPHRASE="x" * 20)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip() == (
        "secretum: wrong passphrase, or the recovery file was altered: nothing was recovered."
    )
    done = _run(home, "keys", "recover", str(written), SECRETUM_RECOVERY_PASSPHRASE=PASSPHRASE)
    assert done.returncode == 0, done.stderr
    assert (home / "secretum.key").read_text() == key
    assert _run(home, "check").returncode == 0
    again = _run(home, "keys", "recover", str(written), SECRETUM_RECOVERY_PASSPHRASE=PASSPHRASE)
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    weak = _run(home, "keys", "backup", "--passphrase", "--out", str(out),
                SECRETUM_RECOVERY_PASSPHRASE="short")  # fmt: skip
    assert weak.returncode != 0 and "too short" in weak.stderr and "Traceback" not in weak.stderr


def test_who_made_the_material_is_named_even_without_a_user_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert recovery_io.os_user()

    def nameless() -> str:
        raise KeyError("uid not in passwd")

    monkeypatch.setattr(recovery_io.getpass, "getuser", nameless)
    assert recovery_io.os_user() == f"uid-{os.getuid()}"


def test_another_instances_key_file_recovered_here_is_refused_by_every_command(
    tmp_path: Path,
) -> None:
    """The attacker (or a mix-up) brings shares of another instance: the key file they rebuild
    is not this database's, and Secretum refuses to run with it (binding, O2)."""
    mine, theirs, out = tmp_path / "mine", tmp_path / "theirs", tmp_path / "out"
    out.mkdir()
    initialised(mine)
    assert _run(theirs, "init").returncode == 0  # keys of its own, not the template's
    made = _run(theirs, "keys", "backup", "--shares", "2-of-2", "--out", str(out))
    assert made.returncode == 0, made.stderr
    shares = sorted(str(p) for p in out.glob("*.txt"))
    (mine / "secretum.key").unlink()
    done = _run(mine, "keys", "recover", "--share", shares[0], "--share", shares[1])
    assert done.returncode == 0, done.stderr
    refused = _run(mine, "check")
    assert refused.returncode != 0 and "does not belong to the database" in refused.stderr
