"""A small, real OpenID Connect provider for the tests: HTTPS on 127.0.0.1, in a thread.

Standard library ``http.server`` for HTTP, ``cryptography`` for its self-signed TLS certificate
(handed to the relying party as ``SECRETUM_OIDC_CA_FILE``) and its RSA signing key, PyJWT to sign
ID tokens (RS256, RFC 7518). It serves what a provider serves, and checks what a provider checks:

* ``/.well-known/openid-configuration`` and ``/jwks`` (OpenID Connect Discovery 1.0);
* ``/authorize``: the client, its registered redirect URI, ``response_type=code``, a PKCE S256
  challenge (RFC 7636), then approves at once the person the test chose (``provider.next_login``:
  subject, acr, amr), and redirects back with the code, the state and ``iss`` (RFC 9207);
* ``/token``: the client secret (HTTP Basic, RFC 6749 §2.3.1), a code used once, the same
  redirect URI, the PKCE verifier; answers with a signed ID token carrying the nonce.

``Login`` also holds the faults a test may ask for (a token signed with another key, another
nonce or audience, an expired token), to prove the relying party refuses each of them;
``Provider.faults`` the faults of the provider itself (a discovery document, a key set or a
token answer that is not what it should be, an endpoint that redirects or answers garbage).
No remote service: everything stays on the loopback interface.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_ID = "test-signing-key-1"
EIDAS_HIGH = "http://eidas.europa.eu/LoA/high"
EIDAS_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
EIDAS_LOW = "http://eidas.europa.eu/LoA/low"


@dataclass
class Login:
    """Who the next /authorize approves, how strongly, and which fault (if any) to make."""

    subject: str = "fictitious-subject-0001"
    name: str = "Quilline Zorbatova"
    acr: str | None = None
    amr: list[str] | None = None
    deny: bool = False  # the person cancels at the provider: error=access_denied
    # Faults in the ID token, each one that the relying party must refuse:
    rogue_key: bool = False  # signed by a key that is not in the JWKS (same kid)
    nonce: str | None = None  # not the nonce that was asked for
    audience: str | None = None  # issued to another client
    issuer: str | None = None  # issued by someone else
    lifetime: int = 300  # seconds; negative: already expired
    issued_ago: int = 0  # seconds
    kid: str | None = KEY_ID  # None: a header without "kid"
    algorithm: str = "RS256"  # "HS256": signed with the client secret, as a forger would
    extra_audience: str | None = None  # a second audience, without "azp"
    malformed: bool = False  # not a JWT at all


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    login: Login


@dataclass
class Provider:
    folder: Path
    client_id: str = "secretum-test-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    redirect_uris: set[str] = field(default_factory=set)
    next_login: Login = field(default_factory=Login)
    # What it saw and issued, for the tests' assertions (never printed anywhere):
    issued_codes: list[str] = field(default_factory=list)
    issued_tokens: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # Faults of the provider itself: "discovery" (changes to the document; None removes a
    # member), "jwks" (the key set served instead), "token" (the answer served instead of the ID
    # token's), "raw" ({path: (status, body, headers)} served as is).
    faults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca_file, self._tls_key = _self_signed_certificate(self.folder)
        self._server: _TLSServer | None = None

    # --- running ----------------------------------------------------------------------------

    def start(self) -> Provider:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.ca_file, self._tls_key)
        self._server = _TLSServer(("127.0.0.1", 0), _handler_for(self), context)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def issuer(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def write_client_secret(self, path: Path) -> Path:
        path.write_text(self.client_secret + "\n")
        path.chmod(0o600)
        return path

    def authorize(self, url: str) -> str:
        """What a browser does at /authorize (the provider approves at once): the Location it
        is sent back to."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect()
        )
        try:
            with opener.open(url, timeout=10) as response:
                raise AssertionError(f"/authorize answered {response.status}, not a redirect")
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code != 302:
                raise AssertionError(f"/authorize refused: {exc.code}") from None
            return str(exc.headers["Location"])

    # --- the provider's endpoints ---------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "acr_values_supported": [EIDAS_LOW, EIDAS_SUBSTANTIAL, EIDAS_HIGH],
            "authorization_response_iss_parameter_supported": True,
        }
        for name, value in self.faults.get("discovery", {}).items():
            document[name] = value
            if value is None:
                del document[name]
        return document

    def jwks(self) -> Any:
        if "jwks" in self.faults:
            return self.faults["jwks"]
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def authorize_request(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location or error text)."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return 400, "unknown client or redirect_uri"  # never redirect to an unknown URI
        problems = [
            query.get("response_type") != "code" and "response_type",
            "openid" not in query.get("scope", "").split() and "scope",
            query.get("code_challenge_method") != "S256" and "code_challenge_method",
            len(query.get("code_challenge", "")) != 43 and "code_challenge",
            not query.get("nonce") and "nonce",
            not query.get("state") and "state",
        ]
        if any(problems):
            return 400, f"invalid request: {[p for p in problems if p]}"
        answer = {"state": query["state"], "iss": self.issuer}
        login = replace(self.next_login)
        if login.deny:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._grants[code] = _Grant(
                    self.client_id, redirect_uri, query["code_challenge"], query["nonce"], login
                )
                self.issued_codes.append(code)
            answer["code"] = code
        return 302, f"{redirect_uri}?{urllib.parse.urlencode(answer)}"

    def token_request(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({"authorization": authorization.split(" ")[0], **form})
        if not self._client_authenticated(authorization, form):
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("redirect_uri") != grant.redirect_uri
            or _challenge(form.get("code_verifier", "")) != grant.challenge
        ):
            return 400, {"error": "invalid_grant"}
        id_token = self._id_token(grant)
        self.issued_tokens.append(id_token)
        if "token" in self.faults:
            return 200, self.faults["token"]
        return 200, {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def _client_authenticated(self, authorization: str, form: dict[str, str]) -> bool:
        methods = self.discovery()["token_endpoint_auth_methods_supported"]
        if not authorization and "client_secret_post" in methods:  # RFC 6749 §2.3.1, in the body
            user, password = form.get("client_id", ""), form.get("client_secret", "")
            return user == self.client_id and hmac.compare_digest(password, self.client_secret)
        scheme, _, encoded = authorization.partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return urllib.parse.unquote(user) == self.client_id and hmac.compare_digest(
            urllib.parse.unquote(password), self.client_secret
        )

    def _id_token(self, grant: _Grant) -> str:
        login = grant.login
        now = int(time.time()) - login.issued_ago
        claims: dict[str, Any] = {
            "iss": login.issuer or self.issuer,
            "sub": login.subject,
            "aud": login.audience or grant.client_id,
            "iat": now,
            "exp": now + login.lifetime,
            "auth_time": now,
            "nonce": login.nonce or grant.nonce,
            "name": login.name,
        }
        if login.acr is not None:
            claims["acr"] = login.acr
        if login.amr is not None:
            claims["amr"] = login.amr
        if login.extra_audience is not None:
            claims["aud"] = [claims["aud"], login.extra_audience]
        if login.malformed:
            return "not-a-jwt"
        headers = {"kid": login.kid} if login.kid is not None else {}
        if login.algorithm == "HS256":
            return jwt.encode(claims, self.client_secret, algorithm="HS256", headers=headers)
        key = self._rogue if login.rogue_key else self._key
        return jwt.encode(claims, key, algorithm=login.algorithm, headers=headers)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake in the request's own thread: a slow client never blocks the others.
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust our certificate: its choice
        self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is not a test failure; the test sees its own side


def _handler_for(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # nothing printed: the query strings hold codes

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path in provider.faults.get("raw", {}):
                status, body, headers = provider.faults["raw"][url.path]
                self._send(status, body, headers)
            elif url.path == "/.well-known/openid-configuration":
                self._send(200, provider.discovery())
            elif url.path == "/jwks":
                self._send(200, provider.jwks())
            elif url.path == "/authorize":
                query = dict(urllib.parse.parse_qsl(url.query))
                status, where = provider.authorize_request(query)
                if status == 302:
                    self._send(302, b"", {"Location": where, "Content-Type": "text/plain"})
                else:
                    self._send(status, where.encode(), {"Content-Type": "text/plain"})
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path in provider.faults.get("raw", {}):
                status, body, headers = provider.faults["raw"][path]
                self._send(status, body, headers)
                return
            if path != "/token":
                self._send(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(min(length, 65536)).decode()))
            status, body = provider.token_request(form, self.headers.get("Authorization", ""))
            self._send(status, body)

    return Handler


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, its own trust anchor (one day, P-256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Secretum test OIDC provider")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "provider-ca.pem", folder / "provider-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
