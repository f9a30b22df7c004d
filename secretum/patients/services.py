"""All reads and writes of patient identities: checked, audited, sealed.

Views call these functions and receive plain, decrypted value objects; they never touch
the models. Other services (clinical, scheduling) use :func:`open_patient` to reach a patient's
data key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access import care
from secretum.access.actor import Actor
from secretum.access.fields import FieldReader
from secretum.access.guard import ArchivedRecord, guarded
from secretum.access.models import CareRelationship
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import Action
from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.crypto.keyring import DataKey
from secretum.instance import IndexGeneration
from secretum.lib import niss as niss_lib
from secretum.lib.dates import shown
from secretum.patients import integrity, queries
from secretum.patients.models import IDENTITY_FIELDS, Patient, SearchToken

RESOURCE = "patients.Patient"
NAME_PREFIX_MIN = 2
NAME_PREFIX_MAX = 20
SEARCH_LIMIT = 50
# The candidates the index proposes that a search opens, at most (a token is shared, E10).
SEARCH_CANDIDATES = SEARCH_LIMIT * 2
NAME_TOKENS = 64  # name tokens per patient, real and random: the count hides the name's length
NAME_TOKENS_STEP = 32
# N2: no patient alive was born before this day; an earlier birth date is a typing error.
BIRTH_EARLIEST = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class PatientIdentity:
    """A patient's identity and contact details, decrypted, for display."""

    uid: str
    family_name: str
    given_name: str
    birth_date: dt.date | None
    sex: str
    niss: str
    street: str
    postal_code: str
    city: str
    phone: str
    email: str
    insurer: str
    insurer_number: str
    # The record was altered outside Secretum (patients/integrity.py): shown, never hidden.
    altered: bool = False

    @property
    def display_name(self) -> str:
        return f"{self.family_name.upper()} {self.given_name}"

    @property
    def niss_display(self) -> str:
        return niss_lib.formatted(self.niss) if self.niss else ""


@dataclass(frozen=True)
class SearchResult:
    kind: str  # name, birth, niss
    patients: list[PatientIdentity]
    truncated: bool
    # Records the index pointed to that could not be opened (altered outside Secretum): left
    # out, each reported to the auditor; the others are listed all the same.
    unreadable: int = 0


def key_aad(patient: Patient) -> str:
    """The associated data that binds a wrapped data key to its patient (its KEK rotation too)."""
    return f"{Patient._meta.label}:{uid_text(patient)}"


def open_patient(uid: Any) -> tuple[Patient, DataKey]:
    """The patient row and its unwrapped data key. For services only, never for views. A row
    that no longer matches its record seal is still returned (a doctor must see what is there),
    and its opening is reported to the auditor; but one whose seal says archived while its
    column says active (J1: the archive flag cleared in the database) is refused as archived."""
    patient, key = _load(uid)
    if not integrity.intact(patient):
        report_unreadable(patient)
        if integrity.sealed_as_archived(patient):
            raise ArchivedRecord(str(patient.uid), write=False)
    return patient, key


def writable_patient(uid: Any, *, restoring: bool = False) -> tuple[Patient, DataKey]:
    """The patient row, locked until the write commits, and its data key; ValidationError if
    the record was altered outside Secretum (a new seal would launder the alteration) or put
    back from an older copy, or if it is archived (J1: restored to active first; ``restoring``
    for the restore itself). The archive is checked here, under the row's lock, as well as at
    the gate: a record archived between the two is still refused."""
    patient, key = _load(uid)
    if not integrity.intact(patient) or integrity.audited_version(str(patient.uid)) > (
        patient.record_version
    ):
        report_unreadable(patient)
        raise integrity.altered_error()
    if restoring and patient.archived_at is None:
        raise ValidationError(_("This record is not archived."))
    if not restoring and patient.archived_at is not None:
        raise archived_error()
    return patient, key


def archived_error() -> ValidationError:
    return ValidationError(
        _(
            "This record is archived: nothing can be added to it or changed until a practitioner "
            "restores it to active."
        ),
        code="record-archived",
    )


def _load(uid: Any) -> tuple[Patient, DataKey]:
    """The patient row, locked until the transaction ends (``select_for_update``), and its key."""
    try:
        patient = queries.by_uid(uid, lock=True)
    except (ValidationError, ValueError):
        patient = None
    if patient is None:
        raise Http404("No such patient.")
    return patient, patient_key(patient)


