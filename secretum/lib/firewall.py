"""The host's firewall, read and never changed (F3, E9): does it drop by default what comes in?

Read from what the host's own tools print, as any administrator would look: ``nft list ruleset``
(nftables, and iptables' rules when iptables runs on nftables), ``iptables-save`` and
``ip6tables-save`` (the older iptables, whose loaded tables ``/proc/net/ip_tables_names`` and
``ip6_tables_names`` name). The kernel shows these to root alone (CAP_NET_ADMIN): run by another
user, the tools are refused, and the answer is "cannot tell", never a guess.

Three answers:

* ``DENY``: every packet that comes in (IPv4, and IPv6 where the host has it) meets a chain on the
  input hook that drops or rejects what no rule accepted (its policy, or a last rule without a
  condition);
* ``OPEN``: everything was read, and nothing drops by default (no firewall at all, or one whose
  input lets everything in);
* ``UNKNOWN``: not everything could be read (not root, a tool missing) and what was read does not
  drop by default.

The readers take the tools' text, and ``read`` takes the command runner: the tests feed them the
formats these tools print.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

PROC = Path("/proc")
TIMEOUT_SECONDS = 5


class State(StrEnum):
    DENY = "default-deny"
    OPEN = "open"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Families:
    """Which address families the read rules drop by default on input."""

    ipv4: bool = False
    ipv6: bool = False

    def __or__(self, other: Families) -> Families:
        return Families(self.ipv4 or other.ipv4, self.ipv6 or other.ipv6)


@dataclass(frozen=True)
class Reading:
    state: State
    read: tuple[str, ...] = ()  # the sources read: "nft list ruleset", "iptables-save"...
    unread: tuple[str, ...] = field(default=())  # the sources that could not be: and why


# --- nftables ----------------------------------------------------------------------------------

_TABLE = re.compile(r"^\s*table\s+(\w+)\s+\S+\s*\{")
_CHAIN = re.compile(r"^\s*chain\s+\S+\s*\{")
_HOOK = re.compile(r"\btype\s+filter\s+hook\s+input\b.*?\bpolicy\s+(accept|drop)\s*;")
# A rule without a condition: statements that match nothing (counting, logging), then a verdict.
_VERDICT = re.compile(
    r"^(?:counter(?:\s+packets\s+\d+\s+bytes\s+\d+)?\s+)?"
    r"(?:log(?:\s+prefix\s+\"[^\"]*\")?(?:\s+level\s+\w+)?\s+)?"
    r"(accept|drop|reject)\b"
)
_NFT_FAMILIES = {"ip": (True, False), "ip6": (False, True), "inet": (True, True)}


def _denies(policy: str, rules: list[str]) -> bool:
    """A chain's fate for what no rule matched: its first rule without a condition decides,
    else its policy."""
    for rule in rules:
        found = _VERDICT.match(rule)
        if found:
            return found.group(1) != "accept"
    return policy != "accept"


def parse_nft(ruleset: str) -> Families:
    """The default-deny input chains of ``nft list ruleset``'s text."""
    found = Families()
    family: tuple[bool, bool] | None = None
    hook: str | None = None  # the policy of the input base chain being read
    rules: list[str] = []
    for raw in ruleset.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        table = _TABLE.match(line)
        if table:
            family = _NFT_FAMILIES.get(table.group(1))
            continue
        if _CHAIN.match(line):
            hook, rules = None, []
            continue
        base = _HOOK.search(line)
        if base:
            hook = base.group(1)
            continue
        if line.startswith("type "):  # a base chain on another hook (forward, output)
            continue
        if line == "}":
            if hook is not None and family is not None and _denies(hook, rules):
                found = found | Families(*family)
            hook, rules = None, []
            continue
        rules.append(line)
    return found


# --- iptables ----------------------------------------------------------------------------------

