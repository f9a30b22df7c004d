"""J2: records destroyed by crypto-shredding when their retention ends, tried as an attacker.

After destruction nothing of the patient opens, even with the key file (its data key is gone
from the database); the search finds nothing; no row names the patient but the opaque reference
the audit log and the certificate keep; the certificate verifies with the public key alone and
any change to it is detected; only a manager destroys, only a record that is due or whose
erasure request a practitioner recorded with its basis; two managers at once destroy once.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.http import Http404
from django.utils import timezone

from secretum.access.actor import AccessDenied
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.accounts import services as accounts
from secretum.audit.models import TAMPERED, AuditEvent, Outcome
from secretum.crypto import keyring
from secretum.patients import services as patients
from secretum.patients.models import Patient, SearchToken
from secretum.retention import certificates, contact, services
from secretum.retention.models import Basis, DestructionCertificate, ErasureRequest
from secretum.scheduling.models import Appointment
from tests.conftest import actor_for, events, make_user
from tests.retention.conftest import SECRET_NAME, age, full_record, years_on


def _rows_naming(patient_pk: int) -> dict[str, int]:
    """Every row of every table with a foreign key to this patient's row."""
    found = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is Patient:
                n = model._base_manager.filter(**{field.name: patient_pk}).count()
                if n:
                    found[f"{model._meta.label}.{field.name}"] = n
    return found


def test_a_record_without_contact_for_the_retention_period_is_due(
    practitioner: Any, manager: Any
) -> None:
    """J2: 31 years without contact is due under 30 years; 29 years is not; a 50-year setting
    keeps the 31-year-old record."""
    old = full_record(practitioner)
    age(old, 31)
    recent = full_record(practitioner)
    age(recent, 29)
    listed = [r.ref for r in services.due_records(actor_for(manager)).records]
    assert old in listed and recent not in listed
    accounts.update_practice_settings(
        actor_for(manager), idle_timeout_minutes=15, session_lifetime_hours=10,
        password_renewal_days=0, retention_years=50,
    )  # fmt: skip
    assert services.due_records(actor_for(manager)).records == []


def test_any_later_contact_keeps_the_record(practitioner: Any, manager: Any) -> None:
    """J2: one entry, appointment or care contact within the period moves the last contact."""
    uid = full_record(practitioner)
    age(uid, 31)
    patient = Patient.objects.get(uid=uid)
    for model, column in contact.sources():
        row = model._base_manager.filter(patient=patient).first()
        if row is None:
            continue
        previous = getattr(row, column)
        model._base_manager.filter(pk=row.pk).update(**{column: patient.created_at.replace(
            year=patient.created_at.year + 2)})  # fmt: skip
        assert uid not in [r.ref for r in services.due_records(actor_for(manager)).records], model
        model._base_manager.filter(pk=row.pk).update(**{column: previous})
    assert uid in [r.ref for r in services.due_records(actor_for(manager)).records]


def test_a_cancelled_appointment_keeps_the_record_as_the_audit_log_says(
    practitioner: Any, manager: Any
) -> None:
    """J2: a cancelled appointment is a contact for retention (unlike the archive's J1): its
    booking is in the audit log, which confirms every destruction; the record stays retained."""
    uid = full_record(practitioner)
    age(uid, 31)
    patient = Patient.objects.get(uid=uid)
    recent = timezone.now() - dt.timedelta(days=30)
    Appointment.objects.filter(patient=patient).update(starts_at=recent, status="cancelled")
    assert uid not in [r.ref for r in services.due_records(actor_for(manager)).records]


