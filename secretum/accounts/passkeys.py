"""WebAuthn security keys and passkeys (B3) with py_webauthn (W3C WebAuthn Level 2).

The relying party is the host the browser is on; WebAuthn needs a domain name, so the demo is
reached at https://localhost:8443 for security keys (an IP address cannot be a relying party).
Challenges live in the server-side session and are used once.
"""

from __future__ import annotations

import json
from typing import Any

import webauthn
from django.http import HttpRequest
from django.utils import timezone
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from secretum.access.actor import Actor
from secretum.accounts import integrity
from secretum.accounts.models import Factor
from secretum.audit.log import record_event
from secretum.crypto import keyring

CHALLENGE = "sx_webauthn_challenge"
RP_NAME = "Secretum"


class PasskeyError(Exception):
    pass


def _rp_id(request: HttpRequest) -> str:
    return request.get_host().rsplit(":", 1)[0].strip("[]")


def _origin(request: HttpRequest) -> str:
    return f"https://{request.get_host()}"


def _user_handle(user: Any) -> bytes:
    # An opaque, stable handle: never the user name or the database id (WebAuthn §14.6.1).
    return keyring.secret_digest("webauthn-user", str(user.pk))[:16]


def registration_options(request: HttpRequest, user: Any) -> str:
    existing = Factor.objects.filter(user=user, kind=Factor.Kind.WEBAUTHN, confirmed=True)
    options = webauthn.generate_registration_options(
        rp_id=_rp_id(request),
        rp_name=RP_NAME,
        user_name=user.username,
        user_id=_user_handle(user),
        user_display_name=str(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(f.credential_id))
            for f in existing
            if f.credential_id is not None
        ],
    )
    request.session[CHALLENGE] = options.challenge.hex()
    return webauthn.options_to_json(options)


def _take_challenge(request: HttpRequest) -> bytes:
    challenge = request.session.pop(CHALLENGE, None)
    if not challenge:
        raise PasskeyError("no registration or login in progress")
    return bytes.fromhex(challenge)


def register(request: HttpRequest, user: Any, credential: str, name: str) -> Factor:
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=_take_challenge(request),
            expected_rp_id=_rp_id(request),
            expected_origin=_origin(request),
        )
    except Exception as exc:  # the library raises several types; all mean "refused"
        raise PasskeyError(str(exc)) from None
    factor = Factor.objects.create(
        user=user,
        kind=Factor.Kind.WEBAUTHN,
        name=(name.strip() or "Security key")[:64],
        confirmed=True,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        last_used_at=timezone.now(),
    )
    user.must_enrol_factor = False
    user.save(update_fields=["must_enrol_factor"])
    record_event(
        Actor.for_user(
            user, request.META.get("REMOTE_ADDR", ""), getattr(request, "request_id", "")
        ),
        "create",
        "accounts.Factor",
        resource_ref=str(factor.pk),
        detail={"kind": "webauthn"},
    )
    return factor


def authentication_options(request: HttpRequest, user: Any) -> str:
    factors = Factor.objects.filter(user=user, kind=Factor.Kind.WEBAUTHN, confirmed=True)
    options = webauthn.generate_authentication_options(
        rp_id=_rp_id(request),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(f.credential_id))
            for f in factors
            if f.credential_id is not None
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    request.session[CHALLENGE] = options.challenge.hex()
    return webauthn.options_to_json(options)


def authenticate(request: HttpRequest, user: Any, credential: str) -> Factor:
    try:
        raw_id = webauthn.base64url_to_bytes(json.loads(credential)["rawId"])
    except (ValueError, KeyError, TypeError):
        raise PasskeyError("malformed credential") from None
    factor = Factor.objects.filter(
        user=user, kind=Factor.Kind.WEBAUTHN, confirmed=True, credential_id=raw_id
    ).first()
    if factor is None:
        raise PasskeyError("unknown credential")
    if not integrity.checked(factor, request.META.get("REMOTE_ADDR", "")):
        # B3: a key added or changed in the database without the key file proves nothing.
        raise PasskeyError("credential altered outside Secretum")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=_take_challenge(request),
            expected_rp_id=_rp_id(request),
            expected_origin=_origin(request),
            credential_public_key=bytes(factor.public_key),  # type: ignore[arg-type]
            credential_current_sign_count=factor.sign_count,
        )
    except Exception as exc:
        raise PasskeyError(str(exc)) from None
    Factor.objects.filter(pk=factor.pk).update(
        sign_count=verified.new_sign_count, last_used_at=timezone.now()
    )
    return factor
