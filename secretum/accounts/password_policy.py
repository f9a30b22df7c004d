"""Passwords an attacker tries first are refused (B2).

Two validators, listed in ``settings.AUTH_PASSWORD_VALIDATORS``:

- ``CommonPasswordValidator`` replaces Django's validator of the same name (the B2 evidence of
  ``accounts/evidence.py`` looks the rule up by that name): the 100,000 most common passwords of
  a real breach corpus, shipped offline in ``data/`` (see ``data/README.md``), compared with the
  password and with its normalised variants, so that ``Password2026!`` or ``P@ssw0rd`` are
  refused like ``password``.
- ``PredictablePasswordValidator``: a password made mostly of repeated characters, sequences
  (``abcd``, ``4321``) or keyboard walks (rows, columns and diagonals of the AZERTY keyboards of
  France and Belgium, the QWERTY one used in the Netherlands, QWERTZ and the numeric keypad).

Neither asks for a composition rule (NIST SP 800-63B-4 §3.1.1.2): a phrase of ordinary words
passes both.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.accounts.validators import MAX_LENGTH

COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"

# --- the list of common passwords ---------------------------------------------------------------

_loaded: frozenset[str] | None = None
_loading = threading.Lock()


def common_passwords() -> frozenset[str]:
    """The casefolded list, read once per process on first use (about 0.1 s and 10 MB; a set
    answers each look-up in constant time, and only a password change ever asks)."""
    global _loaded
    with _loading:  # two first requests at once read the file once
        if _loaded is None:
            with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
                _loaded = frozenset(line.rstrip("\n") for line in lines if line != "\n")
    return _loaded


# Look-alike characters people put for letters ("p@ssw0rd"); "1" stands for l or i.
_LEET = {
    "0": "o",
    "1": "li",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "€": "e",
    "!": "i",
    "|": "l",
    "+": "t",
}
_MAX_LEET_VARIANTS = 64  # "1" twice or thrice is common; a string of ones need not explode
# What people add around a common password: "Password2026!", "!!azerty", "soleil 123".
# Digits may be letters in disguise ("l1l1!"): the symbols alone are also taken off.
_BEFORE = (re.compile(r"^[\W\d_]+"), re.compile(r"^[\W_]+"))
_AFTER = (re.compile(r"[\W\d_]+$"), re.compile(r"[\W_]+$"))
_SEPARATORS = re.compile(r"[\s._-]+")
# A date of birth or of an anniversary, as people write it: 19051987, 190587, 19870519.
_DAY, _MONTH, _YEAR = r"(0[1-9]|[12]\d|3[01])", r"(0[1-9]|1[0-2])", r"(19|20)\d\d"
_DATE = re.compile(rf"{_DAY}{_MONTH}({_YEAR}|\d\d)|{_YEAR}{_MONTH}{_DAY}")
# A base shorter than this ("ab" of "ab1987!") is no common password in disguise.
_MIN_BASE = 4


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _unleet(text: str) -> Iterator[str]:
    options = [_LEET.get(c, c) for c in text]
    yield from itertools.islice(map("".join, itertools.product(*options)), _MAX_LEET_VARIANTS)


def _guessable(added: str) -> bool:
    """What people add to a word and attackers try first: up to 4 digits or a date, with one or
    two different symbols ("2026!", "!!123", "19051987"), or a run ("123456", "!@#$"). Random
    characters around a short word ("\\|karl72;2[4") are not: that word is then no weakness."""
    digits = "".join(c for c in added if c.isdigit())
    symbols = set(added) - set(digits)
    if len(symbols) <= 2 and (len(digits) <= 4 or _DATE.fullmatch(digits)):
        return True
    covered, length = predictable_share(added)
    return covered >= length - 2


def _bases(form: str) -> Iterator[str]:
    """``form`` without what was added before it, after it, or both, when that is guessable."""
    heads = {"", *(m.group() for m in (p.search(form) for p in _BEFORE) if m)}
    tails = {"", *(m.group() for m in (p.search(form) for p in _AFTER) if m)}
    for head, tail in itertools.product(heads, tails):
        kept = form[len(head) : len(form) - len(tail)]
        if (head or tail) and len(kept) >= _MIN_BASE and _guessable(head + tail):
            yield kept


def variants(password: str) -> set[str]:
    """The forms under which a common password may hide: casefolded, without accents, without
    separators, with look-alike characters read as letters, and without the digits and symbols
    people add around it."""
    folded = password.casefold()
    forms = {folded, _without_accents(folded)}
    forms |= {_SEPARATORS.sub("", f) for f in forms}
    forms |= {u for f in forms for u in _unleet(f)}
    bases = {b for f in forms for b in _bases(f)}
    return forms | bases | {u for b in bases for u in _unleet(b)}


class CommonPasswordValidator:
    """B2: not one of the 100,000 most common passwords (SecLists, "10-million-password-list",
    data/README.md), nor one of them with capitals, accents, look-alike characters or digits
    and symbols added around it. Replaces Django's 20,000-entry list, compared as typed only."""

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > MAX_LENGTH:
            return  # MaximumLengthValidator says so; no list entry is that long
        common = common_passwords()
        if password.casefold() in common:
            raise ValidationError(
                _(
                    "This password is among the most commonly used ones: choose a longer "
                    "phrase of unrelated words."
                ),
                code="password_too_common",
            )
        if any(v in common for v in variants(password)):
            raise ValidationError(
                _(
                    "This password is a common one in disguise (capitals, digits for letters, "
                    "digits or symbols added): choose a longer phrase of unrelated words."
                ),
                code="password_common_variant",
            )

    def get_help_text(self) -> str:
        return _(
            "Not one of the 100,000 most common passwords, even with capitals, digits for "
            "letters or a year added."
        )