def test_after_destruction_nothing_of_the_patient_opens_even_with_the_key_file(
    old_record: str, practitioner: Any, manager: Any
) -> None:
    """J2: the data key is gone; every row naming the patient is gone; the search finds
    nothing; the audit log keeps only the opaque reference."""
    patient = Patient.objects.get(uid=old_record)
    pk, wrapped = patient.pk, bytes(patient.wrapped_key)
    assert _rows_naming(pk)  # entries, documents, appointment, care, tokens
    certificate = services.destroy_record(actor_for(manager), old_record)
    assert not Patient.objects.filter(pk=pk).exists()
    assert _rows_naming(pk) == {}
    assert not SearchToken.objects.filter(patient_id=pk).exists()
    with pytest.raises(Http404):
        patients.open_patient(old_record)
    found = patients.search_patients(actor_for(practitioner), SECRET_NAME)
    assert found.patients == []
    # The wrapped key is in no table any more (the live database holds no copy to unwrap).
    with connection.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if field.get_internal_type() == "BinaryField":
                    table, column = model._meta.db_table, field.column
                    sql = f'SELECT COUNT(*) FROM "{table}" WHERE "{column}" = %s'  # noqa: S608
                    cursor.execute(sql, [wrapped])
                    assert cursor.fetchone()[0] == 0, (table, column)
    destroyed = events(resource="patients.Patient", action="delete")[-1]
    assert destroyed.patient_ref == old_record and destroyed.outcome == Outcome.SUCCESS
    assert SECRET_NAME not in destroyed.detail and "Toux" not in destroyed.detail
    assert certificate.patient_ref == old_record
    assert SECRET_NAME not in certificate.text and "Toux" not in certificate.text


@pytest.mark.usefixtures("home", "quick")  # a key file of the test's own; no grace period
def test_an_old_copy_opens_until_the_key_version_is_retired_then_never(
    old_record: str, practitioner: Any, manager: Any
) -> None:
    """J2: an old backup holds the wrapped data key; with the key file's current version it
    still opens (the certificate says so, no date yet); after a key rotation retires that
    version, the copy no longer opens, every other patient still does, and the certificate
    states the day after which no key-store copy remains."""
    from tests.crypto.test_rotation import _rotate

    kept = full_record(practitioner)
    patient = Patient.objects.get(uid=old_record)
    backup = (bytes(patient.wrapped_key), patients.key_aad(patient), bytes(patient.family_name))
    certificate = services.destroy_record(actor_for(manager), old_record)
    assert keyring.unwrap_data_key(backup[0], backup[1])  # the caveat, stated on the certificate
    assert certificates.readability(certificate).until is None
    _rotate()  # retires the version, kept one rotation longer for a late write: still opens
    assert keyring.unwrap_data_key(backup[0], backup[1])
    assert certificates.readability(certificate).until is None
    _rotate()  # removes it
    with pytest.raises(keyring.DecryptionError):
        keyring.unwrap_data_key(backup[0], backup[1])
    assert patients.open_patient(kept)
    readable = certificates.readability(certificate)
    assert readable.retired_at is not None and readable.until is not None
    assert (readable.until - readable.retired_at.date()).days in (35, 36)  # the local day


def test_the_certificate_verifies_with_the_public_key_and_any_change_is_detected(
    old_record: str, manager: Any
) -> None:
    """J2: signed Ed25519 (compliance.signing); a changed line, a certificate's signature
    swapped for another's, or a signature made by another key: each refused."""
    certificate = services.destroy_record(actor_for(manager), old_record)
    assert certificates.verify(certificate).ok
    text = certificate.text
    assert f"patient-ref: {old_record}" in text and "basis: retention-ended" in text
    assert f"approved-by: {manager.get_username()}" in text
    assert "key-store-backups-expire-after-days: 35" in text
    certificate.text = text.replace("basis: retention-ended", "basis: art17-1d-unlawful")
    assert not certificates.verify(certificate).ok
    certificate.text = text
    certificate.signature = certificate.signature.replace("signature: ", "signature: A")
    assert not certificates.verify(certificate).ok


def test_dates_moved_back_in_the_database_destroy_nothing(practitioner: Any, manager: Any) -> None:
    """J2, as whoever holds the database: every date of a record in use moved back 31 years
    lists it as due; the destruction checks the audit log, which cannot be backdated, refuses,
    and tells the auditor."""
    uid = full_record(practitioner)
    age(uid, 31)
    assert uid in [r.ref for r in services.due_records(actor_for(manager)).records]
    with pytest.raises(ValidationError, match="do not match the audit log"):
        services.destroy_record(actor_for(manager), uid)
    assert Patient.objects.filter(uid=uid).exists() and not DestructionCertificate.objects.exists()
    reported = events(resource="patients.Patient", outcome=Outcome.FAILURE, action="read")
    assert reported and TAMPERED in reported[-1].detail


