"""The ``secretum`` command: init, demo, serve, check, audit verify, and Django's own commands.

Errors are told in one sentence on standard error, with a non-zero exit; a traceback is shown
only with SECRETUM_DEBUG=1.

Before any command that uses the instance, the key file is read and checked (a missing or damaged
one is named as such), and the key file must belong to the database (O2, G3, E10, H3;
``secretum.crypto.binding``); ``secretum check`` reports the latter among its own findings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

USAGE = """usage: secretum COMMAND [options]

  init                       create an instance in $SECRETUM_HOME (default ./var); refuses a
                             database that already holds an installation
  demo --patients N --seed S fill the instance with fictitious patients (add --print to list them)
  serve --host H --port P    serve over HTTPS (TLS 1.2+), HTTP redirected to HTTPS
  check                      configuration and security self-check (non-zero exit when unsafe)
  vulns [--db PATH] [--json] known vulnerabilities of the installed packages, from an offline
                             OSV database (non-zero exit when one is HIGH or CRITICAL, G2)
  audit verify               verify the audit log: hashes, codes, signed checkpoints, witness
  audit checkpoint           sign a checkpoint of the audit log now (serve does it every 5 min;
                             --signed-note also prints it as a C2SP signed note)
  audit prove N              print an inclusion proof of event N (check-proof FILE checks one)
  audit consistency M [N]    print an RFC 9162 consistency proof between two signed checkpoints
  audit grant --role R       PostgreSQL: the app role may only INSERT and SELECT audit rows
  audit reanchor --backup B --user M   after restoring an older database: a manager, asked
                             for password and code again, re-anchors the audit log (D2)
  keys backup --passphrase | --shares 2-of-3 [--out DIR]   the key file as recovery material:
                             sealed under a passphrase (Argon2id), or split between 2 or 3
                             people; printable sheets with a QR code (O2, I2)
  keys recover FILE | --share A --share B [--home DIR]   rebuild a lost key file from it
  keys test-recovery FILE | --share A --share B   prove the material rebuilds this key file
  keys rotate [--batch N] [--pause S] [--to-token]   a new key-encryption key: every data key
                             and sealed secret re-wrapped while the server serves, the old
                             version retired once unused; run it again if it was interrupted;
                             --to-token makes it inside the PKCS#11 token (E10, O2)
  keys rotate --index-key [--if-due]   a new search index key: every patient's tokens rebuilt,
                             sized from the number of patients, the old key retired (E10, O1)
  keys rotate --patient NISS-OR-UID | all   a patient's new data key: every value of the record
                             sealed again under it, one transaction per patient (E10)
  keys separate              with the server stopped: move an older instance's database into
                             data/, out of the key file's folder (E10, O2)
  records verify             verify every patient record against its seals; name altered ones
  records acknowledge UID --reason R   after examining an altered record, make it the reference
  records archive            archive the records without contact for the practice's period
                             (J1; serve does it once a day)
  records due                the records whose retention period ended (or with an erasure
                             request), and the destroyed ones whose old copies are still
                             readable until the next key rotation (J2); a manager approves
                             each destruction on the page "Records due for destruction"
  accounts disable-inactive  disable the accounts unused for the practice's limit (serve does
                             it once a day)
  maintenance close-expired  close the outside technicians' maintenance windows whose end has
                             come (serve does it every minute)
  node export --out FILE [--recipient AGE_KEY]   this installation's key material for another
                             serving node over the same PostgreSQL, in an age file under a
                             passphrase shown once (or for the recipient's key); audited
  node join FILE [--home DIR]   on the other node: its home made from that material (or its
                             key material replaced by a newer copy after a rotation), its own
                             TLS pair; the database must hold that installation (E10, O2)
  backup create [--to DIR]   an encrypted, signed backup, taken while the server serves (I1, I4)
  backup verify FILE         check a backup's signature and every part's SHA-256; with
                             --restore-drill, restore it into a scratch folder and check it (I3)
  restore FILE --home NEWDIR --key-file KEYFILE   a new instance from a backup (I3)
  upgrade [--to DIR]         with the server stopped, after installing a new release: a
                             verified backup, the migrations, the audit log and records checked;
                             rolled back to the backup if anything fails (I3, I1, D2)
  serve --read-only --from-backup FILE --key-file KEYFILE [--home DIR] [--host H --port P]
                             continuity (I5): the backup restored into DIR (default
                             ./continuity-<date>) and served read-only, every access audited
  audit merge-continuity DIR on the server once it is back: the copy's audit events appended
                             to this log (only a copy of this instance, whose log verifies)
  documents intake [--every N]  import the scan intake folder (D4): each file scanned (E2),
                             filed to its patient or the unfiled tray, removed from the folder
  compliance summary         the measures register's reminders, e-mailed to the managers
  compliance verify-report FILE SIGFILE [--public-key PEM]  check a signed register report
  decommission               crypto-erase this installation for good (K3): every key, the
                             database and the instance folder overwritten and removed; asks
                             for the instance id (scripts: --confirm-instance ID
                             --yes-destroy-everything); refused while the server runs; writes
                             a certificate outside the folder (--certificate PATH, default
                             here) of what was done and what remains to do (disks, recovery
                             sheets, backups kept elsewhere)
  export --format fhir|sumehr --patient NISS --out PATH --reason R [--recipient AGE_KEY | --plain]
                             one patient's record as a FHIR R4 Bundle, or its summary as a
                             KMEHR SumEHR 2.0 (sumehr), encrypted with age:
                             for the recipient's key, else under a passphrase shown once;
                             --plain writes it in clear; the reason is audited (L1, E7, M3)
  export --format fhir --out DIR --reason R [--recipient AGE_KEY | --plain]
                             the whole practice as FHIR Bulk Data NDJSON in a new folder: one
                             age file per resource type and manifest.json (their SHA-256)
  export --format secretum --out DIR --reason R [--recipient AGE_KEY]
                             the whole practice to move it (L1, L2): every row with its
                             history, documents, accounts, settings, the audit log as its own
                             signed file, the keys; age-encrypted, a signed manifest
  export --format secretum --test --reason R
                             the same into a scratch folder, imported into a scratch instance
                             and compared: the register's L1/L2 evidence records it
  import PATH --reason R [--identity FILE] [--as USERNAME]
                             a FHIR Bundle (.json, .json.age) or a Bulk Data folder: new
                             patients with their entries, all or nothing per patient; a known
                             national number is reported, never overwritten; asks the
                             passphrase of an encrypted input (or --identity, an age key);
                             a KMEHR SumEHR (.xml, .xml.age) with --as, the practitioner who
                             authors its entries: hostile XML refused, what is not understood
                             kept as the original document
  import DIR --home NEWDIR --reason R --expect-key FINGERPRINT [--identity FILE]
                             a new instance made of Secretum's own export (SECRETUM_DATABASE_URL:
                             a new, empty PostgreSQL database): signature and hashes checked
                             first, every row loaded in one transaction, the audit log verified
  shell --reason R           Django's shell; dbshell --reason R, the database's own client (and
                             dumpdata, loaddata): on an instance with patients, only with a
                             reason (10-200 characters), recorded in the audit log and the
                             maintenance log; flush is refused there
  help                       this text

