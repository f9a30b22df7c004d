"""Every evidence check, made to pass and made to fail (A1…O2).

Each registered check has a case below that puts the system in a state where the measure is met,
and one where it is not; a test fails when a check is registered without both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.access.policy import ROLE_PERMISSIONS, Permission, Role
from secretum.accounts import charter as charters
from secretum.audit.db import drop_trigger_statements
from secretum.audit.log import record_event
from secretum.breaches import services as breaches
from secretum.compliance import access_review, declarations, evidence, printing, register, signing
from secretum.compliance.evidence import Verdict
from secretum.compliance.models import PrintLog
from tests.conftest import actor_for, identity, make_user


class World:
    """The practice a case works on; the fixtures it asks for."""

    def __init__(self, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings = settings
        self.monkeypatch = monkeypatch
        self.manager = make_user(Role.MANAGER)
        self.practitioner = make_user(Role.PRACTITIONER)
        self.secretary = make_user(Role.SECRETARY)

    def patient(self) -> Any:
        from secretum.patients import services as patients

        return patients.register_patient(actor_for(self.practitioner), identity())

    def event(self) -> None:
        record_event(actor_for(self.manager), "read", "compliance.Register")


def _chmod(world: World, path: Path, mode: int) -> None:
    old = path.stat().st_mode & 0o777
    os.chmod(path, mode)
    world.monkeypatch.setattr(world, "restore", (path, old), raising=False)


def _charter(world: World, *, everyone: bool) -> None:
    charter = charters.publish_charter(Actor.system(), text_fr="fr", text_nl="nl", text_en="en")
    users = get_user_model().objects.filter(is_active=True)
    for user in users if everyone else users.exclude(pk=world.secretary.pk):
        charters.accept_charter(user, charter.version)


def _print(world: World) -> None:
    patient = world.patient()
    printing.print_patient_summary(actor_for(world.practitioner), patient.uid)


def _tamper_latest_event() -> None:
    """An attacker with the database owner's rights changes an event in place (D2)."""
    with connection.cursor() as cur:
        for statement in drop_trigger_statements(connection.vendor):
            cur.execute(statement)
        cur.execute(
            "UPDATE audit_auditevent SET detail = %s WHERE seq = (SELECT MAX(seq) FROM "
            "audit_auditevent)",
            ['{"changed":true}'],
        )


def _database_file_private(world: World) -> None:
    name = Path(str(connection.settings_dict["NAME"]))
    if connection.vendor == "sqlite" and name.is_file():
        os.chmod(name, 0o600)


def _dormant_account(world: World) -> None:
    access_review.record_access_review(actor_for(world.manager), "reviewed")
    old = make_user(Role.SECRETARY)
    get_user_model().objects.filter(pk=old.pk).update(
        date_joined=timezone.now() - dt.timedelta(days=400), last_login=None
    )


def _late_breach(world: World) -> None:
    breaches.report_breach(
        actor_for(world.secretary),
        aware_at=timezone.now() - dt.timedelta(hours=80),
        what_happened="A fictitious test laptop was left in a train.",
    )


def _unsafe_report_key(world: World) -> None:
    signing.signing_key()
    _chmod(world, signing.key_path(), 0o644)


def _unsafe_tls_key(world: World) -> None:
    _chmod(world, django_settings.INSTANCE.tls_key, 0o644)


def _secretary_with_medical_rights(world: World) -> None:
    world.monkeypatch.setitem(
        ROLE_PERMISSIONS,
        Role.SECRETARY,
        ROLE_PERMISSIONS[Role.SECRETARY] | {Permission.CLINICAL_READ},
    )


def _unbounded_clinical_field(world: World) -> None:
    from secretum.clinical import rules

    world.monkeypatch.setitem(
        rules.SPECS, "comment", (rules.FieldSpec("comment", "Comment", 1_000_000),)
    )


def _demo_without_faker(world: World) -> None:
    from secretum.core.management.commands import demo

    world.monkeypatch.setattr(demo, "Faker", object())


def _missing_library(world: World) -> None:
    from secretum.crypto import evidence as crypto_evidence

    world.monkeypatch.setattr(
        crypto_evidence,
        "LIBRARIES",
        (*crypto_evidence.LIBRARIES, ("no-such-library-secretum", "nothing")),
    )


def _print_without_audit_event(world: World) -> None:
    PrintLog.objects.create(
        printed_at=timezone.now(),
        user=world.practitioner,
        role="practitioner",
        patient_ref="00000000-0000-0000-0000-000000000000",
        document="patient-summary",
        scope=PrintLog.Scope.MEDICAL,
        pages=1,
    )


