from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from secretum.access.policy import ROLE_LABELS, Role
from secretum.accounts.models import PracticeSettings
from secretum.accounts.services import RECOVERY_ALPHABET
from secretum.accounts.validators import MAX_LENGTH

# N2: the shapes a second-factor code may take, checked before any service sees it. Spaces and
# dashes are how people group digits ("123 456", "abcde-23456"); anything else outside ASCII
# (the digits "²" or "١" pass str.isdigit() and then break the TOTP comparison) is refused.
_SPACES_AND_DASHES = re.compile(r"[\s\-]+")
TOTP_CODE = re.compile(r"[0-9]{6}")  # RFC 6238 codes of six digits, as accounts.totp checks
RECOVERY_CODE = re.compile(f"[{RECOVERY_ALPHABET}]{{10}}")  # as services.new_recovery_codes


def _code_shape(typed: str) -> str:
    """The code without spaces and dashes, in lower case; "" when it is not ASCII."""
    code = _SPACES_AND_DASHES.sub("", typed)
    return code.lower() if code.isascii() else ""


def second_factor_code(typed: str) -> str:
    """A TOTP code or a recovery code as typed, normalised (no spaces or dashes, lower case), or
    ValidationError saying what a code looks like. For every form field that takes one."""
    code = _code_shape(typed)
    if not (TOTP_CODE.fullmatch(code) or RECOVERY_CODE.fullmatch(code)):
        raise forms.ValidationError(
            _(
                "Type the 6 digits your authenticator app shows, or a recovery code of "
                "10 letters and digits such as abcde-23456."
            )
        )
    return code


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "inputmode": "text",
                "autocapitalize": "off",
            }
        ),
    )

    def clean_code(self) -> str:
        return second_factor_code(self.cleaned_data["code"])


