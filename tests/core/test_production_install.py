"""A production install holds no demo tool: the application never imports Faker, and `secretum
demo` without it says in one sentence how to install it (issue 11, N3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.core.test_cli import run

ROOT = Path(__file__).resolve().parents[2]

# Every module of the package imported, Django set up as the workers do (secretum.wsgi), every
# URL pattern resolved and the register's N3 check run, with any import of faker recorded.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys

attempts = []

class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name == "faker" or name.startswith("faker."):
            attempts.append(name)
        return None

sys.meta_path.insert(0, Recorder())
import secretum.wsgi  # django.setup(), as gunicorn's workers load the application
import secretum
from django.urls import get_resolver

modules = sorted(m.name for m in pkgutil.walk_packages(secretum.__path__, "secretum."))
for name in modules:
    importlib.import_module(name)

def walk(resolver):
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):
            yield from walk(pattern)
        else:
            yield pattern

patterns = list(walk(get_resolver()))
from secretum.core.evidence import fictitious_test_data
met = fictitious_test_data().met
print(json.dumps({"attempts": attempts, "modules": len(modules), "patterns": len(patterns),
                  "n3": met, "faker_loaded": "faker" in sys.modules}))
"""


def _path(*front: Path) -> str:
    """PYTHONPATH: these folders first, then the repository."""
    return os.pathsep.join([*map(str, front), str(ROOT)])


def test_the_application_never_imports_faker(tmp_path: Path) -> None:
    home = tmp_path / "var"
    assert run(home, "init").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        env={
            **env,
            "SECRETUM_HOME": str(home),
            "PYTHONPATH": _path(),
            "DJANGO_SETTINGS_MODULE": "secretum.settings",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["modules"] > 150 and found["patterns"] > 50  # everything was reached
    assert found["n3"] is True  # the register still proves N3, from the demo's source
    assert found["attempts"] == [] and found["faker_loaded"] is False


def test_without_faker_the_demo_says_how_to_install_it_and_writes_nothing(tmp_path: Path) -> None:
    absent = tmp_path / "no-faker"
    (absent / "faker").mkdir(parents=True)
    # Shadows the installed Faker: an import fails as it does where Faker is not installed.
    (absent / "faker" / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'faker\'", name="faker")\n'
    )
    home, path = tmp_path / "var", _path(absent)
    assert run(home, "init", PYTHONPATH=path).returncode == 0
    done = run(home, "demo", "--patients", "3", PYTHONPATH=path)
    assert done.returncode == 1
    assert done.stderr == (
        "secretum: The demo needs Faker, which a production install leaves out: install it with "
        '"pip install \'secretum[demo]\'" (or "pip install -r requirements-demo.txt").\n'
    )
    # Nothing was made: no demo account (the accounts come before the patients).
    code = run(home, "demo_code", "dr.martin", PYTHONPATH=path)
    assert code.returncode == 1 and "has no demo authenticator" in code.stderr


def test_faker_is_an_extra_never_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("faker")]
    assert project["optional-dependencies"]["demo"] == ["Faker==40.63.0"]
    runtime = [
        line.split("#")[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    assert not [r for r in runtime if r.startswith("faker")]
    assert "Faker==40.63.0" in (ROOT / "requirements-demo.txt").read_text()
    assert "-r requirements-demo.txt" in (ROOT / "requirements-dev.txt").read_text()