def _medical_print_by_secretary(world: World) -> None:
    PrintLog.objects.create(
        printed_at=timezone.now(),
        user=world.secretary,
        role="secretary",
        patient_ref="00000000-0000-0000-0000-000000000000",
        document="patient-summary",
        scope=PrintLog.Scope.MEDICAL,
        pages=1,
    )


def _intervention(world: World) -> None:
    from tests.maintenance.test_log import record

    record(world.manager)


def _intervention_without_consent(world: World) -> None:
    """E3: a row written past Secretum (its service refuses it)."""
    from tests.maintenance.test_log import record, write_past_secretum

    write_past_secretum(record(world.manager), on_workstation=True, consent=False)


def _nothing(world: World) -> None:
    pass


def _practice_networks(world: World) -> None:
    """F1, F4: the practice's LAN and its VPN's range."""
    world.settings.SECRETUM_ALLOWED_NETWORKS = ["192.168.1.0/24"]
    world.settings.SECRETUM_REMOTE_NETWORKS = ["10.8.0.0/24"]


def _current_vulnerability_database(world: World) -> None:
    """G2: fixture advisories, none of which covers an installed version, downloaded today."""
    from tests.core.test_updates import HARMLESS, database

    folder = Path(world.settings.SECRETUM_HOME).parent / "osv-current"
    world.settings.SECRETUM_VULNERABILITY_DB = database(folder, HARMLESS)


def _practice_certificate(world: World) -> None:
    """H1: a certificate authority's certificate for the name other machines use."""
    from tests.certificates import authority, install, server

    ca = authority()
    folder = Path(world.settings.SECRETUM_HOME).parent / "practice-tls"
    world.settings.ALLOWED_HOSTS = ["secretum.cabinet-fictif.example", "testserver"]
    cert, key = install(folder, server(ca, names=("secretum.cabinet-fictif.example",)), ca)
    world.settings.SECRETUM_TLS_CERT_FILE, world.settings.SECRETUM_TLS_KEY_FILE = cert, key


Case = Callable[[World], None]
# measure: (make it pass, make it fail)
CASES: dict[str, tuple[Case, Case]] = {
    "A1": (lambda w: _charter(w, everyone=True), lambda w: _charter(w, everyone=False)),
    "A2": (lambda w: _charter(w, everyone=True), _nothing),  # no charter published at all
    "B1": (_nothing, lambda w: get_user_model().objects.create(username="admin", role="")),
    "B2": (_nothing, lambda w: setattr(
        w.settings, "PASSWORD_HASHERS", ["django.contrib.auth.hashers.PBKDF2PasswordHasher"])),
    "B3": (_nothing, lambda w: make_user(Role.PRACTITIONER, factor=False)),
    "C1": (_nothing, _secretary_with_medical_rights),
    "C2": (lambda w: access_review.record_access_review(actor_for(w.manager), "all fine"),
           _dormant_account),
    "C3": (_print, _medical_print_by_secretary),
    "D1": (lambda w: w.event(), lambda w: setattr(w.settings, "SECRETUM_BENCHMARK_BASELINE", True)),
    "D2": (lambda w: w.event(), lambda w: (w.event(), _tamper_latest_event())),
    "D3": (lambda w: breaches.report_breach(
        actor_for(w.secretary), aware_at=timezone.now(), what_happened="Fictitious test."),
        _late_breach),
    "E1": (_nothing, lambda w: setattr(w.settings, "SECRETUM_IDLE_TIMEOUT", 3600)),
    "E4": (_nothing, lambda w: setattr(w.settings, "MIDDLEWARE", [
        m for m in django_settings.MIDDLEWARE if "SecurityHeaders" not in m])),
    "E3": (_intervention, _intervention_without_consent),
    "F1": (_practice_networks, _nothing),  # nothing configured: every address may connect
    "F4": (_practice_networks, _nothing),
    "G2": (_current_vulnerability_database, _nothing),  # no vulnerability database
    "E10": (lambda w: w.patient(), lambda w: setattr(w.settings, "SECRETUM_BENCHMARK_BASELINE",
                                                     True)),
    "G1": (_nothing, lambda w: setattr(w.settings, "ROOT_URLCONF", "tests.compliance.bad_urls")),
    "G3": (lambda w: w.patient(), lambda w: setattr(w.settings, "SECRETUM_BENCHMARK_BASELINE",
                                                    True)),
    "H1": (_practice_certificate, lambda w: setattr(w.settings, "SECURE_HSTS_SECONDS", 0)),
    "H2": (_nothing, lambda w: setattr(w.settings, "ROOT_URLCONF", "tests.compliance.bad_urls")),
    "H3": (_database_file_private, lambda w: (_database_file_private(w),
                                              setattr(w.settings, "SECRET_KEY", "short"))),
    "K1": (_intervention, _nothing),
    "L3": (_nothing, _unsafe_report_key),
    "N1": (_nothing, lambda w: setattr(w.settings, "SECURE_REFERRER_POLICY", "unsafe-url")),
    "N2": (_nothing, _unbounded_clinical_field),
    "N3": (_nothing, _demo_without_faker),
    "O1": (_nothing, _missing_library),
    "O2": (_nothing, _unsafe_tls_key),
    "P1": (_print, _print_without_audit_event),
}  # fmt: skip
# The software part of P1, C3, F1 and F4 passes; the practice declares the rest (the shredder,
# who receives paper copies, the guests' devices, the VPN itself): declared in the passing test.
ALSO_DECLARED = {"P1", "C3", "F1", "F4"}


