"""The practice manager's pages: users (never a password: one-time links), their roles and the
periods they apply in, the report on permissions kept current (C2), security settings, the IT
charter (B1, B3, E1, A2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission, Role
from secretum.accounts import charter as charters
from secretum.accounts import flow, lifecycle, links, services
from secretum.accounts.forms import (
    CharterForm,
    NewUserForm,
    PracticeSettingsForm,
    RoleForm,
)
from secretum.accounts.web import (
    actor_of,
    posted_int,
    sudo,
)

# --- practice manager: users and settings -------------------------------------------------------


@requires(Permission.USERS_MANAGE)
@require_GET
def users_view(request: HttpRequest) -> HttpResponse:
    users = services.list_users(actor_of(request))
    return render(
        request,
        "accounts/users.html",
        {
            "users": users,
            "locked": services.locked_accounts(),
            "form": NewUserForm(),
            "role_form": RoleForm(users=users),
            "link": request.session.pop("sx_enrol_link", None),
        },
    )


def _form_errors(request: HttpRequest, form: Any) -> None:
    messages.error(
        request,
        _("Check the form: %(errors)s")
        % {"errors": "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())},
    )


LINK_PAGES = {
    links.Purpose.ENROL: "accounts:enrol",
    links.Purpose.FACTORS: "accounts:enrol_factors",
    links.Purpose.PASSWORD: "accounts:enrol_password",
}


def _show_link(request: HttpRequest, user: Any, purpose: links.Purpose, token: str) -> None:
    """Shown once to the manager, to hand to its owner; the token only in the fragment (H2)."""
    request.session["sx_enrol_link"] = {
        "user": str(user),
        "purpose": purpose,
        "url": request.build_absolute_uri(reverse(LINK_PAGES[purpose])) + "#" + token,
    }


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST)
    actor = actor_of(request)
    if form.is_valid():
        try:
            user = services.create_user(
                actor,
                username=form.cleaned_data["username"],
                role=Role(form.cleaned_data["role"]),
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                email=form.cleaned_data["email"],
                role_starts_at=form.cleaned_data["role_starts_at"],
                role_ends_at=form.cleaned_data["role_ends_at"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            purpose, token = links.issue(actor, user.pk, links.Purpose.ENROL)
            _show_link(request, user, purpose, token)
            return redirect("accounts:users")
    else:
        _form_errors(request, form)
    return redirect("accounts:users")


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def user_role_view(request: HttpRequest) -> HttpResponse:
    """C2: a user's role and its dates; applies from that user's next request."""
    actor = actor_of(request)
    form = RoleForm(request.POST, users=services.list_users(actor))
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("accounts:users")
    try:
        changed = lifecycle.change_role(
            actor,
            form.cleaned_data["user"],
            Role(form.cleaned_data["role"]),
            form.cleaned_data["role_starts_at"],
            form.cleaned_data["role_ends_at"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Role saved.") if changed else _("Nothing to change."))
    return redirect("accounts:users")


@requires(Permission.USERS_MANAGE)
@require_GET
def permissions_view(request: HttpRequest) -> HttpResponse:
    """C2: accounts disabled for inactivity, roles ended or ending, accounts near the limit."""
    report = lifecycle.permissions_report(actor_of(request))
    return render(request, "accounts/permissions.html", {"report": report})


def _reset_factors(request: HttpRequest, actor: Actor, user_id: int) -> None:
    user = services.reset_factors(actor, user_id)
    if links.purpose_for(user) is not None:
        purpose, token = links.issue(actor, user_id)
        _show_link(request, user, purpose, token)


def _link(purpose: links.Purpose | None) -> Callable[[HttpRequest, Actor, int], None]:
    def action(request: HttpRequest, actor: Actor, user_id: int) -> None:
        chosen, token = links.issue(actor, user_id, purpose)
        _show_link(request, services.managed_user(actor, user_id, "update"), chosen, token)

    return action


USER_ACTIONS: dict[str, Callable[[HttpRequest, Actor, int], Any]] = {
    "disable": lambda r, a, uid: services.set_active(a, uid, False),
    "enable": lambda r, a, uid: services.set_active(a, uid, True),
    "reset-factors": _reset_factors,
    "flag-password": lambda r, a, uid: services.flag_password_compromised(a, uid),
    "end-sessions": lambda r, a, uid: services.manager_end_sessions(a, uid),
    "enrolment-link": _link(None),
    "password-link": _link(links.Purpose.PASSWORD),
}


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def user_action_view(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    user_id, action = posted_int(request, "user"), request.POST.get("action", "")
    try:
        if action not in USER_ACTIONS:
            messages.error(request, _("Unknown action."))
        else:
            USER_ACTIONS[action](request, actor, user_id)
            if "sx_enrol_link" not in request.session:
                messages.success(request, _("Done."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:users")


@requires(Permission.SETTINGS_MANAGE)
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    current = services.practice_settings()
    form = PracticeSettingsForm(request.POST or None, instance=current)
    charter = charters.current_charter()
    charter_form = CharterForm(
        initial={
            "text_fr": charter.text_fr if charter else "",
            "text_nl": charter.text_nl if charter else "",
            "text_en": charter.text_en if charter else "",
        }
    )
    if request.method == "POST":
        if not flow.recent_reauth(request):
            return redirect(f"{reverse('accounts:confirm')}?next={request.path}")
        if form.is_valid():  # the model's own validation: the service's full_clean agrees
            services.update_practice_settings(actor_of(request), **form.cleaned_data)
            messages.success(request, _("Settings saved."))
            return redirect("accounts:settings")
    return render(
        request,
        "accounts/settings.html",
        {"form": form, "charter": charter, "charter_form": charter_form},
    )


@requires(Permission.SETTINGS_MANAGE)
@require_POST
@sudo
def charter_publish_view(request: HttpRequest) -> HttpResponse:
    form = CharterForm(request.POST)
    if form.is_valid():
        charter = charters.publish_charter(actor_of(request), **form.cleaned_data)
        messages.success(
            request,
            _("Charter version %(v)d published: every user accepts it at next login.")
            % {"v": charter.version},
        )
    else:
        messages.error(request, _("The charter needs a text in each language."))
    return redirect("accounts:settings")