# What a list of patients shows (search results); what a name needs (agenda, appointments).
LISTED_FIELDS = ("family_name", "given_name", "birth_date", "niss", "city")
NAME_FIELDS = ("family_name", "given_name")


def patient_key(patient: Patient) -> DataKey:
    """The data key of a patient row already loaded by a service."""
    return keyring.unwrap_data_key(patient.wrapped_key, key_aad(patient))


def patient_ref_for_niss(number: str) -> str | None:
    """The opaque reference of the patient with this (cleaned) national number: the blind index
    proposes, the decrypted number confirms (a token moved to another patient in the database
    points nowhere). For services that resolve a reference (the auditor's report)."""
    candidates = Patient.objects.filter(
        id__in=SearchToken.objects.filter(
            kind=SearchToken.Kind.NISS, token__in=keyring.blind_indexes("niss", number)
        ).values("patient_id")
    )
    for patient in candidates:
        try:
            if patient.unseal(patient_key(patient), "niss") == number:
                return str(patient.uid)
        except keyring.DecryptionError:
            report_unreadable(patient)
    return None


def report_unreadable(patient: Patient, actor: Actor | None = None) -> None:
    """A record that failed authentication: reported to the auditor, never an error for the
    person searching."""
    uid = str(patient.uid)
    record_tampered(RESOURCE, uid, actor=actor, patient_ref=uid)


def reveal_identity(
    patient: Patient, reader: FieldReader, fields: tuple[str, ...] = IDENTITY_FIELDS
) -> PatientIdentity:
    """The identity, decrypted through the call's reader (access/fields.py); only ``fields`` are
    opened (the others stay empty), so a list of a hundred patients does not decrypt twelve
    fields of each."""
    values = {
        name: (reader.open(patient, name) or "") if name in fields else ""
        for name in IDENTITY_FIELDS
    }
    birth = values.pop("birth_date")
    return PatientIdentity(
        uid=uid_text(patient),
        birth_date=dt.date.fromisoformat(birth) if birth else None,
        altered=not integrity.intact(patient),
        **values,
    )


def check_birth_date(value: dt.date) -> None:
    """A plausible birth date (N2): from 1 January 1900 up to today, or ValidationError."""
    if value > timezone.localdate():
        raise ValidationError(_("A birth date cannot be in the future."))
    if value < BIRTH_EARLIEST:
        raise ValidationError(
            _("This birth date is not plausible: give a date between %(first)s and today.")
            % {"first": shown(BIRTH_EARLIEST)}
        )


def _birth_date(value: Any) -> dt.date | None:
    """The birth date of form data (a date, or an ISO string from another caller), checked."""
    if value in (None, ""):
        return None
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(_("Give the birth date as a date (yyyy-mm-dd).")) from None
    check_birth_date(value)
    return value


