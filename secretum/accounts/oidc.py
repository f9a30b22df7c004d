"""OpenID Connect relying party: the practice's external identity provider (B3, B1, H1, H2).

Belgian eID and itsme are reached through an OpenID Connect broker; Secretum speaks to one
provider, configured by the practice (``SECRETUM_OIDC_*``). The protocol, and why each check:

* Authorization Code flow (OpenID Connect Core 1.0 §3.1) with PKCE S256 (RFC 7636): the code
  is useless to whoever reads it from a URL without the verifier, which never leaves the server.
* ``state`` (RFC 6749 §10.12, login CSRF) and ``nonce`` (Core §3.1.2.1, token replay) are random,
  kept in the server-side session with the verifier, and used once.
* The ID token's signature is verified against the provider's JWKS, found through its discovery
  document (OpenID Connect Discovery 1.0 §4); asymmetric algorithms only (never ``none`` or an
  HMAC keyed with the client secret). ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat`` and
  ``nonce`` are checked (Core §3.1.3.7). The ``iss`` parameter of the response, when sent, must
  name our issuer (RFC 9207, mix-up attacks).
* TLS to the provider is always verified, against the system's CAs or ``SECRETUM_OIDC_CA_FILE``;
  redirects are not followed, and endpoints must be https.
* No code, token, verifier or secret is ever logged or audited (H2): errors carry a fixed reason.

Library: PyJWT (with ``cryptography``, already pinned) verifies JWS signatures and the registered
claims; it has no other dependency. The few protocol steps (discovery, PKCE, the token request)
are plain standard-library HTTP here, easier to read and audit than a generic OAuth client that
would bring requests or httpx with it (STYLE.md §12).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from django.conf import settings

# ID tokens signed with these only (RFC 7518 §3.1): asymmetric, so a leaked client secret cannot
# forge one. EdDSA (RFC 8037) is accepted where the provider offers it.
ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
TRANSACTION = "sx_oidc"  # the login or link in progress: state, nonce, verifier (server-side)
LINK_PENDING = "sx_oidc_link"  # a verified identity waiting for its owner's confirmation
TRANSACTION_SECONDS = 10 * 60  # time to log in at the provider
MAX_ID_TOKEN_AGE = 10 * 60  # an ID token issued longer ago than this is refused
CLOCK_SKEW = 60  # seconds of leeway on exp / iat between us and the provider
HTTP_TIMEOUT = 10
MAX_RESPONSE_BYTES = 1 << 20
METADATA_SECONDS = 10 * 60  # discovery document and keys are fetched again after this


class OIDCError(Exception):
    """A failed step. ``reason`` is a fixed word for the audit log, never provider data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """What a verified ID token tells us: who, and how strongly they authenticated."""

    issuer: str
    subject: str
    acr: str
    amr: tuple[str, ...]
    display_name: str  # for the link confirmation page only; never stored

    @property
    def strong(self) -> bool:
        """A second factor at the provider that the practice counts as strong (B3)."""
        return self.acr in settings.SECRETUM_OIDC_STRONG_ACR or bool(
            set(self.amr) & set(settings.SECRETUM_OIDC_STRONG_AMR)
        )


def enabled() -> bool:
    return bool(settings.SECRETUM_OIDC_ISSUER)


def label() -> str | None:
    """The provider's name on the login button; None when no provider is configured."""
    return settings.SECRETUM_OIDC_LABEL if enabled() else None


def issuer() -> str:
    return str(settings.SECRETUM_OIDC_ISSUER)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


# --- HTTP to the provider ------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx becomes an error: we talk to the endpoints we were told, only


