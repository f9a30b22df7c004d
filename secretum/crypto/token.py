"""KEK versions inside a PKCS#11 token: the key never leaves it (E10, G3, O1, O2).

The token (an HSM, a smart card, SoftHSM2 in the tests) holds each such KEK version as an AES-256
secret key object, generated inside it, ``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``: its value
can be neither read nor wrapped out. The keyring asks the token to seal and open with it, by
AES-256-GCM (``CKM_AES_GCM``, PKCS#11 v2.40 §2.12; NIST SP 800-38D) with the keyring's own random
96-bit nonce and associated data: the blob has the same layout as one sealed under a key file's
KEK (ciphertext then 128-bit tag), only the key's place differs. Through python-pkcs11, pinned.

Configured by the environment, never by the key file (which only lists the versions the token
holds, ``token_keks``): ``SECRETUM_PKCS11_MODULE`` (the token's PKCS#11 library),
``SECRETUM_PKCS11_TOKEN`` (its label) and ``SECRETUM_PKCS11_PIN_FILE`` (a file, owner-only,
holding the user PIN; never the PIN itself in the environment).

One session per process, opened at the first use and after a fork (a PKCS#11 library must be
initialised again in a child, PKCS#11 v2.40 §6.7.7), used under a lock (a session serves one
call at a time). Each operation is one call into the token: about 30 µs with SoftHSM2
(tests/crypto/test_token.py measures it), on every data key unwrapped and every session sealed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

from secretum.instance import InstanceError

MODULE_VARIABLE = "SECRETUM_PKCS11_MODULE"
TOKEN_VARIABLE = "SECRETUM_PKCS11_TOKEN"  # noqa: S105  (a variable's name, not a secret)
PIN_FILE_VARIABLE = "SECRETUM_PKCS11_PIN_FILE"
_VARIABLES = (MODULE_VARIABLE, TOKEN_VARIABLE, PIN_FILE_VARIABLE)
_TAG_BITS = 128


class TokenError(InstanceError):
    """The token cannot serve a KEK: one sentence saying why and what to do."""


@dataclass(frozen=True)
class TokenConfig:
    module: str
    label: str
    pin_file: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TokenConfig | None:
        """The token the environment names; None when none is; refused when half is."""
        if environ.get("SECRETUM_PKCS11_PIN"):
            raise TokenError(
                "SECRETUM_PKCS11_PIN is set: a PIN never comes from the environment. Put it in "
                f"a file (mode 600) named by {PIN_FILE_VARIABLE}."
            )
        given = {name: environ.get(name, "").strip() for name in _VARIABLES}
        if not any(given.values()):
            return None
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise TokenError(
                f"The PKCS#11 token is named only in part: set {', '.join(missing)} too."
            )
        return cls(given[MODULE_VARIABLE], given[TOKEN_VARIABLE], Path(given[PIN_FILE_VARIABLE]))

    def pin(self) -> str:
        """The user PIN, from its file: refused when others may read it, or it is empty."""
        try:
            st = self.pin_file.stat()
            text = self.pin_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise TokenError(
                f"The PIN file {self.pin_file} ({PIN_FILE_VARIABLE}) cannot be read."
            ) from None
        if st.st_mode & 0o077:
            raise TokenError(
                f"The PIN file {self.pin_file} is readable by others; run 'chmod 600' on it."
            )
        if not text:
            raise TokenError(f"The PIN file {self.pin_file} is empty.")
        return text


def required(environ: Mapping[str, str] = os.environ) -> TokenConfig:
    """The token the environment names, or a sentence saying how to name one."""
    config = TokenConfig.from_env(environ)
    if config is None:
        raise TokenError(
            "The key file keeps KEK versions in a PKCS#11 token, and no token is named: set "
            f"{MODULE_VARIABLE}, {TOKEN_VARIABLE} and {PIN_FILE_VARIABLE} (docs/keys.md)."
        )
    return config


def key_label(instance: str, version: int) -> str:
    """The label of a KEK version in the token: the instance's id (its fingerprint's first 16
    hex digits) and the version, so two instances may share a token."""
    return f"secretum-kek-{instance[:16]}-{version}"


# --- one session per process ---------------------------------------------------------------------


@dataclass
class _Open:
    pid: int
    config: TokenConfig
    session: Any
    keys: dict[str, Any]


_lock = threading.RLock()
_open: _Open | None = None


def _forget_in_child() -> None:
    global _open
    _open = None


os.register_at_fork(after_in_child=_forget_in_child)


def close() -> None:
    """Close this process's session (tests; a configuration changed)."""
    global _open
    with _lock:
        if _open is not None:
            try:
                _open.session.close()
            except Exception:  # noqa: S110  (a session already gone is closed)
                pass
        _open = None


