"""Shared fixtures: fictitious people only (N3), a client that speaks HTTPS like a browser."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.test import Client

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.audit.models import AuditEvent
from secretum.lib import niss
from secretum.patients import services as patients

_counter = itertools.count(1)

# pytest-django's fixtures that open the session's database.
_DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine-only",
        action="store_true",
        help="only the tests whose outcome depends on the session's database engine: those that "
        "open it, and those marked postgresql (make test-postgresql; the rest, instances of "
        "their own on SQLite and code without a database, run the same in the SQLite run)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--engine-only"):
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        opens = _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        marked = item.get_closest_marker("django_db") or item.get_closest_marker("postgresql")
        (keep if opens or marked else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class SecureClient(Client):
    """Every request over HTTPS, as `secretum serve` only speaks HTTPS."""

    def generic(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _audit_tables_flushable() -> Any:
    """D2: the audit tables refuse DELETE; tests that commit end with a flush that lifts the
    triggers for its own statements (tests/audit/flush.py)."""
    from tests.audit.flush import flushable

    with flushable():
        yield


@pytest.fixture(autouse=True)
def _test_host_and_language(settings: Any) -> Any:
    """Tests read messages in English; the French default is tested on its own."""
    from django.utils import translation

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _quick_password_hashes(settings: Any) -> None:
    """Argon2id at its lowest cost (tests/hashers.py): no test here asserts production's cost."""
    settings.PASSWORD_HASHERS = ["tests.hashers.QuickArgon2"]


@pytest.fixture(autouse=True)
def _own_witness(settings: Any, tmp_path: Any) -> None:
    """D2: every committed audit write leaves its tree head in the witness. The database is
    rolled back or flushed after each test, so each test has a witness of its own: one test's
    heads never say that the next test's log lost events."""
    settings.SECRETUM_AUDIT_WITNESS = tmp_path / "witness" / "audit-checkpoints.log"


# Fictitious TOTP seed of test users: tests compute codes with pyotp (B3).
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def make_user(
    role: Role, username: str | None = None, password: str | None = None, factor: bool = True
) -> Any:
    """A fictitious person with a personal account and, unless told otherwise, an enrolled
    authenticator app (the state every user reaches after enrolment)."""
    from django.contrib.auth import get_user_model

    from secretum.accounts.models import Factor
    from secretum.accounts.services import seal_totp_secret

    n = next(_counter)
    user = get_user_model()(
        username=username or f"{role.value}-{n}",
        role=role,
        first_name="Test",
        last_name=f"{role.value.title()} {n}",
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    if factor:
        totp = Factor(user=user, kind=Factor.Kind.TOTP, name="Test app", confirmed=True)
        seal_totp_secret(totp, TEST_TOTP_SECRET)
        totp.save()
    return user


@pytest.fixture
def practitioner(db: Any) -> Any:
    return make_user(Role.PRACTITIONER)


@pytest.fixture
def secretary(db: Any) -> Any:
    return make_user(Role.SECRETARY)


@pytest.fixture
def manager(db: Any) -> Any:
    return make_user(Role.MANAGER)


@pytest.fixture
def auditor(db: Any) -> Any:
    return make_user(Role.AUDITOR)


def actor_for(user: Any) -> Actor:
    return Actor(user=user, role=user.role, source="127.0.0.1", request_id="test")


def client_for(user: Any) -> SecureClient:
    """A signed-in browser session (both factors passed), recorded like a real login."""
    from secretum.accounts import sessions

    client = SecureClient()
    client.force_login(user)
    session = client.session
    session[sessions.RECORD] = sessions.open_record(user, "test browser", "127.0.0.1").pk
    session.save()
    return client


# Fictitious identities (N3): invented names and a national number built with valid check digits.
def identity(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    birth = dt.date(1971, 3, 14) + dt.timedelta(days=n)
    data: dict[str, Any] = {
        "family_name": f"Zorbatova{n}",
        "given_name": "Quilline",
        "birth_date": birth,
        "sex": "female",
        "niss": niss.build(birth, 2 * n % 998 or 2),
        "street": "Rue des Essais 1",
        "postal_code": "1000",
        "city": "Testville",
        "phone": "+32 2 000 00 00",
        "email": "quilline@example.invalid",
        "insurer": "Mutualité fictive",
        "insurer_number": "000000000",
    }
    data.update(overrides)
    return data


@pytest.fixture
def patient(practitioner: Any) -> patients.PatientIdentity:
    return patients.register_patient(actor_for(practitioner), identity())


def events(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))
