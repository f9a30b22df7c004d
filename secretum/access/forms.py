"""Forms of the ways into a record and of their review (C1, C2)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.access.care import COMMENT_MAX, REASON_MAX, REASON_MIN
from secretum.access.models import AccessPolicy, GlassBreak

CATEGORIES = [
    (GlassBreak.Category.EMERGENCY, _("Emergency: the patient needs care now")),
    (GlassBreak.Category.REPLACEMENT, _("Replacing the patient's practitioner")),
    (GlassBreak.Category.OTHER, _("Other")),
]


class GlassForm(forms.Form):
    category = forms.ChoiceField(label=_("Why"), choices=CATEGORIES, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Reason"),
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": REASON_MAX}),
        help_text=_(
            "%(min)d to %(max)d characters. Say why you open this record, never a medical "
            "detail: the auditor reads it."
        )
        % {"min": REASON_MIN, "max": REASON_MAX},
    )


class ReviewForm(forms.Form):
    justified = forms.TypedChoiceField(
        label=_("Judgement"),
        choices=[("yes", _("Justified")), ("no", _("Not justified"))],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": COMMENT_MAX}),
        help_text=_("Required when the access was not justified."),
    )


class PolicyForm(forms.Form):
    shared_record = forms.TypedChoiceField(
        label=_("Who reads a patient's medical record"),
        choices=[
            ("no", _("Practitioners in a care relationship with the patient (recommended)")),
            ("yes", _("Every practitioner of the practice (shared record)")),
        ],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    relationship_months = forms.IntegerField(
        label=_("A care relationship ends after this many months without contact"),
        min_value=1,
        max_value=120,
    )
    glass_hours = forms.IntegerField(
        label=_("An emergency access (break the glass) lasts this many hours"),
        min_value=1,
        max_value=12,
    )

    @classmethod
    def initial_from(cls, policy: AccessPolicy) -> dict[str, object]:
        return {
            "shared_record": "yes" if policy.shared_record else "no",
            "relationship_months": policy.relationship_months,
            "glass_hours": policy.glass_hours,
        }
