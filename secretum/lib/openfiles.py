"""Which other processes have files of a folder open, read from the kernel (``/proc/<pid>/fd``)
with the standard library alone (K3: an instance is not destroyed under a running server).

The kernel shows a process's descriptors to its owner (every process's to root); one that cannot
be read is skipped, as ``secretum.lib.listening`` does for sockets: the check finds what this
user's processes (a server run as this user, its workers, a shell's command) hold open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Holder:
    pid: int
    name: str  # the program, as /proc/<pid>/comm names it
    path: str  # one file of the folder it holds open

    def __str__(self) -> str:
        return f"process {self.pid} ({self.name}) holds {self.path}"


def holders(folder: Path) -> list[Holder]:
    """The other processes with a file under ``folder`` open, one line each (the first file
    found), by process id."""
    inside = str(folder.resolve())
    found: list[Holder] = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        held = _first_under(entry / "fd", inside)
        if held:
            found.append(Holder(int(entry.name), _name(entry), held))
    return sorted(found, key=lambda h: h.pid)


def _first_under(descriptors: Path, inside: str) -> str | None:
    try:
        fds = list(descriptors.iterdir())
    except OSError:  # gone meanwhile, or not ours to read
        return None
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target == inside or target.startswith(inside + os.sep):
            return target.removesuffix(" (deleted)")
    return None


def _name(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip() or "?"
    except OSError:
        return "?"
