"""Recovery material at the terminal: passphrases, files, and ``secretum keys recover`` (O2).

``secretum keys recover`` runs where the key file is lost, often on a new machine with no
instance and no database: like ``secretum init`` it runs before Django, and this module imports
no Django. Passphrases are read without echo (``getpass``) on a terminal, or, for automation,
from a file (``--passphrase-file`` or ``SECRETUM_RECOVERY_PASSPHRASE_FILE``) or the variable
``SECRETUM_RECOVERY_PASSPHRASE``; never from the command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from secretum.crypto.custody import (
    Kind,
    Material,
    RecoveryError,
    check_line,
    from_text,
    open_material,
)
from secretum.instance import Instance, home_from_env, write_private

# Names of environment variables, not passphrases.
PASSPHRASE_ENV = "SECRETUM_RECOVERY_PASSPHRASE"  # noqa: S105
PASSPHRASE_FILE_ENV = "SECRETUM_RECOVERY_PASSPHRASE_FILE"  # noqa: S105


def read_passphrase(file: str | None = None, confirm: bool = False) -> str:
    """The passphrase: from ``file``, the file named by the environment, the environment, or
    typed twice (``confirm``) without echo on a terminal."""
    path = file or os.environ.get(PASSPHRASE_FILE_ENV, "").strip()
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError):
            raise RecoveryError(f"the passphrase file {path} cannot be read.") from None
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise RecoveryError(
            f"no passphrase: type it on a terminal, or give --passphrase-file, "
            f"{PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}."
        )
    typed = getpass.getpass("Recovery passphrase: ")
    if confirm and getpass.getpass("The same passphrase again: ") != typed:
        raise RecoveryError("the two passphrases differ: nothing was written.")
    return typed


def read_material(name: str) -> Material:
    """Recovery material from a file, or from standard input for '-' (lines typed off a
    sheet, or the text a QR code reader gives)."""
    if name == "-":
        return from_text(_typed() if sys.stdin.isatty() else sys.stdin.read())
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise RecoveryError(f"the recovery file {name} cannot be read.") from None
    try:
        return from_text(text)
    except RecoveryError as exc:
        raise RecoveryError(f"{name}: {exc}") from None


def rebuild(pieces: list[Material], passphrase_file: str | None) -> str:
    """The key file's text the pieces rebuild (the passphrase asked if they need one)."""
    needs = bool(pieces) and pieces[0].kind == Kind.PASSPHRASE
    passphrase = read_passphrase(passphrase_file) if needs else None
    return open_material(pieces, passphrase)


def _typed() -> str:
    """Lines typed off a sheet, each checked as it is typed: a mistyped line is asked again."""
    print("Type the lines of the sheet, then an empty line:", file=sys.stderr)
    typed = []
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            break
        try:
            check_line(line)
        except RecoveryError as exc:
            print(f"{exc} Type it again:", file=sys.stderr)
            continue
        typed.append(line)
    return "".join(typed)


def open_pieces(files: list[str], passphrase_file: str | None) -> tuple[list[Material], str]:
    """The pieces named and the key file's text they rebuild."""
    pieces = [read_material(name) for name in files]
    return pieces, rebuild(pieces, passphrase_file)


def os_user() -> str:
    """Who runs the command, as the system names them (as ``secretum.cli`` says it)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a user id without a name (a container): the number says who
        return f"uid-{os.getuid()}"


def recover(argv: list[str]) -> int:
    """``secretum keys recover FILE | --share A --share B [--home DIR]``: rebuild a lost key
    file; refuses to overwrite one."""
    parser = argparse.ArgumentParser(
        prog="secretum keys recover", description="Rebuild a lost key file."
    )
    parser.add_argument("file", nargs="?", help="passphrase recovery file ('-': standard input)")
    parser.add_argument("--share", action="append", default=[], help="a share (repeat)")
    parser.add_argument("--home", help="instance folder (default: $SECRETUM_HOME)")
    parser.add_argument("--passphrase-file", help="file holding the passphrase")
    args = parser.parse_args(argv)
    if bool(args.file) == bool(args.share):
        raise RecoveryError("give either a recovery FILE or --share twice or more, not both.")
    home = Path(args.home).resolve() if args.home else home_from_env()
    inst = Instance(home)
    if inst.key_file.exists():
        raise RecoveryError(
            f"a key file already exists at {inst.key_file}: refusing to overwrite it (recover "
            "into the folder whose key file is lost, or into a new one)."
        )
    pieces, text = open_pieces([args.file] if args.file else args.share, args.passphrase_file)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        write_private(inst.key_file, text.encode())
    except FileExistsError:  # written meanwhile by someone else: theirs stays
        raise RecoveryError(f"a key file appeared at {inst.key_file}: left as it is.") from None
    print(f"Recovered the key file of instance {pieces[0].instance_id} into {inst.key_file}")
    print("(owner-only). Next: 'secretum check' checks that it belongs to the database.")
    return 0