# --- repeated characters, sequences, keyboard walks ---------------------------------------------

# Keyboards: each row from the number row down, as (x of its first key in key widths, keys,
# the same keys with Shift; a space where Shift gives nothing). The x offsets are those of the
# ISO and ANSI boards (Tab 1.5, Caps Lock 1.75, Z/W/Y at 2.25), so a column such as "1qaz" or a
# diagonal such as "zse4" is a straight line of neighbours.
KEYBOARDS: dict[str, tuple[tuple[float, str, str], ...]] = {
    # US-International, the QWERTY of the Netherlands.
    "qwerty": (
        (0.0, "`1234567890-=", "~!@#$%^&*()_+"),
        (1.5, "qwertyuiop[]\\", "QWERTYUIOP{}|"),
        (1.75, "asdfghjkl;'", 'ASDFGHJKL:"'),
        (2.25, "zxcvbnm,./", "ZXCVBNM<>?"),
    ),
    "azerty-fr": (
        (0.0, "²&é\"'(-è_çà)=", " 1234567890°+"),
        (1.5, "azertyuiop^$", "AZERTYUIOP¨£"),
        (1.75, "qsdfghjklmù*", "QSDFGHJKLM%µ"),
        (1.25, "<wxcvbn,;:!", ">WXCVBN?./§"),
    ),
    "azerty-be": (
        (0.0, "²&é\"'(§è!çà)-", "³1234567890°_"),
        (1.5, "azertyuiop^$", "AZERTYUIOP¨*"),
        (1.75, "qsdfghjklmùµ", "QSDFGHJKLM%£"),
        (1.25, "<wxcvbn,;:=", ">WXCVBN?./+"),
    ),
    "qwertz": (
        (0.0, "^1234567890ß´", '°!"§$%&/()=?`'),
        (1.5, "qwertzuiopü+", "QWERTZUIOPÜ*"),
        (1.75, "asdfghjklöä#", "ASDFGHJKLÖÄ'"),
        (1.25, "<yxcvbnm,.-", ">YXCVBNM;:_"),
    ),
    "keypad": (
        (0.0, "789", "789"),
        (0.0, "456", "456"),
        (0.0, "123", "123"),
    ),
}


def _key_positions() -> dict[str, dict[str, tuple[int, float]]]:
    boards: dict[str, dict[str, tuple[int, float]]] = {}
    for name, rows in KEYBOARDS.items():
        keys: dict[str, tuple[int, float]] = {}
        for row, (start, plain, shifted) in enumerate(rows):
            for i, (a, b) in enumerate(zip(plain, shifted, strict=True)):
                for c in {a.lower(), b.lower()} - {" "}:
                    keys[c] = (row, start + i)
        boards[name] = keys
    return boards


_KEYS = _key_positions()
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

# A run counts from 3 characters ("aaa", "abc", "qwe"); a sequence of step 2 ("2468", "aceg")
# from 4, since such triples occur in words.
_MIN_RUN = 3
_MIN_STEP2_RUN = 4


@functools.lru_cache(maxsize=65536)
def _links(a: str, b: str) -> frozenset[tuple[Any, ...]]:
    """What makes ``b`` follow ``a`` predictably: the same character, the next in a sequence,
    or a neighbouring key in one direction on one of the keyboards."""
    found: set[tuple[Any, ...]] = set()
    if a == b:
        found.add(("same",))
    if (a in _LETTERS and b in _LETTERS) or (a.isdigit() and b.isdigit() and a.isascii()):
        step = ord(b) - ord(a)
        if step in (-2, -1, 1, 2):
            found.add(("seq", step))
    for name, keys in _KEYS.items():
        if a in keys and b in keys:
            (ra, xa), (rb, xb) = keys[a], keys[b]
            rows, dx = rb - ra, xb - xa
            if (rows == 0 and abs(dx) == 1) or (abs(rows) == 1 and abs(dx) <= 1):
                found.add(("key", name, rows, (dx > 0) - (dx < 0)))
    return frozenset(found)