def test_every_registered_check_has_a_passing_and_a_failing_case() -> None:
    assert set(evidence.registered()) == set(CASES)


@pytest.fixture
def world(db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # A witness of its own: the checkpoints a case signs are rolled back with its database.
    settings.SECRETUM_AUDIT_WITNESS = tmp_path / "witness" / "audit-checkpoints.log"
    made = World(settings, monkeypatch)
    yield made
    restore = getattr(made, "restore", None)
    if restore:
        os.chmod(*restore)


def _verdict(measure_id: str) -> evidence.Evidence:
    found = evidence.gather([measure_id])[measure_id]
    assert found.summary
    return found


@pytest.mark.parametrize("measure_id", sorted(CASES))
def test_check_passes(world: World, measure_id: str) -> None:
    CASES[measure_id][0](world)
    found = _verdict(measure_id)
    assert found.verdict == Verdict.MET, (found.summary, found.details)
    if measure_id in ALSO_DECLARED:
        # Met by the software; the register still wants the practice's declaration.
        declarations.declare(
            actor_for(world.manager),
            measure_id,
            choice="adopted",
            justification="",
            owner_id=world.manager.pk,
            next_review=timezone.localdate() + dt.timedelta(days=100),
        )
    register.set_hosting(actor_for(world.manager), "both")
    assert register.build_register().row(measure_id).status == "met"


@pytest.mark.parametrize("measure_id", sorted(CASES))
def test_check_fails(world: World, measure_id: str) -> None:
    CASES[measure_id][1](world)
    found = _verdict(measure_id)
    assert found.verdict == Verdict.NOT_MET, found.summary
    row = register.build_register().row(measure_id)
    assert row.status == "not-met" and row.failing_evidence
    assert row.reason == found.summary


def test_the_summaries_say_what_the_issue_promises(world: World) -> None:
    _charter(world, everyone=True)
    found = evidence.gather(["B3", "E1", "A1", "C2"])
    n = get_user_model().objects.filter(is_active=True).count()
    assert found["B3"].summary == f"{n} of {n} active users have a confirmed second factor."
    assert found["E1"].summary.startswith("Idle lock 15 min, enforced on the server")
    assert "accepted by 3 of 3 active users" in found["A1"].summary
    access_review.record_access_review(actor_for(world.manager))
    today = timezone.localdate()
    assert evidence.gather(["C2"])["C2"].summary == (
        f"Last access review {today.isoformat()}, next due "
        f"{(today + dt.timedelta(days=365)).isoformat()}."
    )


def test_a_broken_check_is_not_met_and_the_register_still_renders(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> evidence.Evidence:
        raise RuntimeError("boom")

    monkeypatch.setitem(evidence._CHECKS, "E1", broken)
    row = register.build_register().row("E1")
    assert row.status == "not-met" and "RuntimeError" in row.reason


def test_registering_a_check_for_an_unknown_measure_is_refused() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        evidence.evidence("Z9")(lambda: evidence.met("never"))


def test_a_second_check_for_the_same_measure_is_refused() -> None:
    from django.core.exceptions import ImproperlyConfigured

    def another() -> evidence.Evidence:
        return evidence.met("never")

    with pytest.raises(ImproperlyConfigured):
        evidence.evidence("E1")(another)


# --- every other way a check fails: one fault each, and what the register says about it ---------


class Argon2iHasher(Argon2PasswordHasher):
    """Argon2, but the data-dependent variant (Argon2i), where B2 wants Argon2id."""

    algorithm = "argon2i-test"

    def params(self) -> Any:
        import argon2

        return dataclasses.replace(super().params(), type=argon2.Type.I)


def _no_active_account(world: World) -> None:
    get_user_model().objects.update(is_active=False)


def _validators_without(*names: str) -> Case:
    def apply(world: World) -> None:
        world.settings.AUTH_PASSWORD_VALIDATORS = [
            v
            for v in django_settings.AUTH_PASSWORD_VALIDATORS
            if v["NAME"].rsplit(".", 1)[-1] not in names
        ]

    return apply


def _no_instance(world: World) -> None:
    from secretum import instance

    world.settings.INSTANCE = instance.Instance(Path(world.settings.INSTANCE.home) / "gone")


def _plain_patient_name(world: World) -> None:
    from secretum.patients.models import Patient

    Patient.objects.filter(uid=world.patient().uid).update(family_name=b"Plain")


def _exposed_oidc_secret(world: World) -> None:
    path = Path(world.settings.INSTANCE.home) / "oidc-secret-test"
    path.write_text("fictitious")
    path.chmod(0o644)
    world.monkeypatch.setattr(world, "restore", (path, 0o600), raising=False)
    world.settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = str(path)


def _medical_read_by_identity(world: World) -> None:
    from secretum.access.classification import READ_PERMISSION, DataClass

    world.monkeypatch.setitem(READ_PERMISSION, DataClass.MEDICAL, Permission.PATIENT_IDENTITY_READ)


def _changed_event_behind_restored_triggers(world: World) -> None:
    from secretum.audit.db import install_triggers

    world.event()
    _tamper_latest_event()
    install_triggers(connection)


def _forged_checkpoint_signature(world: World) -> None:
    from secretum.audit.checkpoints import create_checkpoint
    from secretum.audit.db import install_triggers

    world.event()
    create_checkpoint()
    with connection.cursor() as cur:
        for statement in drop_trigger_statements(connection.vendor):
            cur.execute(statement)
        cur.execute("UPDATE audit_auditcheckpoint SET signature = %s", ["AAAA" * 22])
    install_triggers(connection)


def _signer_stopped(world: World) -> None:
    import time

    world.settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL = 1
    world.event()
    time.sleep(3.2)  # three intervals without a checkpoint


# (measure, fault, what the summary or its details say)
FAULTS: dict[str, tuple[str, Case, str]] = {
    "no-active-account": ("B1", _no_active_account, "No active account"),
    "argon2i": ("B2", lambda w: setattr(w.settings, "PASSWORD_HASHERS", [
        f"{__name__}.Argon2iHasher"]), "not Argon2id"),
    "no-minimum-length": ("B2", _validators_without("MinimumLengthValidator"),
                          "shorter than 12 characters"),
    "no-common-password-rule": ("B2", _validators_without("CommonPasswordValidator"),
                                "the CommonPasswordValidator rule is off"),
    "nobody-to-enrol": ("B3", _no_active_account, "0 of 0 active users"),
    "medical-read-by-identity": ("C1", _medical_read_by_identity,
                                 "medical fields do not require the clinical read permission"),
    "changed-event": ("D2", _changed_event_behind_restored_triggers, "was changed"),
    "forged-checkpoint": ("D2", _forged_checkpoint_signature, "has no valid signature"),
    "signer-stopped": ("D2", _signer_stopped, "the signer is not running"),
    "no-key-file": ("E10", _no_instance, "No instance"),
    "unsealed-value": ("E10", _plain_patient_name, "1 of 1 sampled patient records"),
    "regex-route": ("H2", lambda w: setattr(w.settings, "ROOT_URLCONF",
                                            "tests.compliance.bad_urls"), "legacy/"),
    "key-file-missing": ("O2", _no_instance, "key file is missing"),
    "exposed-oidc-secret": ("O2", _exposed_oidc_secret, "oidc-secret-test"),
}  # fmt: skip


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_its_check_and_says_why(world: World, fault: str) -> None:
    measure_id, make, said = FAULTS[fault]
    make(world)
    found = _verdict(measure_id)
    assert found.verdict == Verdict.NOT_MET, found.summary
    assert said in " ".join([found.summary, *found.details]), (found.summary, found.details)


def test_the_audit_evidence_names_its_latest_signed_checkpoint(world: World) -> None:
    from secretum.audit.checkpoints import create_checkpoint

    world.event()
    checkpoint, _new = create_checkpoint()
    found = _verdict("D2")
    assert found.verdict == Verdict.MET
    assert found.details[0].startswith(f"Latest signed checkpoint: {checkpoint.tree_size} events")
