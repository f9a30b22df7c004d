"""The forms of retention and destruction (J2)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.retention.models import ERASURE_BASES


class ErasureRequestForm(forms.Form):
    """A patient's erasure request (GDPR art. 17): the legal basis, from a closed list (N2)."""

    basis = forms.ChoiceField(
        label=_("Legal basis of the erasure"),
        choices=[(b.value, b.label) for b in ERASURE_BASES],
        widget=forms.RadioSelect,
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm that the law allows erasing this record before the end of its retention "
            "period, and that the patient asked for it."
        ),
    )


class DestroyForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I approve the destruction of this record. It cannot be undone."),
    )