class ReauthForm(CodeForm):
    """Unlock and sudo: the password and a second factor again."""

    password = forms.CharField(
        label=_("Password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["password", "code"]


class NewPasswordForm(forms.Form):
    new_password1 = forms.CharField(
        label=_("New password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "At least 12 characters; a sentence of unrelated words is easy to remember. Not a "
            "common password, nor mostly a keyboard row, a sequence or repeats."
        ),
    )
    new_password2 = forms.CharField(
        label=_("The same password again"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        one, two = data.get("new_password1"), data.get("new_password2")
        if one and two and one != two:
            self.add_error("new_password2", _("The two passwords differ."))
        elif one and self.user is not None:
            try:
                password_validation.validate_password(one, self.user)
            except forms.ValidationError as exc:
                self.add_error("new_password1", exc)
        return data


class EnrolForm(NewPasswordForm):
    token = forms.CharField(
        label=_("Enrolment code"),
        max_length=100,
        help_text=_("From the link your practice manager gave you."),
    )
    field_order = ["token", "new_password1", "new_password2"]


class FactorsLinkForm(forms.Form):
    """A link after a reset of the factors: the link, and the account's current password."""

    token = forms.CharField(
        label=_("Code of the link"),
        max_length=100,
        help_text=_("From the link your practice manager gave you."),
    )
    password = forms.CharField(
        label=_("Your current password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordLinkForm(NewPasswordForm):
    """A link for a forgotten password: the link, one of the account's second factors, and the
    new password."""

    token = forms.CharField(
        label=_("Code of the link"),
        max_length=100,
        help_text=_("From the link your practice manager gave you."),
    )
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off"}),
    )
    field_order = ["token", "code", "new_password1", "new_password2"]

    def clean_code(self) -> str:
        return second_factor_code(self.cleaned_data["code"])  # N2, as CodeForm


class ChangePasswordForm(NewPasswordForm):
    old_password = forms.CharField(
        label=_("Current password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["old_password", "new_password1", "new_password2"]
    # The current password is checked by the view through accounts.services, throttled, counted
    # towards the lock-out and audited like a login's (B2): never here, where nothing counts.


class TotpConfirmForm(forms.Form):
    factor = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name of this authenticator"), max_length=64, required=False)
    code = forms.CharField(
        label=_("The 6-digit code it shows now"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_code(self) -> str:
        code = _code_shape(self.cleaned_data["code"])
        if not TOTP_CODE.fullmatch(code):
            raise forms.ValidationError(
                _("Type the 6 digits (0 to 9) your authenticator app shows now.")
            )
        return code


class NameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)


def _moment(label: Any, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class RoleDatesForm(forms.Form):
    """C2: a role and the period it applies in; the service checks the dates (N2)."""

    # K2: an outside technician's account comes only with a maintenance window (windows.py).
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(r.value, ROLE_LABELS[r]) for r in Role if r != Role.TECHNICIAN],
    )
    role_starts_at = _moment(
        _("Role from"), _("Empty: from now (a new role), or as before (the same role).")
    )
    role_ends_at = _moment(_("Role until"), _("Empty: no end. The role holds nothing after it."))


class NewUserForm(RoleDatesForm):
    username = forms.RegexField(
        label=_("User name"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        help_text=_("Personal: one account per person, never shared."),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    email = forms.EmailField(label=_("E-mail"), required=False)
    field_order = [
        "username", "first_name", "last_name", "email", "role", "role_starts_at", "role_ends_at",
    ]  # fmt: skip


class RoleForm(RoleDatesForm):
    """C2: change a user's role or its dates (the user chosen in a list: no identifier in a
    URL, H2)."""

    user = forms.TypedChoiceField(label=_("User"), coerce=int)
    field_order = ["user", "role", "role_starts_at", "role_ends_at"]

    def __init__(self, *args: Any, users: Any = (), **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "edit_%s")  # beside the new user's form on the same page
        super().__init__(*args, **kwargs)
        field: Any = self.fields["user"]  # a TypedChoiceField: it has choices
        field.choices = [(u.pk, f"{u} ({u.username})") for u in users]


class PracticeSettingsForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # J1, J2: a form posted without them (an older page) leaves these settings as they are.
        for name in ("archive_years", "retention_years", "key_backup_expiry_days"):
            self.fields[name].required = False

    class Meta:
        model = PracticeSettings
        fields = [
            "idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days",
            "inactive_days", "archive_years", "retention_years", "key_backup_expiry_days",
        ]  # fmt: skip
        labels = {
            "idle_timeout_minutes": _("Lock the screen after this many idle minutes (1–20)"),
            "session_lifetime_hours": _("End any session after this many hours (1–12)"),
            "password_renewal_days": _("Ask for a new password after this many days (0: never)"),
            "inactive_days": _("Disable accounts nobody signed in to for this many days (30–365)"),
            "archive_years": _(
                "Archive the records of patients without contact for this many years (2–30)"
            ),
            "retention_years": _("Keep a record this many years after the last contact (30–50)"),
            "key_backup_expiry_days": _(
                "Key-store backups older than a destruction expire after this many days"
            ),
        }
        help_texts = {
            "password_renewal_days": _(
                "Off by default: NIST SP 800-63B-4 and OWASP ASVS advise against forced "
                "periodic change; a manager can force a change when a password is compromised."
            ),
            "inactive_days": _(
                "Checked once a day. The last active manager is never disabled this way; a "
                "manager can enable an account again."
            ),
            "archive_years": _(
                "Checked once a day. An archived record leaves every search and list; a "
                "practitioner opens it with a reason, or restores it to active."
            ),
            "retention_years": _(
                "Belgian law (22 April 2019, art. 35) keeps a patient record at least 30 and at "
                "most 50 years after the last contact. Then it is listed for destruction "
                "(Records due for destruction)."
            ),
            "key_backup_expiry_days": _(
                "Copies of the key file and recovery material made before a destruction are "
                "discarded after this many days; until then an old data backup could still be "
                "opened with them. Keep your rotation of key-store copies within this period."
            ),
        }


class CharterForm(forms.Form):
    text_fr = forms.CharField(label="Français", widget=forms.Textarea(attrs={"rows": 10}))
    text_nl = forms.CharField(label="Nederlands", widget=forms.Textarea(attrs={"rows": 10}))
    text_en = forms.CharField(label="English", widget=forms.Textarea(attrs={"rows": 10}))
