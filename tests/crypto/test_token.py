"""The PKCS#11 key provider against a real SoftHSM2 token (E10, G3, O1, O2; issue 13): the KEK is
generated inside the token, seals and opens there, and never leaves it.

SoftHSM2 comes from Debian's packages (``make system-deps``); without it these tests are
skipped, except in CI, where its absence is a failure.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command

from secretum import instance
from secretum.crypto import custody, inventory, keyring, providers, rotation, token
from secretum.patients import services as patients
from secretum.patients.models import Patient
from tests.conftest import actor_for, identity, make_user
from tests.crypto.test_custody import FAST, PASSPHRASE

MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
PIN = "246810"
INSTANCE_ID = "0123456789abcdef" * 4


def _module() -> str:
    found = [m for m in MODULES if Path(m).is_file()]
    if not found or shutil.which("softhsm2-util") is None:
        if os.environ.get("CI"):
            pytest.fail("SoftHSM2 is missing: 'make system-deps' installs softhsm2")
        pytest.skip("SoftHSM2 is not installed ('make system-deps' installs softhsm2)")
    return found[0]


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh SoftHSM2 token in this test's folder, named to Secretum by the environment."""
    module = _module()
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    init_token = ["softhsm2-util", "--init-token", "--free", "--label", "secretum-test"]
    subprocess.run(
        [*init_token, "--pin", PIN, "--so-pin", "13579135"],
        check=True,
        capture_output=True,
    )
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    monkeypatch.setenv(token.MODULE_VARIABLE, module)
    monkeypatch.setenv(token.TOKEN_VARIABLE, "secretum-test")
    monkeypatch.setenv(token.PIN_FILE_VARIABLE, str(pin_file))
    token.close()
    import pkcs11

    # The library is loaded once per process and reads SOFTHSM2_CONF when initialised: again
    # here, so that this test sees its own token, not the one of the test before.
    pkcs11.lib(module).reinitialize()
    config = token.required()
    yield config
    token.close()
    keyring.reset_cache()


def _kek(config: token.TokenConfig, version: int = 1) -> token.TokenKek:
    label = token.generate(config, INSTANCE_ID, version)
    return token.TokenKek(config, label)


def test_a_token_kek_seals_and_opens_inside_the_token(softhsm: token.TokenConfig) -> None:
    """E10, O1: AES-256-GCM in the token, the blob laid out as the keyring's (ciphertext, tag)."""
    kek = _kek(softhsm)
    nonce = os.urandom(12)
    blob = kek.encrypt(nonce, b"a patient's data key, fictitious", b"dek:patient-1")
    assert len(blob) == len(b"a patient's data key, fictitious") + 16
    assert kek.decrypt(nonce, blob, b"dek:patient-1") == b"a patient's data key, fictitious"
    with pytest.raises(InvalidTag):  # moved to another row
        kek.decrypt(nonce, blob, b"dek:patient-2")
    with pytest.raises(InvalidTag):  # altered
        kek.decrypt(nonce, blob[:-1] + bytes([blob[-1] ^ 1]), b"dek:patient-1")
    # Generated again (an interrupted rotation): the same key, not a second one.
    assert _kek(softhsm).decrypt(nonce, blob, b"dek:patient-1")