_POLICY = re.compile(r"^(?::INPUT|-P\s+INPUT)\s+(ACCEPT|DROP)\b")
_RULE = re.compile(r"^-A\s+INPUT\s+(.*)$")
_CATCH_ALL = re.compile(
    r"^(?:-m\s+comment\s+--comment\s+(?:\"[^\"]*\"|\S+)\s+)?-j\s+(ACCEPT|DROP|REJECT)\b"
)


def input_denies(saved: str) -> bool:
    """Whether the filter table's INPUT chain of ``iptables-save`` (or ``iptables -S``) drops
    by default."""
    policy, table = "ACCEPT", "filter"
    rules: list[str] = []
    for raw in saved.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "filter":
            continue
        policy_line = _POLICY.match(line)
        if policy_line:
            policy = policy_line.group(1)
            continue
        found = _RULE.match(line)
        if found:
            rules.append(found.group(1).strip())
    for rule in rules:
        catch_all = _CATCH_ALL.match(rule)
        if catch_all:
            return catch_all.group(1) != "ACCEPT"
    return policy != "ACCEPT"


def parse_iptables(saved: str, ipv6: bool = False) -> Families:
    """The default-deny input of ``iptables-save`` (IPv4) or ``ip6tables-save`` (IPv6)."""
    denies = input_denies(saved)
    return Families(denies and not ipv6, denies and ipv6)


# --- the host ----------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], tuple[int, str]]


def run(argv: Sequence[str]) -> tuple[int, str]:
    """A tool's exit code and what it printed (its error when it fails). OSError when it is
    not installed."""
    done = subprocess.run(  # noqa: S603  (a fixed command, no shell)
        list(argv), capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr.strip()


def _loaded(name: str, proc: Path) -> bool | None:
    """Whether the older iptables has tables loaded (``/proc/net/<name>``), None when that
    cannot be read (root only)."""
    try:
        return bool((proc / "net" / name).read_text().split())
    except FileNotFoundError:
        return False  # the module is not loaded: no such table
    except OSError:
        return None


def _why(argv: Sequence[str], code: int, said: str) -> str:
    refused = "permission denied" in said.lower() or "not permitted" in said.lower()
    reason = "not root" if refused else (said.splitlines() or [f"exit code {code}"])[-1]
    return f"{' '.join(argv)}: {reason}"


def read(runner: Runner | None = None, proc: Path | None = None) -> Reading:
    """The host's firewall, as far as this process may read it."""
    runner, proc = runner or run, proc or PROC
    ipv6 = (proc / "net" / "if_inet6").exists()
    found, read_from, unread = Families(), [], []
    sources: list[tuple[Sequence[str], Callable[[str], Families], bool | None]] = [
        (("nft", "list", "ruleset"), parse_nft, True),
        (("iptables-save",), parse_iptables, _loaded("ip_tables_names", proc)),
        (("ip6tables-save",), lambda t: parse_iptables(t, ipv6=True),
         _loaded("ip6_tables_names", proc) if ipv6 else False),
    ]  # fmt: skip
    for argv, parse, needed in sources:
        if needed is False:  # no table of the older iptables loaded: nothing to read there
            continue
        try:
            code, said = runner(argv)
        except FileNotFoundError:
            unread.append(f"{' '.join(argv)}: not installed")
            continue
        except subprocess.TimeoutExpired:
            unread.append(f"{' '.join(argv)}: no answer within {TIMEOUT_SECONDS} s")
            continue
        except (OSError, subprocess.SubprocessError) as exc:
            unread.append(f"{' '.join(argv)}: {type(exc).__name__}")
            continue
        if code != 0:
            unread.append(_why(argv, code, said))
            continue
        read_from.append(" ".join(argv))
        found = found | parse(said)
    if found.ipv4 and (found.ipv6 or not ipv6):
        state = State.DENY
    elif unread:
        state = State.UNKNOWN
    else:
        state = State.OPEN
    return Reading(state, tuple(read_from), tuple(unread))
