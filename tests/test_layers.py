"""The layers of Secretum, and no import circle between its modules (issue 10, "one gate").

Every import from one module of ``secretum`` to another is read with the standard library's
``ast``: module-level and function-level alike, ``if TYPE_CHECKING`` ones too (a circle through a
type is still a circle for a reader), migrations left out. Nothing is imported or run.
``python3 ../shared/tools/structure.py`` reads imports the same way.
"""

from __future__ import annotations

import ast
import functools
import itertools
from collections import deque
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "secretum"

# The layers, bottom to top: a module may import its own layer and those below it, never one
# above. A module takes the layer of its own entry; else of its role (the patterns: pages, URLs,
# middleware, each app's evidence for the register, commands), which stand above every domain;
# else of its deepest package's entry. A module that fits no entry fails the test.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("secretum", "secretum.lib", "secretum.instance")),
    ("crypto", ("secretum.crypto",)),
    # The vocabulary of who acts and why, which every audit event records.
    (
        "who acts",
        ("secretum.access.policy", "secretum.access.actor", "secretum.access.classification"),
    ),
    # The log's writer (append, leaves, Merkle tree, keys, checkpoints) and its verification.
    ("audit log", ("secretum.audit",)),
    ("the gate", ("secretum.access",)),
    ("accounts and patients", ("secretum.accounts", "secretum.patients")),
    ("care", ("secretum.clinical", "secretum.scheduling", "secretum.documents")),
    (
        "the auditor's reads",
        (
            "secretum.audit.services",
            "secretum.audit.rows",
            "secretum.audit.fhir",
            "secretum.audit.alerts",
            "secretum.audit.forms",
            "secretum.audit.pdf",
        ),
    ),
    # compliance.evidence is the register's registry, which each app's evidence imports.
    (
        "compliance",
        (
            "secretum.compliance",
            "secretum.compliance.evidence",
            "secretum.breaches",
            "secretum.maintenance",  # the maintenance log (K1) and the console's record (G1)
            # Retention and destruction (J2): reads every record's dates, signs certificates.
            "secretum.retention",
        ),
    ),
    # Letters and certificates (issue 15): filled from the chart, printed as the register logs
    # prints (P1, C3); a sending path above calls ``letters.services.letter_document``.
    ("letters", ("secretum.letters",)),
    # Backups, restores and their drills (I1, I3, I4): read the whole instance.
    ("backups", ("secretum.backup",)),
    # Records leaving in open formats, encrypted (L1, L2, E7, M3): read through the chart.
    ("exchange", ("secretum.exchange",)),
    # Documents sent by mail to verified correspondents, encrypted, over verified TLS (M1-M5).
    ("mail", ("secretum.mail",)),
    (
        "pages and commands",
        (
            "secretum.core",
            "secretum.cli",
            "secretum.init",  # what `secretum init` writes: the instance and its audit keys
            "secretum.decommission",  # K3: erases what init wrote, run before Django starts
            # A serving node's key material (issue 17): the key file and the audit keys, a TLS
            # pair as init makes one; `secretum node join` runs before Django starts.
            "secretum.node_material",
            "secretum.settings",
            "secretum.urls",
            "secretum.wsgi",
            # The server that runs the application (its workers load secretum.wsgi).
            "secretum.lib.front",
            "secretum.lib.workers",
            "secretum.*.views",
            "secretum.*.*_views",
            "secretum.*.urls",
            "secretum.*.middleware",
            "secretum.*.evidence",
            "secretum.*.management.commands.*",
            "secretum.*.templatetags.*",
        ),
    ),
)


