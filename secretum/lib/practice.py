"""The practice's name, as every page, PDF, e-mail and report shows it (issue 16).

``SECRETUM_PRACTICE_NAME`` as configured; when the practice gave none (or left the default of
settings.py), the words for "medical practice" in the reader's language, never French in every
language.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext

# What ``SECRETUM_PRACTICE_NAME`` defaults to (settings.py).
UNNAMED_PRACTICE = "Cabinet médical"


def practice_name() -> str:
    """The practice's name as configured, or the translated words for "medical practice"."""
    name = str(settings.PRACTICE_NAME)
    return gettext("Medical practice") if name in ("", UNNAMED_PRACTICE) else name