def _tls_context() -> ssl.SSLContext:
    # create_default_context: certificate and host name verified, TLS 1.2 at least (H1).
    context = ssl.create_default_context(cafile=settings.SECRETUM_OIDC_CA_FILE or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _require_https(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme != "https":
        raise OIDCError("provider-not-https")
    return url


def _http_json(
    url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Any:
    request = urllib.request.Request(  # noqa: S310  (https only: checked just above)
        _require_https(url),
        data=urllib.parse.urlencode(data).encode() if data is not None else None,
        headers={"Accept": "application/json", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_tls_context()), _NoRedirect()
    )
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise OIDCError("provider-refused") from None
    except (urllib.error.URLError, OSError):
        raise OIDCError("provider-unreachable") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise OIDCError("provider-answer-too-large")
    try:
        return json.loads(body)
    except ValueError:
        raise OIDCError("provider-answer-malformed") from None


# --- discovery and keys (cached a few minutes per process) ----------------------------------------

_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def reset_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _cached(key: str, fetch: Any, fresh: bool = False) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and not fresh and time.monotonic() - hit[0] < METADATA_SECONDS:
        return hit[1]
    value = fetch()
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def metadata() -> dict[str, Any]:
    """The provider's discovery document, checked (Discovery §4.3: its issuer is ours)."""

    def fetch() -> dict[str, Any]:
        document = _http_json(issuer().rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(document, dict) or document.get("issuer") != issuer():
            raise OIDCError("discovery-issuer-mismatch")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str):
                raise OIDCError("discovery-incomplete")
            _require_https(document[name])
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OIDCError("provider-lacks-pkce-s256")
        return document

    found: dict[str, Any] = _cached("metadata:" + issuer(), fetch)
    return found


def _signing_keys(fresh: bool = False) -> list[dict[str, Any]]:
    """The provider's public signing keys (asymmetric only: an ``oct`` key is ignored)."""
    uri = metadata()["jwks_uri"]

    def fetch() -> list[dict[str, Any]]:
        document = _http_json(uri)
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise OIDCError("jwks-malformed")
        return [
            k
            for k in keys
            if isinstance(k, dict)
            and k.get("kty") in ("RSA", "EC", "OKP")
            and k.get("use", "sig") == "sig"
        ]

    found: list[dict[str, Any]] = _cached("jwks:" + uri, fetch, fresh)
    return found


def _key_for(header: dict[str, Any]) -> jwt.PyJWK:
    kid, algorithm = header.get("kid"), header["alg"]
    for fresh in (False, True):  # an unknown kid: the provider may have rotated its keys
        matching = [k for k in _signing_keys(fresh) if kid is None or k.get("kid") == kid]
        if kid is None and len(matching) > 1:
            raise OIDCError("id-token-key-ambiguous")
        if matching:
            try:
                # The key's own "alg", when it names one, must be the token's (RFC 7517 §4.4).
                return jwt.PyJWK(matching[0], algorithm=matching[0].get("alg") or algorithm)
            except jwt.PyJWTError:
                raise OIDCError("id-token-key-unusable") from None
    raise OIDCError("id-token-key-unknown")


# --- the flow ------------------------------------------------------------------------------------


def begin(session: Any, redirect_uri: str, purpose: str, next_url: str, user_id: int | None) -> str:
    """Start a login (or a link) at the provider: the URL to send the browser to."""
    document = metadata()
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 §4.1 asks 43–128
    session[TRANSACTION] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "purpose": purpose,
        "next": next_url,
        "user": user_id,
        "at": int(time.time()),
    }
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": settings.SECRETUM_OIDC_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = document["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def take_transaction(session: Any, state: str) -> dict[str, Any]:
    """The transaction this ``state`` belongs to, removed from the session: a state is used once
    (a replayed or forged callback finds nothing) and expires."""
    transaction = session.pop(TRANSACTION, None)
    if (
        not isinstance(transaction, dict)
        or not state
        or not hmac.compare_digest(str(transaction.get("state", "")).encode(), state.encode())
    ):
        raise OIDCError("state-mismatch")
    if time.time() - transaction["at"] > TRANSACTION_SECONDS:
        raise OIDCError("transaction-expired")
    return transaction


def _client_secret() -> str:
    path = settings.SECRETUM_OIDC_CLIENT_SECRET_FILE
    try:
        secret = Path(path).read_text().strip() if path else ""
    except OSError:
        secret = ""
    if not secret:
        raise OIDCError("client-secret-unreadable")
    return secret


def _token_request(transaction: dict[str, Any], code: str) -> str:
    """Exchange the code (with the PKCE verifier and our client secret) for an ID token."""
    document = metadata()
    client_id, secret = settings.SECRETUM_OIDC_CLIENT_ID, _client_secret()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": transaction["redirect_uri"],
        "code_verifier": transaction["verifier"],
    }
    headers = {}
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in methods:
        # RFC 6749 §2.3.1: each part form-urlencoded, then Basic.
        pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif "client_secret_post" in methods:
        form.update(client_id=client_id, client_secret=secret)
    else:
        raise OIDCError("provider-client-auth-unsupported")
    answer = _http_json(document["token_endpoint"], form, headers)
    id_token = answer.get("id_token") if isinstance(answer, dict) else None
    if not isinstance(id_token, str):
        raise OIDCError("token-answer-without-id-token")
    return id_token


_JWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "id-token-expired"),
    (jwt.InvalidAudienceError, "id-token-audience"),
    (jwt.InvalidIssuerError, "id-token-issuer"),
    (jwt.ImmatureSignatureError, "id-token-issued-in-future"),
    (jwt.InvalidIssuedAtError, "id-token-issued-at"),
    (jwt.MissingRequiredClaimError, "id-token-claim-missing"),
    (jwt.InvalidSignatureError, "id-token-signature"),
    (jwt.InvalidAlgorithmError, "id-token-algorithm"),
    (jwt.InvalidKeyError, "id-token-key-unusable"),
)


def validate_id_token(id_token: str, nonce: str) -> Identity:
    """OpenID Connect Core §3.1.3.7: signature, iss, aud/azp, exp, iat, nonce."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise OIDCError("id-token-malformed") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise OIDCError("id-token-algorithm")
    key = _key_for(header)
    client_id = settings.SECRETUM_OIDC_CLIENT_ID
    try:
        claims = jwt.decode(
            id_token,
            key=key,
            algorithms=[algorithm],
            audience=client_id,
            issuer=issuer(),
            leeway=CLOCK_SKEW,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat", "nonce"],
                "verify_iat": True,
                "enforce_minimum_key_length": True,  # no RSA key under 2048 bits
            },
        )
    except jwt.PyJWTError as exc:
        reason = next((r for kind, r in _JWT_REASONS if isinstance(exc, kind)), None)
        raise OIDCError(reason or "id-token-invalid") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OIDCError("id-token-audience")
    if not isinstance(claims["iat"], int | float) or time.time() - claims["iat"] > MAX_ID_TOKEN_AGE:
        raise OIDCError("id-token-issued-at")
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise OIDCError("id-token-nonce")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise OIDCError("id-token-subject")
    acr = claims.get("acr")
    amr = claims.get("amr")
    name = claims.get("name") or " ".join(
        str(claims.get(part, "")) for part in ("given_name", "family_name")
    )
    return Identity(
        issuer=issuer(),
        subject=subject,
        acr=acr if isinstance(acr, str) else "",
        amr=tuple(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else (),
        display_name=str(name).strip()[:150],
    )


def complete(transaction: dict[str, Any], code: str, response_issuer: str | None) -> Identity:
    """The provider came back with a code for this transaction: the verified identity."""
    if response_issuer is not None and response_issuer != issuer():
        raise OIDCError("response-issuer-mismatch")  # RFC 9207 §2.4
    if not code:
        raise OIDCError("code-missing")
    return validate_id_token(_token_request(transaction, code), transaction["nonce"])