@dataclass
class Imports:
    """Which module imports which, and where (the first place, to print)."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    where: dict[tuple[str, str], str] = field(default_factory=dict)

    def __repr__(self) -> str:  # pytest prints the fixture: a line, not every edge
        return f"Imports({len(self.edges)} modules, {len(self.where)} imports)"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_imports(root: Path) -> Imports:
    """Every import between the modules of the package at ``root`` (migrations left out)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    files = {m: p for m, p in files.items() if "migrations" not in p.parts}
    found = Imports({m: set() for m in files})

    def known(name: str) -> str:
        """The module an imported name is in: the longest prefix that is a module of ours."""
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package, up level - 1 packages
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                target = known(name)
                if target and target != module:
                    found.edges[module].add(target)
                    found.where.setdefault(
                        (module, target), f"{path.relative_to(root.parent)}:{node.lineno}"
                    )
    return found


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each group of modules that reach one another (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


def one_way_round(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself: the circle to print."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, set()) & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"no way round {group}")  # pragma: no cover  (a group is a circle)


def describe(group: list[str], found: Imports) -> str:
    way = one_way_round(group, found.edges)
    hops = "\n".join(f"      {a} -> {b}  ({found.where[a, b]})" for a, b in itertools.pairwise(way))
    return f"  - {' <-> '.join(group)}\n{hops}"


@functools.cache
def _entries() -> tuple[dict[str, int], list[tuple[str, int]]]:
    named: dict[str, int] = {}
    roles: list[tuple[str, int]] = []
    for layer, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if "*" in entry:
                roles.append((entry, layer))
            else:
                assert entry not in named, f"{entry} is in two layers"
                named[entry] = layer
    return named, roles


def layer_of(module: str) -> int:
    named, roles = _entries()
    if module in named:
        return named[module]
    for pattern, layer in roles:
        if fnmatch(module, pattern):
            return layer
    package = module.rpartition(".")[0]
    while "." in package:  # the package's entries, deepest first (never the root's)
        if package in named:
            return named[package]
        package = package.rpartition(".")[0]
    raise AssertionError(f"{module} fits no layer: name it, or its package, in LAYERS")


def upward(found: Imports) -> list[str]:
    """Each import of a module from a layer above the importer's, told in one line."""
    lines = []
    for module, targets in sorted(found.edges.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                lines.append(
                    f"  - {module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                    f"({LAYERS[layer_of(target)][0]}) at {found.where[module, target]}"
                )
    return lines


@pytest.fixture(scope="module")
def imports() -> Imports:
    return read_imports(PACKAGE)


def test_no_import_circle(imports: Imports) -> None:
    found = circles(imports.edges)
    assert not found, "Import circles (a layer that reaches up):\n" + "\n".join(
        describe(group, imports) for group in found
    )


def test_no_module_imports_a_layer_above_its_own(imports: Imports) -> None:
    lines = upward(imports)
    assert not lines, "Imports from a layer above:\n" + "\n".join(lines)


def test_every_entry_of_the_layers_names_a_module(imports: Imports) -> None:
    named, roles = _entries()
    assert not [e for e in named if e not in imports.edges], "the table names a module gone"
    for pattern, _ in roles:
        assert any(fnmatch(m, pattern) for m in imports.edges), f"{pattern} matches nothing"


def test_the_checker_finds_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.b import thing\n")
    (root / "b.py").write_text("thing = 1\n\n\ndef later():\n    from . import a\n")
    (root / "c.py").write_text("import pkg.a\n")
    (root / "migrations" / "__init__.py").write_text("")
    (root / "migrations" / "m1.py").write_text("from pkg import c\n")
    found = read_imports(root)
    assert "pkg.migrations.m1" not in found.edges
    assert circles(found.edges) == [["pkg.a", "pkg.b"]]
    text = describe(["pkg.a", "pkg.b"], found)
    assert "pkg.a -> pkg.b  (pkg/a.py:1)" in text
    assert "pkg.b -> pkg.a  (pkg/b.py:5)" in text


def test_the_checker_finds_a_layer_that_reaches_up() -> None:
    found = Imports(
        {"secretum.audit.log": {"secretum.patients.services"}, "secretum.patients.services": set()},
        {("secretum.audit.log", "secretum.patients.services"): "secretum/audit/log.py:9"},
    )
    assert upward(found) == [
        "  - secretum.audit.log (audit log) imports secretum.patients.services "
        "(accounts and patients) at secretum/audit/log.py:9"
    ]
    assert layer_of("secretum.audit.views") == len(LAYERS) - 1  # a role over its package
    assert layer_of("secretum.compliance.evidence") < layer_of("secretum.access.evidence")
