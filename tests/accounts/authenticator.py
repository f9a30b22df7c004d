"""A small, real WebAuthn authenticator for the tests (W3C WebAuthn Level 2), in the process.

It answers what a browser hands back to the page after ``navigator.credentials.create()`` and
``.get()``: an ES256 key pair (P-256, ``cryptography``), "none" attestation, authenticator data
with the relying party's hash, flags and signature counter, and a client data JSON naming the
challenge and the origin. Secretum checks them with py_webauthn exactly as it checks a browser's.

``origin`` and ``counter`` are the authenticator's state; a test changes them to play a phishing
page or a cloned key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Authenticator data flags (WebAuthn §6.1): user present, user verified, attested credential data.
UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Authenticator:
    origin: str = "https://testserver"
    rp_id: str = "testserver"
    counter: int = 0
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def _cose_key(self) -> bytes:
        numbers = self._key.public_key().public_numbers()
        # RFC 9053 §7.1: EC2 key (kty 2), ES256 (alg -7), P-256 (crv 1), x and y.
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, options: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": options["challenge"],
                "origin": self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def _auth_data(self, flags: int, attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.counter) + attested

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """``navigator.credentials.create({publicKey: options})``, as the page posts it."""
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": self._auth_data(UP | UV | AT, attested)}
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(self._client_data("webauthn.create", options)),
                "attestationObject": b64url(attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict[str, Any]) -> dict[str, Any]:
        """``navigator.credentials.get({publicKey: options})``: one signed assertion; the
        counter moves on first, as a real key's does."""
        self.counter += 1
        auth_data = self._auth_data(UP | UV)
        client_data = self._client_data("webauthn.get", options)
        signature = self._key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }

    def allowed_by(self, options: dict[str, Any]) -> bool:
        """Whether the options list this authenticator's credential."""
        return any(
            _unb64url(c["id"]) == self.credential_id for c in options.get("allowCredentials", [])
        )
