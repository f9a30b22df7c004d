"""The Belgian national number (NISS / INSZ / rijksregisternummer) and its check digits.

Eleven digits: YYMMDD (birth date; month +20 or +40 for BIS numbers, 00 when unknown), a
three-digit serial (odd for men, even for women) and two check digits: 97 minus the first nine
digits modulo 97. For people born in 2000 or later, a '2' is put before the nine digits first.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils.translation import gettext as _

_SEPARATORS = re.compile(r"[\s.\-/]")
# ASCII digits only (N2): str.isdigit() is also true for "²" or "١", which int() then refuses or
# reads as another number, and a number stored in other digits would never match its blind index.
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")


class NissError(ValueError):
    pass


def clean(text: str) -> str:
    """The eleven digits of a national number typed in any usual format, or NissError."""
    digits = _SEPARATORS.sub("", text or "")
    if not _ELEVEN_DIGITS.fullmatch(digits):
        if any(c.isdigit() and not c.isascii() for c in digits):
            raise NissError(
                _("Type the national number with the digits 0 to 9, such as 85.07.30-033.28.")
            )
        raise NissError(_("A national number has 11 digits, such as 85.07.30-033.28."))
    body, check = digits[:9], int(digits[9:])
    if 97 - int(body) % 97 != check and 97 - int("2" + body) % 97 != check:
        raise NissError(_("This national number's check digits are wrong: please check it."))
    return digits


def looks_like(text: str) -> bool:
    return _ELEVEN_DIGITS.fullmatch(_SEPARATORS.sub("", text or "")) is not None


def check_digits(body9: str, born_2000_or_later: bool) -> str:
    number = int(("2" if born_2000_or_later else "") + body9)
    return f"{97 - number % 97:02d}"


def build(birth: dt.date, serial: int) -> str:
    """A valid number for a birth date and serial (1–998): for fictitious data only (N3)."""
    if not 1 <= serial <= 998:
        raise NissError(_("serial must be between 1 and 998"))
    body = f"{birth:%y%m%d}{serial:03d}"
    return body + check_digits(body, birth.year >= 2000)


def formatted(digits: str) -> str:
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}-{digits[6:9]}.{digits[9:11]}"