def test_only_a_manager_destroys_and_each_refusal_is_audited(
    old_record: str, practitioner: Any, auditor: Any
) -> None:
    """J2: a practitioner, an auditor, a secretary are refused; the record stays whole."""
    for user in (practitioner, auditor, make_user(Role.SECRETARY)):
        with pytest.raises(AccessDenied):
            services.destroy_record(actor_for(user), old_record)
    assert Patient.objects.filter(uid=old_record).exists()
    denied = events(resource="patients.Patient", action="delete", outcome=Outcome.DENIED)
    assert len(denied) == 3


def test_a_record_not_yet_due_needs_an_erasure_request_with_its_basis(
    practitioner: Any, manager: Any
) -> None:
    """J2, GDPR art. 17: within retention, refused (the law is named); a request recorded by a
    practitioner with its basis allows it, and the certificate names that basis; a request
    planted in the database (no seal) allows nothing."""
    uid = full_record(practitioner)
    with pytest.raises(ValidationError, match="Belgian law requires keeping it"):
        services.destroy_record(actor_for(manager), uid)
    patient = Patient.objects.get(uid=uid)
    planted = ErasureRequest(patient=patient, basis=Basis.UNLAWFUL, recorded_by=practitioner)
    ErasureRequest.objects.bulk_create([planted])  # past save(): no seal
    assert uid not in [r.ref for r in services.due_records(actor_for(manager)).records]
    reported = events(resource="retention.ErasureRequest", outcome=Outcome.FAILURE)
    assert reported and TAMPERED in reported[-1].detail  # the auditor's "tampered" alert
    with pytest.raises(ValidationError, match="within its retention period"):
        services.destroy_record(actor_for(manager), uid)
    with pytest.raises(ValidationError):
        services.record_erasure_request(actor_for(practitioner), uid, Basis.RETENTION_ENDED)
    with pytest.raises(AccessDenied):
        services.record_erasure_request(actor_for(manager), uid, Basis.NO_CARE_GIVEN)
    services.record_erasure_request(actor_for(practitioner), uid, Basis.NO_CARE_GIVEN)
    listed = {r.ref: r for r in services.due_records(actor_for(manager)).records}
    assert listed[uid].due_since is None and listed[uid].erasure_basis == Basis.NO_CARE_GIVEN
    certificate = services.destroy_record(actor_for(manager), uid)
    assert certificate.basis == Basis.NO_CARE_GIVEN
    assert "GDPR art. 17(1)(a)" in certificate.text and "erasure-request:" in certificate.text
    assert certificates.verify(certificate).ok


def test_only_a_practitioner_caring_for_the_patient_records_an_erasure_request(
    practitioner: Any, patient: Any
) -> None:
    """J2: without a care relationship, or under an emergency access, a practitioner cannot make
    someone else's patient destroyable; each refusal is audited."""
    from secretum.access import care

    other = make_user(Role.PRACTITIONER)
    with pytest.raises(NoCareRelationship):
        services.record_erasure_request(actor_for(other), patient.uid, Basis.NO_CARE_GIVEN)
    care.break_the_glass(actor_for(other), patient.uid, "emergency", "Fictitious: unconscious.")
    with pytest.raises(NoCareRelationship):
        services.record_erasure_request(actor_for(other), patient.uid, Basis.NO_CARE_GIVEN)
    assert not ErasureRequest.objects.exists()
    failed = events(resource="retention.ErasureRequest", outcome=Outcome.FAILURE)
    assert len(failed) == 2


def test_a_destroyed_record_cannot_be_destroyed_twice(old_record: str, manager: Any) -> None:
    services.destroy_record(actor_for(manager), old_record)
    with pytest.raises(services.AlreadyDestroyed):
        services.destroy_record(actor_for(manager), old_record)
    assert DestructionCertificate.objects.count() == 1


def test_the_command_line_lists_but_never_destroys(old_record: str) -> None:
    from secretum.access.actor import Actor

    with pytest.raises(ValidationError, match="practice manager"):
        services.destroy_record(Actor.system(), old_record)
    assert Patient.objects.filter(uid=old_record).exists()


