from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class DocumentForm(forms.Form):
    document = forms.FileField(
        label=_("Document (PDF, PNG or JPEG)"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )


class FileScanForm(forms.Form):
    """Filing a scan of the unfiled tray (D4) to its patient."""

    patient = forms.CharField(
        label=_("The patient's national number or reference"),
        max_length=64,
        help_text=_(
            "The 11 digits of the national number (85.07.30-033.28), or the reference "
            "shown on the patient's record."
        ),
    )
