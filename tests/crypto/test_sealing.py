"""How a file leaves (E7, M3, issue 14): the delivery chosen, what its audit detail says (never
the passphrase), and the file sealed as it says: a PDF under its own AES-256, anything else in
an age file; in clear only with a reason. Tried as an attacker would: a PDF in clear given as
bytes is never let out under a passphrase as if it were encrypted."""

from __future__ import annotations

import io
import logging
import subprocess

import pytest
from django.core.exceptions import ValidationError
from fpdf import FPDF

from secretum.crypto import age
from secretum.crypto.sealing import Delivery, Kind, Mode, pdf_encrypted
from tests.pdf import pdf_info, pdf_text

REASON = "The patient asked for a paper copy at the desk."


def _pdf(text: str = "Quzsecret Zorbatova") -> FPDF:
    document = FPDF()
    document.set_title(f"Summary of {text}")
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return document


def _open(data: bytes, identity: age.ScryptIdentity | age.X25519Identity) -> bytes:
    return b"".join(age.decrypt(io.BytesIO(data), identity))


def test_a_file_is_a_pdf_by_its_type_only() -> None:
    assert Kind.of("application/pdf") is Kind.PDF and Kind.of("image/png") is Kind.OTHER


def test_by_default_a_new_passphrase_each_time_and_never_in_a_repr() -> None:
    first, second = Delivery.choose(), Delivery.choose()
    assert first.mode is Mode.PASSPHRASE and first.passphrase != second.passphrase
    assert len(first.passphrase) == 29 and first.passphrase not in repr(first)


def test_the_audit_detail_names_the_encryption_the_key_the_reason_never_the_passphrase() -> None:
    secret = Delivery.choose()
    assert secret.audit_detail(Kind.PDF) == {"encryption": "pdf-aes256"}
    assert secret.audit_detail(Kind.CSV) == {"encryption": "age-scrypt"}
    key = age.X25519Identity.generate().recipient().encode()
    assert Delivery.choose(recipient=key).audit_detail(Kind.PDF) == {
        "encryption": "age-x25519",
        "recipient": key,
    }
    plain = Delivery.choose(plain_reason=f"  {REASON}\n")
    assert plain.audit_detail(Kind.JSON) == {"encryption": "none", "plain_reason": REASON}


@pytest.mark.parametrize(
    "given",
    [
        {"plain_reason": ""},
        {"plain_reason": "too short"},
        {"plain_reason": "x" * 201},
        {"plain_reason": "a bell \x07 in a reason long enough"},
        {"recipient": "age1notakey"},
        {"recipient": age.X25519Identity.generate().encode()},  # a secret key, not a public one
        {"recipient": age.X25519Identity.generate().recipient().encode(), "plain_reason": REASON},
    ],
)
def test_a_bad_choice_is_refused_clearly(given: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Delivery.choose(**given)


def test_a_pdf_under_a_passphrase_opens_in_any_reader_with_it_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    delivery = Delivery.choose()
    sealed = delivery.seal_pdf(_pdf(), "summary.pdf")
    assert (sealed.filename, sealed.content_type) == ("summary.pdf", "application/pdf")
    assert pdf_encrypted(sealed.data) and b"Quzsecret" not in sealed.data
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(sealed.data)
    assert "Quzsecret Zorbatova" in pdf_text(sealed.data, password=delivery.passphrase)
    info = pdf_info(sealed.data, "-upw", delivery.passphrase)
    assert "AES-256" in info and "Zorbatova" in info  # the title, encrypted with the rest
    # fpdf2 logs each string it encrypts, in clear, at DEBUG: silenced (sealing.py).
    assert "Zorbatova" not in caplog.text and delivery.passphrase not in caplog.text


def test_a_pdf_in_clear_given_as_bytes_leaves_in_age_under_a_passphrase() -> None:
    delivery = Delivery.choose()
    plain = bytes(_pdf().output())
    assert not pdf_encrypted(plain)
    sealed = delivery.seal(plain, "summary.pdf", "application/pdf")
    assert (
        sealed.filename == "summary.pdf.age" and sealed.content_type == "application/octet-stream"
    )
    assert _open(sealed.data, age.ScryptIdentity(delivery.passphrase)) == plain
    # "/Encrypt" inside the content, not in the trailer, does not pass for encryption.
    forged = plain.replace(b"%%EOF", b"") + b"stream /Encrypt 1 0 R endstream\n%%EOF\n"
    assert not pdf_encrypted(forged) and not pdf_encrypted(b"no pdf /Encrypt trailer")
    assert not pdf_encrypted(b"%PDF-1.7 /Encrypt 9 0 R but no trailer")
    assert delivery.seal(forged, "x.pdf", "application/pdf").filename == "x.pdf.age"


def test_other_files_in_age_for_a_passphrase_or_a_key_and_in_clear_with_a_reason() -> None:
    lines = [b"seq,user\n", b"1,dr.martin\n"]
    secret = Delivery.choose()
    sealed = secret.seal(iter(lines), "audit.csv", "text/csv")
    assert sealed.filename == "audit.csv.age" and b"dr.martin" not in sealed.data
    assert _open(sealed.data, age.ScryptIdentity(secret.passphrase)) == b"".join(lines)
    identity = age.X25519Identity.generate()
    keyed = Delivery.choose(recipient=identity.recipient().encode())
    pdf = keyed.seal_pdf(_pdf(), "summary.pdf")  # for a key: the PDF itself in clear, in age
    assert pdf.filename == "summary.pdf.age"
    assert "Quzsecret" in pdf_text(_open(pdf.data, identity))
    with pytest.raises(age.AgeError):
        _open(pdf.data, age.X25519Identity.generate())
    plain = Delivery.choose(plain_reason=REASON)
    assert plain.seal(lines, "audit.csv", "text/csv").data == b"".join(lines)
    assert plain.seal_pdf(_pdf(), "s.pdf").data.startswith(b"%PDF-")