Django's management commands (migrate, ...) are available too.
"""

# `secretum audit verify` -> management command `audit_verify`, and so on.
ALIASES = {("audit", "verify"): "audit_verify", ("check",): "secretum_check"}
# The measures register: `secretum compliance summary`, `compliance verify-report FILE SIG`.
ALIASES.update(
    {("compliance", w): "compliance_" + w.replace("-", "_") for w in ("summary", "verify-report")}
)
# The audit log's commands (D2): `secretum audit checkpoint`, `audit prove N`, ...
ALIASES.update(
    {
        ("audit", word): "audit_" + word.replace("-", "_")
        for word in (
            "checkpoint",
            "prove",
            "check-proof",
            "grant",
            "keygen",
            "protect",
            "reanchor",
            "consistency",
            "merge-continuity",
        )
    }
)
# Whole patient records (E10, G3): `secretum records verify`, `records acknowledge UID`.
# The archive (J1) and the records due for destruction (J2): `secretum records archive|due`.
ALIASES.update(
    {("records", w): "records_" + w for w in ("verify", "acknowledge", "archive", "due")}
)
# Keeping permissions current (C2): `secretum accounts disable-inactive`.
ALIASES.update({("accounts", "disable-inactive"): "accounts_disable_inactive"})
# The scan intake (D4): `secretum documents intake --every N`.
ALIASES.update({("documents", "intake"): "documents_intake"})
# Maintenance access (K2): `secretum maintenance close-expired`.
ALIASES.update({("maintenance", "close-expired"): "maintenance_close_expired"})
# Key custody (O2, I2): `secretum keys backup`, `keys test-recovery` (`keys recover` runs
# before Django, like `init`: the key file it rebuilds is lost).
ALIASES.update(
    {("keys", w): "keys_" + w.replace("-", "_") for w in ("backup", "test-recovery", "rotate")}
)
# A serving node's key material (E10, O2): `secretum node export` (`node join` runs before
# Django, like `keys recover`: the node has no instance yet).
ALIASES.update({("node", "export"): "node_export"})
# Backups (I1, I3, I4): `secretum backup create`, `backup verify FILE`, `restore FILE ...`.
ALIASES.update({("backup", w): "backup_" + w.replace("-", "_") for w in ("create", "verify")})
ALIASES.update({("backup", "drill-check"): "backup_drill_check", ("restore",): "backup_restore"})
# A patient's record in FHIR R4, encrypted (L1, L2, E7, M3): `secretum export --format fhir`.
ALIASES.update({("export",): "exchange_export"})
# Records coming in (L1, L2): `secretum import PATH` detects the format (exchange/importing.py).
ALIASES.update({("import",): "exchange_import"})
# Upgrades (I3, I1, D2): `secretum upgrade`, a verified backup first, a rollback on failure.
ALIASES.update({("upgrade",): "instance_upgrade"})
# Commands a third party runs on files alone, without an instance: no key file, no database.
# `secretum restore` makes a new instance from a backup and the key file it is given.
OFFLINE_COMMANDS = frozenset(
    {"audit_check_proof", "compliance_verify_report", "vulns", "backup_restore"}
)
# What still runs on an instance made before the database had a folder of its own, whose key file
# every other command refuses (E10, O2): the upgrade that moves the database apart, and the
# verification of the backup it takes (a rolled-back upgrade leaves the layout as it was).
LAYOUT_MENDING = frozenset({"instance_upgrade", "backup_verify"})
# Consoles that reach every table past the gate (G1): `secretum shell`, `secretum dbshell`,
# Django's `dumpdata` (every row, the audit log's and the sealed ones' included) and `loaddata`
# (rows written past every check). With patients in the instance, only with `--reason "…"`, and
# recorded.
CONSOLE_COMMANDS = frozenset({"shell", "dbshell", "dumpdata", "loaddata"})
# Commands that delete every record (J2: records are kept 30 years; D2: the audit log is never
# shortened): refused outright on an instance that holds patients, reason or not.
ERASING_COMMANDS = frozenset({"flush"})


def _fail(message: str, code: int = 2) -> int:
    print(f"secretum: {message}", file=sys.stderr)
    return code


def _command_name(argv: list[str]) -> tuple[str, list[str]]:
    for words, name in ALIASES.items():
        if tuple(argv[: len(words)]) == words:
            return name, argv[len(words) :]
    return argv[0], argv[1:]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from secretum.lib import supervise

    supervise.end_with_parent()  # a periodic task or the signer, started by serve: ends with it
    if not argv or argv[0] in ("help", "-h", "--help"):
        print(USAGE)
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretum.settings")
    # Files Secretum creates (database, WAL, logs) are the owner's alone.
    os.umask(0o077)
    try:
        if argv[0] == "init":
            return _init(argv[1:])
        if argv[0] == "serve" and ("--read-only" in argv or "--from-backup" in argv):
            # I5: the backup is restored into a copy of its own first, then served from there.
            from secretum.backup import continuity

            return continuity.serve_copy(argv[1:])
        if argv[0] == "restore":
            return _restore(argv[1:])
        if argv[0] == "import" and any(a.split("=")[0] == "--home" for a in argv):
            # L1, L2: Secretum's own export makes a new instance, as a restore does.
            from secretum.exchange import practice_import

            return practice_import.main(argv[1:])
        if argv[:2] == ["keys", "separate"]:
            from secretum.crypto import layout

            return layout.main(argv[2:])
        if argv[0] == "decommission":
            # K3: run outside Django's commands: nothing may be written to the audit log of a
            # database being destroyed, and a run stopped midway has no key file left.
            from secretum import decommission

            return decommission.main(argv[1:])
        if argv[:2] == ["keys", "recover"]:
            from secretum.crypto import recovery_io

            return recovery_io.recover(argv[2:])
        if argv[:2] == ["node", "join"]:
            # Before Django, as recover: the node has no instance until the material is taken.
            from secretum import node_material

            return node_material.join(argv[2:])
        return _run(*_command_name(argv))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one sentence, never a traceback, for the person at the terminal
        if os.environ.get("SECRETUM_DEBUG") == "1":
            raise
        return _fail(_sentence(exc), 1)


def _restore(args: list[str]) -> int:
    """I3: ``secretum restore``, before Django is set up (it reads no instance of its own; the
    restored one is opened by a process of its own, ``backup drill-check``): one start of
    Django less, the restore's arguments and refusals the command's own."""
    import argparse

    from django.core.management import CommandError

    from secretum.backup.management.commands.backup_restore import Command

    parser = argparse.ArgumentParser(prog="secretum restore", description=Command.help)
    Command().add_arguments(parser)
    try:
        print(Command.run(vars(parser.parse_args(args))))
    except CommandError as exc:
        return _fail(str(exc), 1)
    return 0


def _sentence(exc: BaseException) -> str:
    from django.core.management import CommandError

    from secretum.instance import InstanceError
    from secretum.lib.dburl import DatabaseUrlError
    from secretum.lib.logs import LogSettingError

    if isinstance(exc, CommandError | InstanceError | DatabaseUrlError | LogSettingError):
        return str(exc)
    from django.core.exceptions import ValidationError

    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    from django.db.utils import OperationalError

    if isinstance(exc, OperationalError):
        return f"the database cannot be reached or is not ready ({exc})."
    return f"unexpected error ({type(exc).__name__}: {exc}); run with SECRETUM_DEBUG=1 for details."


def _run(name: str, args: list[str]) -> int:
    import django
    from django.core.management import CommandError, get_commands, load_command_class

    from secretum import instance

    if name not in OFFLINE_COMMANDS:
        # O2: a missing, truncated or malformed key file, named in one sentence before anything.
        instance.Instance.from_env().read_keys()
    django.setup()
    commands = get_commands()
    if name not in commands:
        return _fail(f"unknown command '{name}'; 'secretum help' lists the commands.")
    if name not in OFFLINE_COMMANDS and name != "secretum_check":
        if name not in LAYOUT_MENDING:
            _refuse_key_location()
        _require_key_belongs()
    reason = None
    if name in ERASING_COMMANDS:
        _refuse_erasing(name)
    if name in CONSOLE_COMMANDS:
        args, reason = _take_reason(args)
    command = load_command_class(commands[name], name)
    parser = command.create_parser("secretum", name)
    options = vars(parser.parse_args(args))
    positional = options.pop("args", ())
    code = 0
    try:
        if name in CONSOLE_COMMANDS:
            _console(name, reason, lambda: command.execute(*positional, **options))
        else:
            command.execute(*positional, **options)
    except CommandError as exc:
        code = _fail(str(exc), exc.returncode or 1)
    signed = _sign_at_end() if name not in OFFLINE_COMMANDS else 0
    if name == "instance_upgrade" and not (code or signed):
        return _separate_after_upgrade()
    return code or signed


def _separate_after_upgrade() -> int:
    """E10, O2: an upgrade that went through, on an instance made before the database had a
    folder of its own, ends by moving it into data/, apart from the key file (``layout``); one
    rolled back leaves it where the previous release reads it."""
    from django.conf import settings
    from django.db import connections

    from secretum.crypto import layout
    from secretum.instance import LEGACY_DATABASE, InstanceError

    legacy = settings.INSTANCE.home / LEGACY_DATABASE
    named = os.environ.get("SECRETUM_DATABASE_URL") or os.environ.get("SECRETUM_DATABASE_URL_FILE")
    if named or str(settings.DATABASES["default"].get("NAME")) != str(legacy):
        return 0  # already apart, or a database the site names itself (its URL stays true)
    connections.close_all()
    try:
        moved = layout.separate(settings.INSTANCE)
    except InstanceError as exc:
        return _fail(str(exc), 1)
    print(f"database moved to {moved}, apart from the key file (E10, O2).")
    return 0


def _sign_at_end() -> int:
    """D2, no blind window: a command that appended audit events ends with a signed checkpoint
    of the log (its tree heads synced to the witness first), so that none of its events can be
    cut off the end of the log unnoticed once it has returned."""
    from secretum.audit import heads, log

    if log.events_written() == 0:
        return 0
    from secretum.audit.checkpoints import CheckpointError, create_checkpoint

    heads.sync()
    try:
        create_checkpoint()
    except CheckpointError as exc:
        log.record_integrity_failure("checkpoint", str(exc))
        return _fail(f"audit checkpoint refused: {exc}.", 1)
    return 0


def _take_reason(args: list[str]) -> tuple[list[str], str | None]:
    """A console's ``--reason TEXT`` (or ``--reason=TEXT``), taken out of its arguments before
    Django's parser reads them; what follows ``--`` is the database client's own."""
    from django.core.management import CommandError

    rest: list[str] = []
    reason = None
    words = iter(args)
    for word in words:
        if word == "--":
            rest += [word, *words]
        elif word == "--reason":
            reason = next(words, None)
            if reason is None:
                raise CommandError('--reason needs its text: --reason "…"')
        elif word.startswith("--reason="):
            reason = word.partition("=")[2]
        else:
            rest.append(word)
    return rest, reason


def _console(name: str, reason: str | None, execute: Callable[[], object]) -> None:
    """G1: on an instance with patients, a console opens only with a reason, and the session is
    recorded: audit events at its start and end, an entry in the maintenance log (K1). A reason
    given on an instance without patients is recorded all the same."""
    from django.core.management import CommandError

    from secretum.maintenance import console

    if reason is None:
        if console.holds_patients():
            raise CommandError(
                f"'secretum {name}' reaches patient data past the audit log: refused without a "
                f'reason. Give one with --reason "…" ({console.REASON_MIN} to '
                f"{console.REASON_MAX} characters); the session is then recorded in the audit log "
                "and the maintenance log."
            )
        execute()
        return
    session = console.open_console_session(_os_user(), name, reason)
    try:
        execute()
    finally:
        console.close_console_session(session)


def _refuse_erasing(name: str) -> None:
    from django.core.management import CommandError

    from secretum.maintenance import console

    if console.holds_patients():
        raise CommandError(
            f"'secretum {name}' would delete every patient record and the audit log: refused on "
            "an instance that holds patients (records are kept 30 years, the audit log is never "
            "shortened). To start again, make a new instance with 'secretum init'."
        )


def _os_user() -> str:
    """Who is at the console, as the operating system names them (``getpass.getuser()``)."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a user id without a name (a container): the number says who
        return f"uid-{os.getuid()}"


