"""A fresh instance for a test in a fraction of `secretum init`'s time: a copy of one template.

`secretum init` costs seconds of CPU (key generation, every migration, the charter, the signed
audit events); some forty tests and fixtures need an instance as `init` leaves it without being
about `init` itself. Each test process runs the real `secretum init` once, into a template of its
own (SQLite, every key its own: the environment's SECRETUM_* never reach it), and ``fresh``
copies that folder where a test wants an instance: the same files, bytes and owner-only modes.
Nothing in an instance names its own folder (the database is bound to the key file's
fingerprint, not to a path), so the copy is an instance of its own in every respect but one: its
keys are the template's. A test that needs two instances with different keys (another
instance's backup, key file or copy refused) makes the other one with the real `secretum init`;
so do the tests about `init`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.audit.elsewhere import witness_elsewhere

ROOT = Path(__file__).resolve().parents[1]
WITNESS = Path("witness") / "audit-checkpoints.log"  # the default witness, inside the home
# Settings that change what `secretum init` makes (where the database and the keys are): a test
# that sets one runs `init` itself.
INIT_SETTINGS = frozenset(
    {
        "SECRETUM_DATABASE_URL",
        "SECRETUM_DATABASE_PASSWORD_FILE",
        "SECRETUM_KEY",
        "SECRETUM_KEY_FILE",
    }
)
_templates: dict[tuple[str, ...], tuple[Path, str]] = {}


def _secretum(home: Path, *args: str) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k not in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION")
    }
    env.update(
        SECRETUM_HOME=str(home),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    done = subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`secretum {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def template(demo: tuple[str, ...] = ()) -> tuple[Path, str]:
    """The home of this process's template instance, made by `secretum init` on first use, then
    by `secretum demo DEMO` when ``demo`` names its arguments; and what that demo printed."""
    if demo not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="secretum-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        home = folder / "var"
        if demo:
            shutil.copytree(template()[0], home, symlinks=True)
            printed = _secretum(home, "demo", *demo)
        else:
            _secretum(home, "init")
            printed = ""
        _templates[demo] = (home, printed)
    return _templates[demo]


def _mkdirs(folder: Path) -> None:
    """``folder`` and its missing parents, owner-only, as `secretum init` (umask 077) makes them."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700)


def fresh(home: Path, witness: Path | None = None, demo: tuple[str, ...] = ()) -> Path:
    """An instance in ``home`` as `secretum init` leaves it, or `secretum init` then
    `secretum demo DEMO` when ``demo`` names the demo's arguments (``demo_output`` says what it
    printed); ``witness``: the audit witness file the test's commands use
    (SECRETUM_AUDIT_WITNESS), default the one inside ``home``. Refuses an existing ``home``, as
    `init` does."""
    source = template(demo)[0]
    if home.exists() and any(home.iterdir()):
        raise FileExistsError(f"An instance already exists in {home}; refusing to overwrite it.")
    _mkdirs(home.parent)
    if home.exists():
        home.rmdir()
    # copy2 keeps each file's mode, copystat each folder's (0o700).
    shutil.copytree(source, home, symlinks=True)
    if witness is not None and witness != home / WITNESS:
        _mkdirs(witness.parent)
        shutil.copy2(home / WITNESS, witness)
        shutil.rmtree(home / WITNESS.parent)  # `init` writes no witness in the home then
    return home


def demo_output(demo: tuple[str, ...]) -> str:
    """What `secretum demo DEMO` printed in the template ``fresh(…, demo=DEMO)`` copies."""
    return template(demo)[1]


def initialised(home: Path, demo: tuple[str, ...] = ()) -> Path:
    """``fresh(home)`` with the witness where the tests' ``run`` and ``secretum`` helpers put
    it: ``witness_elsewhere(str(home))``, on another file system than the instance's."""
    return fresh(home, witness_elsewhere(str(home)), demo)