def _normalise_input(data: dict[str, Any]) -> dict[str, str | None]:
    """Typed form data to the strings that are sealed; re-checks what must never be stored."""
    unknown = set(data) - set(IDENTITY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown identity fields: {', '.join(sorted(unknown))}")
    out: dict[str, str | None] = {}
    for name in IDENTITY_FIELDS:
        value = data.get(name)
        if name == "birth_date":
            value = _birth_date(value)
        if isinstance(value, dt.date):
            value = value.isoformat()
        value = (str(value).strip() if value is not None else "") or None
        if value is not None and len(value) > 200:
            raise ValidationError(_("%(field)s is longer than 200 characters.") % {"field": name})
        out[name] = value
    if not out["family_name"] or not out["given_name"]:
        raise ValidationError(_("A patient needs a family name and a given name."))
    if out["niss"]:
        try:
            out["niss"] = niss_lib.clean(out["niss"])
        except niss_lib.NissError as exc:
            raise ValidationError(str(exc)) from None
    return out


def _name_terms(name: str) -> set[str]:
    words = [keyring.normalise(w) for w in name.replace("-", " ").replace("'", " ").split()]
    return {w for w in [*words, keyring.normalise(name)] if w}


def real_tokens(
    values: dict[str, str | None], generation: IndexGeneration | None = None
) -> set[tuple[str, bytes]]:
    """The blind-index tokens a search can find this identity by: HMAC tokens of every name
    prefix of 2 to 20 letters of each word and of the whole name, the birth date and the
    national number (docs/architecture.md, "What the search index reveals"), under the index's
    current generation (or ``generation``)."""
    made = generation or keyring.index_generations()[0]
    tokens: set[tuple[str, bytes]] = set()
    for name in (values["family_name"] or "", values["given_name"] or ""):
        for term in _name_terms(name):
            for n in range(NAME_PREFIX_MIN, min(len(term), NAME_PREFIX_MAX) + 1):
                tokens.add((SearchToken.Kind.NAME, keyring.blind_index("name", term[:n], made)))
    if values["birth_date"]:
        token = keyring.blind_index("birth", values["birth_date"], made)
        tokens.add((SearchToken.Kind.BIRTH_DATE, token))
    if values["niss"]:
        tokens.add((SearchToken.Kind.NISS, keyring.blind_index("niss", values["niss"], made)))
    return tokens


def search_tokens(
    values: dict[str, str | None], generation: IndexGeneration | None = None
) -> set[tuple[str, bytes]]:
    """What is stored: the real tokens, and random name tokens up to NAME_TOKENS (then to the
    next multiple of NAME_TOKENS_STEP, for names of over about 60 letters), so that their count
    does not tell a name's length. Random tokens are as long as real ones (their generation's
    size, E10): like a real one, one may share its value with tokens of other patients, and a
    search confirms every candidate on its decrypted values."""
    made = generation or keyring.index_generations()[0]
    tokens = real_tokens(values, made)
    names = sum(1 for kind, _token in tokens if kind == SearchToken.Kind.NAME)
    padded = max(NAME_TOKENS, -(-names // NAME_TOKENS_STEP) * NAME_TOKENS_STEP)
    # A set: a random token equal to a real one (short tokens) is drawn again; a generation of
    # fewer than ``padded`` name token values (a practice of a few patients) holds them all.
    padded = min(padded, 2 ** made.bits_of("name"))
    while names < padded:
        before = len(tokens)
        tokens.add((SearchToken.Kind.NAME, keyring.random_index("name", made)))
        names += len(tokens) - before
    return tokens


def index_patient(
    patient: Patient, values: dict[str, str | None], generation: IndexGeneration | None = None
) -> None:
    """Replace the patient's search tokens by those of ``values`` under the index's current
    generation (or ``generation``: a rebuild, patients/reindex.py)."""
    made = generation or keyring.index_generations()[0]
    SearchToken.objects.filter(patient=patient).delete()
    SearchToken.objects.bulk_create(
        SearchToken(patient=patient, kind=kind, token=token, generation=made.number)
        for kind, token in search_tokens(values, made)
    )


def register_patient(actor: Actor, data: dict[str, Any]) -> PatientIdentity:
    values = _normalise_input(data)
    with guarded(actor, Permission.PATIENT_IDENTITY_WRITE, Action.CREATE, RESOURCE) as event:
        patient = Patient()
        key, patient.wrapped_key = keyring.new_data_key(key_aad(patient))
        patient.seal(key, **values)
        event.detail[integrity.VERSION_KEY] = integrity.stamp(patient, integrity.NO_ENTRIES)
        patient.save()
        index_patient(patient, values)
        # C1: a practitioner who registers a patient takes care of them (a secretary does not).
        care.record_contact(actor.user, patient.pk, CareRelationship.Origin.DECLARED)
        event.patient_ref = event.resource_ref = str(patient.uid)
        return reveal_identity(patient, event.reader(key))


def update_patient(actor: Actor, uid: Any, data: dict[str, Any]) -> PatientIdentity:
    values = _normalise_input(data)
    with guarded(
        actor,
        Permission.PATIENT_IDENTITY_WRITE,
        Action.UPDATE,
        RESOURCE,
        patient_ref=uid,
        resource_ref=uid,
    ) as event:
        patient, key = writable_patient(uid)
        reader = event.reader(key)
        before = {name: reader.open(patient, name) for name in IDENTITY_FIELDS}
        patient.seal(key, **values)
        event.detail[integrity.VERSION_KEY] = integrity.stamp(patient)
        patient.save()
        index_patient(patient, values)
        # Which fields changed, never their values.
        event.detail["fields"] = [n for n in IDENTITY_FIELDS if before[n] != values[n]]
        return reveal_identity(patient, reader)


def access_patient(actor: Actor, uid: Any) -> PatientIdentity:
    with guarded(
        actor,
        Permission.PATIENT_IDENTITY_READ,
        Action.READ,
        RESOURCE,
        patient_ref=uid,
        resource_ref=uid,
    ) as event:
        patient, key = open_patient(uid)
        return reveal_identity(patient, event.reader(key))


def classify_query(query: str) -> tuple[str, str]:
    """('niss' | 'birth' | 'name', normalised value), or ValidationError with a clear message."""
    query = (query or "").strip()
    if not query:
        raise ValidationError(_("Type a name, a birth date or a national number."))
    if any(c.isdigit() and not c.isascii() for c in query):
        # N2: "²" or "١" pass str.isdigit(); dates and national numbers are typed in 0-9 only.
        raise ValidationError(_("Type dates and national numbers with the digits 0 to 9."))
    if niss_lib.looks_like(query):
        try:
            return "niss", niss_lib.clean(query)
        except niss_lib.NissError as exc:
            raise ValidationError(str(exc)) from None
    for fmt in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"):
        try:
            return "birth", dt.datetime.strptime(query, fmt).date().isoformat()
        except ValueError:
            continue
    if any(c.isdigit() for c in query):
        raise ValidationError(_("Not a valid date (dd/mm/yyyy) or national number (11 digits)."))
    terms = [keyring.normalise(w) for w in query.replace("-", " ").split()]
    terms = [t for t in terms if t]
    if not terms or any(len(t) < NAME_PREFIX_MIN for t in terms):
        raise ValidationError(_("Type at least %(n)d letters of a name.") % {"n": NAME_PREFIX_MIN})
    return "name", " ".join(terms)


def search_patients(actor: Actor, query: str) -> SearchResult:
    kind, value = classify_query(query)
    with guarded(
        actor, Permission.PATIENT_SEARCH, Action.SEARCH, RESOURCE, detail={"kind": kind}
    ) as event:
        # The candidates read: the lowest primary keys, one more than are opened, so that a
        # longer list is known to be cut. One term (or a date, a number): the database chooses
        # them; several: each term's holders, intersected here.
        first = SEARCH_CANDIDATES + 1
        if kind == "name":
            terms = value.split()
            ids: set[int] | None = None
            for term in terms:
                tokens = keyring.blind_indexes("name", term[:NAME_PREFIX_MAX])
                found = queries.token_holders(
                    SearchToken.Kind.NAME, tokens, first if len(terms) == 1 else None
                )
                ids = found if ids is None else ids & found
        else:
            ids = queries.token_holders(kind, keyring.blind_indexes(kind, value), first)
        chosen = sorted(ids or ())
        patients, unreadable = [], 0
        for row in queries.by_ids(chosen[:SEARCH_CANDIDATES]):  # active records only (J1)
            try:
                identity = reveal_identity(row, event.reader(patient_key(row)), LISTED_FIELDS)
            except keyring.DecryptionError:
                unreadable += 1
                report_unreadable(row, actor)
                continue
            if identity.altered:  # listed all the same, marked, and reported
                report_unreadable(row, actor)
                if integrity.sealed_as_archived(row):  # J1: archived, its column cleared
                    continue
            patients.append(identity)
        # The index only proposes: every candidate is confirmed on its decrypted fields, so a
        # token moved to another patient in the database never lists the wrong person.
        patients = [p for p in patients if _matches(p, kind, value)]
        patients.sort(
            key=lambda p: (keyring.normalise(p.family_name), keyring.normalise(p.given_name))
        )
        # Candidates the index proposed are more than those confirmed (E10: a token is shared by
        # several patients): the list is cut when either was.
        truncated = len(patients) > SEARCH_LIMIT or len(chosen) > SEARCH_CANDIDATES
        event.detail["results"] = min(len(patients), SEARCH_LIMIT)
        if unreadable:
            event.detail["unreadable"] = unreadable
        return SearchResult(kind, patients[:SEARCH_LIMIT], truncated, unreadable)


def _matches(p: PatientIdentity, kind: str, value: str) -> bool:
    """The decrypted patient really has what was searched for."""
    if kind == "niss":
        return p.niss == value
    if kind == "birth":
        return p.birth_date is not None and p.birth_date.isoformat() == value
    # Every term begins a word of the names (terms longer than the indexed prefix too).
    words = _name_terms(p.family_name) | _name_terms(p.given_name)
    return all(any(w.startswith(term) for w in words) for term in value.split())
