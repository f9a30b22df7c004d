from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class CopyForm(forms.Form):
    """The patient's copy: encrypted for an age key when the patient has one, else under a
    passphrase made for it (E7, M3)."""

    recipient = forms.CharField(
        label=_("The patient's age public key (optional)"),
        help_text=_(
            "Leave empty to protect the file with a passphrase, shown once on the next page."
        ),
        max_length=100,
        required=False,
    )