def _refuse_key_location() -> None:
    """E10, G3, O2: no command runs with the key file in the database's folder or a web root
    (``secretum check`` names it; ``secretum keys separate`` mends an instance made before)."""
    from django.conf import settings

    from secretum.crypto import providers

    providers.refuse_at_start(settings.INSTANCE)


def _require_key_belongs() -> None:
    """O2, G3, E10, H3: refuse to run with a key file that is not the database's (and record
    the fingerprint once on an instance made before fingerprints, saying so). Once per process:
    the system check of `serve` does not check again."""
    from secretum.crypto import binding

    note = binding.verify_once(record=True)
    if note:
        print(f"secretum: {note}", file=sys.stderr)


def _init(args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="secretum init", description="Create an instance.")
    parser.parse_args(args)

    from secretum import init, instance

    home = instance.home_from_env()
    instance.Instance(home).refuse_overwrite()
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    from secretum.crypto import binding

    # H3, O2: a database that holds an installation is refused before any key is written.
    binding.refuse_installed_database()
    inst = init.create(home)  # refuses an existing instance
    # Settings were read before the key file existed: give them its Django secret now.
    settings.SECRET_KEY = str(inst.read_keys()["django_secret_key"])
    # Migrating records the new key file's fingerprint (binding.bind_after_migrate).
    call_command("migrate", verbosity=0, interactive=False)
    from secretum.access.actor import Actor
    from secretum.accounts import charter_default
    from secretum.accounts.charter import publish_charter

    publish_charter(
        Actor.system(),
        text_fr=charter_default.TEXT_FR,
        text_nl=charter_default.TEXT_NL,
        text_en=charter_default.TEXT_EN,
    )
    _sign_at_end()  # D2: the charter's events, and the migrations', signed before anything
    print(f"Created a Secretum instance in {home}:")
    print(f"  key file     {inst.key_file} (owner-only; keep a copy apart from backups)")
    print(f"  certificate  {inst.tls_cert} (self-signed)")
    from secretum.audit import entries, keys

    audit_key = keys.fingerprint(keys.load_public_key(entries.key_paths()))
    print(f"  audit key    {audit_key}")
    print(
        "               (the checkpoint key's fingerprint: keep it away from this machine; "
        "'secretum audit verify --expect-key' checks the log against it)"
    )
    where = binding.database_name()
    print(f"  database     {where} (bound to this key file: Secretum refuses any other)")
    print("Next: 'secretum demo --patients 50' for fictitious data, then 'secretum serve'.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