@pytest.mark.django_db(transaction=True)
def test_two_managers_approving_at_once_destroy_once() -> None:
    """J2: one destruction, one certificate, one success event; the other is told."""
    practitioner = make_user(Role.PRACTITIONER)
    managers = [make_user(Role.MANAGER), make_user(Role.MANAGER)]
    uid = full_record(practitioner)
    start = threading.Barrier(2)
    done: list[str] = []
    failures: list[BaseException] = []

    def approve(manager: Any) -> None:
        start.wait()
        try:
            done.append(str(services.destroy_record(actor_for(manager), uid).uid))
        except (ValidationError, Http404) as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(m,)) for m in managers]
    with years_on(31):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(done) == 1 and len(failures) == 1
    assert isinstance(failures[0], services.AlreadyDestroyed)
    assert DestructionCertificate.objects.count() == 1
    outcomes = AuditEvent.objects.filter(resource="patients.Patient", action="delete")
    assert sorted(outcomes.values_list("outcome", flat=True)) == ["failure", "success"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("home", "quick")
def test_a_backup_made_before_the_destruction_no_longer_yields_the_patient_once_keys_expire(
    tmp_path: Any,
) -> None:
    """J2 (issue 13): a real backup made before the destruction restores, with a copy of the
    key file of its time (a key-store backup), the destroyed patient too: the caveat the
    certificate states. Once the key is rotated and that copy is gone (the practice's expiry),
    the backup no longer opens with any key file left, while every patient still in the
    database decrypts."""
    import shutil

    from secretum import instance
    from secretum.backup import restore, service
    from tests.crypto.test_rotation import _every_patient_opens, _rotate

    practitioner, manager = make_user(Role.PRACTITIONER), make_user(Role.MANAGER)
    gone = full_record(practitioner)
    kept = full_record(practitioner)
    made = service.create(tmp_path / "backups", progress=False)
    key_store_copy = tmp_path / "secretum.key.copy"
    shutil.copy2(settings_key_file(), key_store_copy)
    with years_on(31):
        services.destroy_record(actor_for(manager), gone)
    _rotate()
    _rotate()  # the first retires the version, the second removes it
    rotated = settings_key_file().read_bytes()
    instance.replace_private(settings_key_file(), key_store_copy.read_bytes())
    keyring.reset_cache()
    opened = restore.drill(made.path, progress=False)  # within the expiry: the caveat
    assert opened.ok and opened.findings["sampled"] == 2, opened.findings
    instance.replace_private(settings_key_file(), rotated)
    keyring.reset_cache()
    key_store_copy.unlink()  # the key-store backups older than the destruction expire
    assert not restore.drill(made.path, progress=False).ok
    assert _every_patient_opens() == 1 and patients.open_patient(kept)


def settings_key_file() -> Any:
    from django.conf import settings

    return settings.INSTANCE.key_file


def _written_long_ago(practitioner: Any) -> str:
    """A record written (audit log included) 36 years ago: its retention ended long since."""
    from types import SimpleNamespace
    from unittest import mock

    from secretum.audit import log as audit_log

    past = SimpleNamespace(now=lambda: timezone.now() - dt.timedelta(days=365 * 36 + 9))
    with mock.patch.object(audit_log, "timezone", past):
        uid = full_record(practitioner)
    age(uid, 36)
    return uid


def test_an_archived_record_is_destroyed_without_a_false_alarm(
    practitioner: Any, manager: Any
) -> None:
    """J1 × J2: archiving a record is an event of the audit log but no contact: a record
    archived (as every record is, years before its retention ends) is destroyed on the retention
    basis, and no tampering is reported."""
    from secretum.patients import archive

    uid = _written_long_ago(practitioner)
    assert uid in [ref for ref, _last in archive.archive_due().archived]
    assert uid in [r.ref for r in services.due_records(actor_for(manager)).records]
    services.destroy_record(actor_for(manager), uid)
    assert not Patient.objects.filter(uid=uid).exists()
    assert not AuditEvent.objects.filter(detail__contains=TAMPERED).exists()


def test_a_data_key_rotation_is_no_contact(practitioner: Any) -> None:
    """E10 × J2: the audit log confirms a record's last contact by its writes; rotating the
    record's data key writes it again, but is no contact, and does not count."""
    from secretum.access.actor import Actor, Purpose
    from secretum.patients import dekrotation

    uid = full_record(practitioner)
    before = services._audited_contact(uid)
    dekrotation.rotate_patient_key(Actor.system(Purpose.MAINTENANCE), uid)
    assert before is not None and services._audited_contact(uid) == before
