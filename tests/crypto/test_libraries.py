"""O1: recognised algorithms, software and libraries only. Every module of Secretum is read
(``ast``, nothing imported): cryptography comes from pyca/cryptography, argon2-cffi, pyotp,
py_webauthn, PyJWT (over cryptography) and the standard library's hashlib, hmac and secrets;
python-pkcs11 to ask a PKCS#11 token (an HSM) to seal under the KEK it keeps (crypto/token.py);
pycryptodome for Shamir's threshold secret sharing only, in the key custody module;
randomness for secrets from the system's CSPRNG, never from ``random``. The register's O1 names
these tests (a proof by construction)."""

from __future__ import annotations

import ast
from pathlib import Path

SECRETUM = Path(__file__).resolve().parents[2] / "secretum"

# Top-level modules that implement cryptography: the recognised ones, and what we refuse.
RECOGNISED = {
    *("cryptography", "argon2", "pyotp", "webauthn", "jwt", "hashlib", "hmac", "secrets"),
    "pkcs11",  # python-pkcs11: the token computes; the binding only passes the call (O1)
}
REFUSED = {"Crypto", "Cryptodome", "nacl", "pyaes", "rsa", "ecdsa", "jose", "simplecrypt"}
# pycryptodome ("Crypto") is refused everywhere but for one scheme pyca/cryptography lacks:
# Shamir's secret sharing of the key file's recovery key (O2), in one module.
SHAMIR_MODULE = "secretum/crypto/custody.py"
SHAMIR_IMPORT = "Crypto.Protocol.SecretSharing"
# `random` is a predictable generator: the demo's fictitious data only (N3), never a secret.
RANDOM_ALLOWED = {"secretum/core/management/commands/demo.py"}


def imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def modules() -> dict[str, set[str]]:
    return {
        str(path.relative_to(SECRETUM.parent)): imports(ast.parse(path.read_text()))
        for path in sorted(SECRETUM.rglob("*.py"))
        if "migrations" not in path.parts
    }


def test_cryptography_comes_from_recognised_libraries_only() -> None:
    found = modules()
    assert "Crypto" in found.pop(SHAMIR_MODULE)
    refused = sorted(f"{m}: {name}" for m, names in found.items() for name in names & REFUSED)
    assert refused == []
    used = set().union(*found.values()) & (RECOGNISED | REFUSED)
    # The recognised libraries are really the ones in use (the list is not a wish).
    expected = {"cryptography", "argon2", "pyotp", "webauthn", "jwt", "hashlib", "hmac", "pkcs11"}
    assert expected <= used


def test_no_module_draws_secrets_from_a_predictable_source() -> None:
    predictable = sorted(m for m, names in modules().items() if "random" in names)
    assert set(predictable) <= RANDOM_ALLOWED, predictable


def test_pycryptodome_serves_only_shamir_secret_sharing() -> None:
    tree = ast.parse((SECRETUM.parent / SHAMIR_MODULE).read_text())
    from_crypto = [
        (node.module, [a.name for a in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("Crypto")
    ]
    plain = [n for n in ast.walk(tree) if isinstance(n, ast.Import)
             and any(a.name.startswith("Crypto") for a in n.names)]  # fmt: skip
    assert from_crypto == [(SHAMIR_IMPORT, ["Shamir"])] and plain == []


def test_the_checker_sees_an_import_it_must_refuse() -> None:
    tree = ast.parse("import random\nfrom Crypto.Cipher import AES\nfrom . import x\n")
    assert imports(tree) == {"random", "Crypto"}
