from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from secretum.access.policy import ROLE_LABELS, Role
from secretum.accounts.models import PracticeSettings
from secretum.accounts.validators import MAX_LENGTH


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
        help_text=_("At least 12 characters; a sentence is easy to remember. No other rule."),
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


class ChangePasswordForm(NewPasswordForm):
    old_password = forms.CharField(
        label=_("Current password"),
        max_length=MAX_LENGTH + 1,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["old_password", "new_password1", "new_password2"]

    def clean_old_password(self) -> str:
        value: str = self.cleaned_data["old_password"]
        if self.user is None or not self.user.check_password(value):
            raise forms.ValidationError(_("Your current password is not this one."))
        return value


class TotpConfirmForm(forms.Form):
    factor = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name of this authenticator"), max_length=64, required=False)
    code = forms.CharField(
        label=_("The 6-digit code it shows now"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class NameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)


class NewUserForm(forms.Form):
    username = forms.RegexField(
        label=_("User name"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        help_text=_("Personal: one account per person, never shared."),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=[(r.value, ROLE_LABELS[r]) for r in Role])


class PracticeSettingsForm(forms.ModelForm):
    class Meta:
        model = PracticeSettings
        fields = ["idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days"]
        labels = {
            "idle_timeout_minutes": _("Lock the screen after this many idle minutes (1–20)"),
            "session_lifetime_hours": _("End any session after this many hours (1–12)"),
            "password_renewal_days": _("Ask for a new password after this many days (0: never)"),
        }
        help_texts = {
            "password_renewal_days": _(
                "Off by default: NIST SP 800-63B-4 and OWASP ASVS advise against forced "
                "periodic change; a manager can force a change when a password is compromised."
            ),
        }


class CharterForm(forms.Form):
    text_fr = forms.CharField(label="Français", widget=forms.Textarea(attrs={"rows": 10}))
    text_nl = forms.CharField(label="Nederlands", widget=forms.Textarea(attrs={"rows": 10}))
    text_en = forms.CharField(label="English", widget=forms.Textarea(attrs={"rows": 10}))