def test_the_kek_never_leaves_the_token(softhsm: token.TokenConfig) -> None:
    """O2: its value cannot be read, nor wrapped out under another key of the token."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism

    _kek(softhsm)
    session = token._session(softhsm).session  # logged in as the token's user, as Secretum is
    key = session.get_key(label=token.key_label(INSTANCE_ID, 1))
    assert key[Attribute.SENSITIVE] is True
    assert key[Attribute.EXTRACTABLE] is False
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        key[Attribute.VALUE]
    wrapper = session.generate_key(KeyType.AES, 256, template={Attribute.WRAP: True})
    with pytest.raises(pkcs11.exceptions.KeyUnextractable):
        wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP)


def test_a_blob_of_another_provider_does_not_open_with_the_token(
    softhsm: token.TokenConfig,
) -> None:
    """A blob sealed under a key file's KEK does not open under the token's, nor the reverse."""
    kek, software = _kek(softhsm), AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    with pytest.raises(InvalidTag):
        kek.decrypt(nonce, software.encrypt(nonce, b"secret", b"aad"), b"aad")
    with pytest.raises(InvalidTag):
        software.decrypt(nonce, kek.encrypt(nonce, b"secret", b"aad"), b"aad")


def test_a_wrong_pin_is_refused_in_one_sentence(softhsm: token.TokenConfig) -> None:
    softhsm.pin_file.write_text("000000")
    token.close()
    with pytest.raises(token.TokenError, match=r"refuses the PIN in .*pin"):
        _kek(softhsm)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda c: c.pin_file.chmod(0o640), "is readable by others; run 'chmod 600'"),
        (lambda c: c.pin_file.write_text("\n"), "is empty"),
        (lambda c: c.pin_file.unlink(), "cannot be read"),
    ],
)
def test_a_pin_file_others_may_read_or_empty_is_refused(
    softhsm: token.TokenConfig, change: Any, said: str
) -> None:
    change(softhsm)
    token.close()
    with pytest.raises(token.TokenError, match=said):
        _kek(softhsm)


def test_a_token_or_module_that_is_not_there_is_named(
    softhsm: token.TokenConfig, tmp_path: Path
) -> None:
    other = token.TokenConfig(softhsm.module, "no-such-token", softhsm.pin_file)
    with pytest.raises(token.TokenError, match="has no token labelled 'no-such-token'"):
        token.generate(other, INSTANCE_ID, 1)
    missing = token.TokenConfig(str(tmp_path / "nothing.so"), "x", softhsm.pin_file)
    with pytest.raises(token.TokenError, match="cannot be loaded"):
        token.generate(missing, INSTANCE_ID, 1)


def test_a_key_that_may_leave_the_token_is_refused(softhsm: token.TokenConfig) -> None:
    """A key put in the token by hand, extractable, under the label Secretum would use."""
    from pkcs11 import Attribute, KeyType

    token._session(softhsm).session.generate_key(
        KeyType.AES,
        256,
        label=token.key_label(INSTANCE_ID, 7),
        store=True,
        template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
    )
    with pytest.raises(token.TokenError, match="may leave the token"):
        token.keks(frozenset({7}), INSTANCE_ID)
    with pytest.raises(token.TokenError, match="holds no key 'secretum-kek-0123456789abcdef-8'"):
        token.keks(frozenset({8}), INSTANCE_ID)


def test_the_token_is_named_whole_or_not_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {token.MODULE_VARIABLE: "/x.so", token.TOKEN_VARIABLE: "t"}
    with pytest.raises(token.TokenError, match=f"set {token.PIN_FILE_VARIABLE} too"):
        token.TokenConfig.from_env(env)
    with pytest.raises(token.TokenError, match="a PIN never comes from the environment"):
        token.TokenConfig.from_env({"SECRETUM_PKCS11_PIN": "1234"})
    assert token.TokenConfig.from_env({}) is None
    with pytest.raises(token.TokenError, match="no token is named"):
        token.required({})
    token.close()  # nothing open: nothing to close


def test_a_session_closed_under_it_is_forgotten(softhsm: token.TokenConfig) -> None:
    kek = _kek(softhsm)
    assert token._open is not None
    token._open.session.close()
    token.close()  # a session already gone closes quietly
    nonce = os.urandom(12)
    assert kek.decrypt(nonce, kek.encrypt(nonce, b"x", b""), b"") == b"x"


def test_a_forked_child_opens_its_own_session(softhsm: token.TokenConfig) -> None:
    """gunicorn forks its workers after the master opened the token: the child initialises the
    library again (PKCS#11 v2.40 §6.7.7) and seals in its own session."""
    kek = _kek(softhsm)
    nonce = os.urandom(12)
    blob = kek.encrypt(nonce, b"from the parent", b"")
    opened = token._open
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child's coverage is not collected)
        os.close(read)
        try:
            token._open = opened  # as if the fork hook had not run: the pid tells
            ok = kek.decrypt(nonce, blob, b"") == b"from the parent"
        except Exception as exc:  # the child reports any failure through the pipe
            print(repr(exc))  # read in the test's captured output
            ok = False
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert kek.decrypt(nonce, blob, b"") == b"from the parent"


def test_a_session_of_the_parent_is_never_reused(softhsm: token.TokenConfig) -> None:
    """What a forked worker meets, in this process: the session on record is of another pid
    (the fork hook forgets it; were it kept, the pid tells), so the library is initialised
    again and a session of its own opened."""
    import dataclasses

    kek = _kek(softhsm)
    assert token._open is not None
    inherited = dataclasses.replace(token._open, pid=-1)
    token._open = inherited
    nonce = os.urandom(12)
    assert kek.decrypt(nonce, kek.encrypt(nonce, b"x", b""), b"") == b"x"
    assert token._open is not inherited and token._open.pid == os.getpid()
    token._forget_in_child()  # the fork hook itself
    assert token._open is None


def test_one_operation_in_the_token_costs_little(softhsm: token.TokenConfig) -> None:
    """Every data key opened and every session sealed is one call into the token: measured."""
    kek = _kek(softhsm)
    nonce = os.urandom(12)
    began = time.perf_counter()
    for _ in range(300):
        kek.decrypt(nonce, kek.encrypt(nonce, b"k" * 32, b"dek:x"), b"dek:x")
    each = (time.perf_counter() - began) / 600
    print(f"PKCS#11 AES-GCM with SoftHSM2: {each * 1e6:.0f} µs per operation")
    assert each < 0.005


# --- the keyring and a rotation into the token --------------------------------------------------


@pytest.fixture
def token_home(settings: Any, tmp_path: Path, softhsm: token.TokenConfig) -> Any:
    own = tmp_path / "var"
    shutil.copytree(settings.INSTANCE.home, own, ignore=shutil.ignore_patterns("*.sqlite3*"))
    settings.INSTANCE = instance.Instance(own)
    keyring.reset_cache()
    yield settings.INSTANCE
    keyring.reset_cache()


def test_a_rotation_moves_the_kek_into_the_token(
    token_home: instance.Instance, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E10, G3, O2: `keys rotate --to-token` makes version 2 inside the token, re-wraps every
    data key under it and retires version 1: the key file then holds no KEK at all."""
    monkeypatch.setattr(rotation, "GRACE_SECONDS", 0.0)
    from secretum.access.policy import Role

    actor = actor_for(make_user(Role.PRACTITIONER))
    kept = patients.register_patient(actor, identity(family_name="Tokenaar"))
    old_blob = bytes(Patient.objects.get(uid=kept.uid).wrapped_key)
    fingerprint = keyring.key_fingerprint()
    out = io.StringIO()
    call_command("keys_rotate", to_token=True, stdout=out)
    assert "retired: 1" in out.getvalue()
    fields = json.loads(token_home.key_file.read_text())
    assert fields["token_keks"] == [2] and "kek" not in fields and "older_keks" not in fields
    assert list(fields["retired_keks"]) == ["1"]  # kept one rotation longer (a late write)
    keyring.reset_cache()
    assert keyring.key_fingerprint() == fingerprint  # the binding to the database holds
    row = Patient.objects.get(uid=kept.uid)
    assert keyring.kek_version_of(row.wrapped_key) == 2
    key = keyring.unwrap_data_key(row.wrapped_key, patients.key_aad(row))
    assert row.unseal(key, "family_name") == "Tokenaar"
    assert keyring.unwrap_data_key(old_blob, patients.key_aad(row))  # retired, still opens
    secret = keyring.seal_secret(b"a TOTP seed, fictitious", "totp:1")
    assert keyring.open_secret(secret, "totp:1") == b"a TOTP seed, fictitious"
    said = "\n".join(providers.describe(token_home, token_home.read_key_versions()))
    assert "PKCS#11 token 'secretum-test'" in said and "holds KEK version 2:" in said
    assert "KEK version 2" in "\n".join(inventory.lines())
    # Its recovery material holds every key but the token's (the token backs up its own).
    text = token_home.key_file.read_text()
    material = custody.seal_with_passphrase(text, PASSPHRASE, cost=FAST)
    assert json.loads(custody.open_material([material], PASSPHRASE)) == json.loads(text)
    # The next rotation stays in the token and retires version 2 from the key file's list.
    call_command("keys_rotate", stdout=io.StringIO())
    after = json.loads(token_home.key_file.read_text())
    assert after["token_keks"] == [3] and "retired_keks" not in after  # version 1 now gone
    keyring.reset_cache()
    with pytest.raises(keyring.DecryptionError, match="no key-encryption key of version 1"):
        keyring.unwrap_data_key(old_blob, patients.key_aad(row))
    # Without the token named, the key file's token versions are refused at start.
    for name in (token.MODULE_VARIABLE, token.TOKEN_VARIABLE, token.PIN_FILE_VARIABLE):
        monkeypatch.delenv(name)
    keyring.reset_cache()
    with pytest.raises(token.TokenError, match="no token is named"):
        keyring.key_fingerprint()


def test_the_env_provider_refuses_a_rotation(settings: Any, db: Any) -> None:
    text = settings.INSTANCE.key_file.read_text()
    settings.INSTANCE = instance.Instance(settings.INSTANCE.home, key_text=text)
    with pytest.raises(rotation.RotationError, match="a rotation writes a new key file"):
        rotation.start()
