"""The host's listening TCP sockets, read from the kernel (``/proc/net/tcp``, ``/proc/net/tcp6``)
with the standard library alone, and the program behind each one (H3, F3).

What a process sees there is its own network namespace: the whole host for a service run
directly, the container's for one run in a container. Telling which program owns a socket means
reading ``/proc/<pid>/fd``, which the kernel allows for one's own processes (all of them for
root): an owner that cannot be read is reported as unknown, never guessed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # TCP_LISTEN in the kernel's tcp_states.h


class Unavailable(OSError):
    """The kernel's socket tables cannot be read here (not Linux, or /proc not mounted)."""


@dataclass(frozen=True)
class Listener:
    address: str  # "0.0.0.0", "::", "127.0.0.1"…
    port: int
    inode: int  # the socket's inode: how /proc/<pid>/fd names it

    @property
    def where(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def _address(hexa: str) -> str:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in the host's (little-endian)
    byte order, one word for IPv4, four for IPv6."""
    raw = bytes.fromhex(hexa)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def parse(table: str) -> list[Listener]:
    """The listening sockets of one table's text (its first line is the header)."""
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        address, port = fields[1].rsplit(":", 1)
        found.append(Listener(_address(address), int(port, 16), int(fields[9])))
    return found


def listeners(proc: Path | None = None) -> list[Listener]:
    """Every TCP socket listening in this network namespace, IPv4 and IPv6, by port."""
    proc = proc or PROC
    found: list[Listener] = []
    read = 0
    for name in ("tcp", "tcp6"):
        try:
            text = (proc / "net" / name).read_text()
        except FileNotFoundError:  # tcp6 is absent when IPv6 is off
            continue
        read += 1
        found += parse(text)
    if not read:
        raise Unavailable(f"no {proc / 'net' / 'tcp'}: the listening sockets cannot be read")
    return sorted(found, key=lambda s: (s.port, s.address))


def owners(inodes: set[int], proc: Path | None = None) -> dict[int, tuple[str, ...]]:
    """The arguments of the process holding each of these sockets, where they can be read.
    (They may hold a secret typed on a command line: show the program's name, not them.)"""
    wanted = {f"socket:[{n}]": n for n in inodes}
    found: dict[int, tuple[str, ...]] = {}
    if not wanted:
        return found
    for task in (proc or PROC).iterdir():
        if not task.name.isdigit():
            continue
        try:
            for fd in (task / "fd").iterdir():
                inode = wanted.get(_readlink(fd))
                if inode is not None and inode not in found:
                    raw = (task / "cmdline").read_bytes().rstrip(b"\0")
                    found[inode] = tuple(raw.decode(errors="replace").split("\0"))
        except OSError:  # another user's process, or one that just ended
            continue
        if len(found) == len(wanted):
            break
    return found


def _readlink(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return ""
