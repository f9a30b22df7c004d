from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.mail.models import Correspondent


class CorrespondentForm(forms.Form):
    """A new correspondent (M1): checked again by ``services.add_correspondent``."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Correspondent.Kind.choices)
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    certificate = forms.CharField(
        label=_("S/MIME certificate (PEM, optional)"),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        required=False,
        max_length=20000,
        help_text=_("With it, documents are sent S/MIME-encrypted for this correspondent."),
    )
    age_recipient = forms.CharField(
        label=_("age public key (optional)"),
        max_length=100,
        required=False,
        help_text=_("Without a certificate or a key, each document gets a passphrase of its own."),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("The code the correspondent received"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ChooseForm(forms.Form):
    """M1: the recipient, among the verified correspondents."""

    correspondent = forms.ChoiceField(label=_("Send to"))

    def __init__(self, *args: Any, choices: list[Correspondent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["correspondent"]).choices = [
            (str(c.uid), f"{c.name} <{c.email}>") for c in choices
        ]


class ConfirmForm(forms.Form):
    correspondent = forms.UUIDField(widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=_("I checked the recipient, the address and the patient concerned.")
    )