def _min_run(link: tuple[Any, ...]) -> int:
    return _MIN_STEP2_RUN if link[0] == "seq" and abs(link[1]) == 2 else _MIN_RUN


def _runs(chars: list[str], stride: int) -> Iterator[tuple[tuple[Any, ...], list[int]]]:
    """Each maximal run of characters ``stride`` apart that keeps one kind of link, with that
    kind and the run's positions."""
    for start in range(stride):
        track = chars[start::stride]
        links = [_links(a, b) for a, b in itertools.pairwise(track)]
        for link in frozenset().union(*links):
            p = 0
            for held, group in itertools.groupby(link in kinds for kinds in links):
                pairs = len(list(group))
                if held and pairs + 1 >= _min_run(link):
                    yield link, [start + stride * i for i in range(p, p + pairs + 1)]
                p += pairs


def _interleaved(chars: list[str]) -> Iterator[range]:
    """Two runs woven together, one character each in turn: "1q2w3e" or "a1b2c3" (the same
    kind of run on both tracks), "a-z-e-r-t-y" (one track repeats a separator). Two unrelated
    runs woven by chance ("prosit": "poi" and "rst") are not a pattern."""
    runs = list(_runs(chars, 2))
    for (kind_a, a), (kind_b, b) in itertools.combinations(runs, 2):
        if a[0] % 2 == b[0] % 2 or not (kind_a == kind_b or ("same",) in (kind_a, kind_b)):
            continue
        # From the first character of the later track's run, less one, to the last of the
        # earlier-ending one, plus one: each position there belongs to one of the two runs.
        first, last = max(a[0], b[0]) - 1, min(a[-1], b[-1]) + 1
        if last - first + 1 >= 2 * _MIN_RUN:
            yield range(first, last + 1)


def _repeated_blocks(chars: list[str]) -> Iterator[range]:
    """A block repeated back to back: "lalala", "123123123" (three times for blocks of 2 or 3
    characters, which words repeat: "papa", "doudou"), "soleilsoleil" (twice from 4)."""
    n = len(chars)
    for size in range(2, n // 2 + 1):
        same = [chars[p] == chars[p + size] for p in range(n - size)]
        needed = size * (2 if size <= 3 else 1)
        p = 0
        for held, group in itertools.groupby(same):
            length = len(list(group))
            if held and length >= needed:
                yield range(p, p + length + size)
            p += length


def predictable_share(password: str) -> tuple[int, int]:
    """(characters inside a predictable run, length): repeats of 3 or more, sequences, walks
    on a keyboard (straight, in either direction), two such runs interleaved ("1q2w3e",
    "a1b2c3"), and repeated blocks."""
    chars = [c.lower() if len(c.lower()) == 1 else c for c in password]
    covered = [False] * len(chars)
    spans: list[Iterable[int]] = [run for _, run in _runs(chars, 1)]
    spans += [*_interleaved(chars), *_repeated_blocks(chars)]
    for span in spans:
        for p in span:
            covered[p] = True
    return sum(covered), len(chars)


class PredictablePasswordValidator:
    """B2: not mostly repeated characters, sequences or keyboard walks.

    Refused when such runs make up at least 60 % of the password and the rest is shorter than
    the 12 characters asked of any password. 60 %: "azertyuiopqs" (83 %), "qwertyuiop Anne"
    (67 %) or "Zx8!qwertyuiop" (71 %) are refused, while a phrase with a short walk inside
    ("ma chatte aime qwerty le soir", 21 %) and random strings (rarely above 25 %) pass. The
    rest of 12: a strong phrase padded with a run ("… fine yyyyyy") is not weakened by it."""

    def __init__(self, share: float = 0.6, rest: int = 12) -> None:
        self.share = share  # of the password's length, inside runs
        self.rest = rest  # characters outside runs that make it acceptable all the same

    def validate(self, password: str, user: Any = None) -> None:
        if not password or len(password) > MAX_LENGTH:
            return
        covered, length = predictable_share(password)
        if covered >= self.share * length and length - covered < self.rest:
            raise ValidationError(
                _(
                    "This password is mostly repeated characters, a sequence such as abcd or "
                    "1234, or neighbouring keys such as azerty: choose a phrase of unrelated "
                    "words instead."
                ),
                code="password_predictable",
            )

    def get_help_text(self) -> str:
        return _("Not mostly repeated characters, sequences or neighbouring keys (azerty, 1234).")