def _session(config: TokenConfig) -> _Open:
    """This process's session with the token, logged in as its user."""
    global _open
    if _open is not None and _open.pid == os.getpid() and _open.config == config:
        return _open
    import pkcs11
    from pkcs11 import exceptions as errors

    pin = config.pin()
    try:
        library = pkcs11.lib(config.module)
    except (RuntimeError, OSError) as exc:
        raise TokenError(
            f"The PKCS#11 module {config.module} ({MODULE_VARIABLE}) cannot be loaded ({exc})."
        ) from None
    if _open is not None and _open.pid != os.getpid():
        library.reinitialize()  # a forked child: PKCS#11 v2.40 §6.7.7
    try:
        token = library.get_token(token_label=config.label)
    except (errors.NoSuchToken, errors.MultipleTokensReturned):
        raise TokenError(
            f"The PKCS#11 module {config.module} has no token labelled {config.label!r} "
            f"({TOKEN_VARIABLE})."
        ) from None
    try:
        session = token.open(rw=True, user_pin=pin)
    except errors.PinIncorrect:
        raise TokenError(
            f"The PKCS#11 token {config.label!r} refuses the PIN in {config.pin_file}: put the "
            "token's user PIN there (a few more wrong tries lock the token)."
        ) from None
    _open = _Open(os.getpid(), config, session, {})
    return _open


def _key(opened: _Open, label: str) -> Any:
    """The token's secret key object of ``label``, checked to be one that cannot leave it."""
    found = opened.keys.get(label)
    if found is not None:
        return found
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11 import exceptions as errors

    try:
        key = opened.session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label
        )
    except errors.NoSuchKey:
        raise TokenError(
            f"The PKCS#11 token {opened.config.label!r} holds no key {label!r}: the key file "
            "names a KEK version of another token, or one deleted from it."
        ) from None
    if not key[Attribute.SENSITIVE] or key[Attribute.EXTRACTABLE]:
        raise TokenError(
            f"The key {label!r} of the PKCS#11 token {opened.config.label!r} may leave the token "
            "(not sensitive, or extractable): Secretum uses only keys generated by "
            "'secretum keys rotate --to-token'."
        )
    opened.keys[label] = key
    return key


def generate(config: TokenConfig, instance: str, version: int) -> str:
    """A new KEK version generated inside the token (AES-256, sensitive, never extractable, only
    to encrypt and decrypt); one left by an interrupted rotation of the same version is kept:
    no blob was sealed under it. Its label."""
    from pkcs11 import Attribute, KeyType

    label = key_label(instance, version)
    with _lock:
        opened = _session(config)
        try:
            _key(opened, label)
            return label
        except TokenError:
            pass
        opened.session.generate_key(
            KeyType.AES,
            256,
            label=label,
            store=True,
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
                Attribute.DERIVE: False,
                Attribute.PRIVATE: True,
            },
        )
    return label


class TokenKek:
    """A KEK version held by the token, with the interface of ``AESGCM`` the keyring uses."""

    __slots__ = ("config", "label")

    def __init__(self, config: TokenConfig, label: str) -> None:
        self.config = config
        self.label = label

    def _call(self, operation: str, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        params = GCMParams(nonce, aad, _TAG_BITS)
        with _lock:
            key = _key(_session(self.config), self.label)
            result: bytes = getattr(key, operation)(
                data, mechanism=Mechanism.AES_GCM, mechanism_param=params
            )
        return result

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        return self._call("encrypt", nonce, data, aad)

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """The plaintext; ``InvalidTag`` when the tag does not hold (a token reports it as
        CKR_ENCRYPTED_DATA_INVALID, SoftHSM2 as CKR_GENERAL_ERROR)."""
        from pkcs11 import exceptions as errors

        try:
            return self._call("decrypt", nonce, data, aad)
        except (errors.EncryptedDataInvalid, errors.EncryptedDataLenRange, errors.GeneralError):
            raise InvalidTag from None


def keks(versions: frozenset[int], instance: str) -> dict[int, TokenKek]:
    """The token's KEK versions of an instance, the token opened and each key found first (a
    wrong PIN, a missing key, is said at start, not at the first patient opened)."""
    config = required()
    found = {}
    with _lock:
        opened = _session(config)
        for version in sorted(versions):
            label = key_label(instance, version)
            _key(opened, label)
            found[version] = TokenKek(config, label)
    return found
