"""What ``secretum init`` writes: a new instance folder, complete (H3, O2, D2).

    secretum.key         the key file (``secretum.instance`` reads it)
    data/                the SQLite database's folder, apart from the key file
    tls/cert.pem         a self-signed certificate for 127.0.0.1 and localhost, and its key
    audit/               the audit log's signing and MAC keys (``secretum.audit.keys``)

``secretum.instance`` reads an instance and stands below everything; making one needs the audit
log's keys too, so it is done here, above both. Like them, this module does not import Django:
``secretum init`` runs before any setting can be read.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import secrets
from pathlib import Path

from secretum.audit import keys as audit_keys
from secretum.instance import KEY_BYTES, KEYFILE_FORMAT, Instance, write_private


def create(home: Path) -> Instance:
    """Create a new instance in ``home``; refuse to touch an existing one."""
    inst = Instance(home)
    inst.refuse_overwrite()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    # The database's own folder: the key file never sits in it (docs/keys.md, key providers).
    inst.database.parent.mkdir(mode=0o700, exist_ok=True)
    keys = {
        "format": KEYFILE_FORMAT,
        "kek": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
        "blind_index_key": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
        "django_secret_key": secrets.token_urlsafe(50),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_private(inst.key_file, json.dumps(keys, indent=2).encode())
    create_tls(inst)
    audit_keys.create(home)  # the audit log's signing and MAC keys, apart from the database (D2)
    return inst


def create_tls(inst: Instance) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    inst.tls_cert.parent.mkdir(mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own (its key's identifier): a balancer that trusts several serving nodes'
    # self-signed certificates in one file finds each node's by its name (README, nodes).
    own = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    common = f"Secretum (self-signed) {own.digest.hex()[:16]}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=397))  # CA/B Forum maximum validity
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(own, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(own), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(
        inst.tls_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    inst.tls_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
