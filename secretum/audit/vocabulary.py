"""The labelled vocabulary of the audit log (D2, issue 16 "no raw codes on screen"): every code
an audit event stores and a person reads (its action, resource, purpose, outcome and role),
mapped to its label in the reader's language (FR, NL, EN).

The pages (the ``label`` template filter, ``core/templatetags/secretum.py``), the patient
access report and its PDF (``audit.services``) all read these maps; the stored codes never
change (the hash chain covers them). ``tests/core/test_vocabulary.py`` derives every code the
writers can produce from the code itself and fails on one without a label here.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from secretum.access.actor import Purpose
from secretum.access.policy import ROLE_LABELS
from secretum.audit.models import Action, Outcome

ACTION_LABELS: dict[str, str | Promise] = dict(Action.choices)  # the one vocabulary's labels

# What an event is about: a model's label ("app.Model"), or a few words of their own ("session").
RESOURCE_LABELS: dict[str, str | Promise] = {
    "session": _("sign-in session"),
    "page": _("page"),
    "network": _("network check"),
    "enrolment": _("enrolment link"),
    "accounts.User": _("user account"),
    "accounts.PracticeSettings": _("practice settings"),
    "accounts.PasswordHistory": _("password history"),
    "accounts.EnrolmentToken": _("enrolment link"),
    "accounts.Factor": _("second factor"),
    "accounts.RecoveryCode": _("recovery codes"),
    "accounts.Charter": _("IT charter"),
    "accounts.CharterAcceptance": _("acceptance of the IT charter"),
    "accounts.LoginThrottle": _("login attempts"),
    "accounts.UserSession": _("sign-in session"),
    "accounts.SessionData": _("session data"),
    "accounts.ExternalIdentity": _("external sign-in account"),
    "access.AccessPolicy": _("access policy"),
    "access.CareRelationship": _("care relationship"),
    "access.GlassBreak": _("emergency access (break the glass)"),
    "audit.AuditEvent": _("audit log"),
    "audit.AuditCheckpoint": _("audit log checkpoint"),
    "audit.AccessReport": _("access report"),
    "audit.Alert": _("access alerts"),
    "audit.Log": _("audit log verification"),
    "audit.ContinuityCopy": _("audit events merged from a continuity copy"),
    "crypto.KeyFingerprint": _("key fingerprint"),
    "crypto.KeyFile": _("key-encryption key versions (key rotation)"),
    "crypto.IndexKey": _("search index key (index key rotation)"),
    "patients.Patient": _("identity and contact details"),
    "patients.SearchToken": _("patient search index"),
    "clinical": _("medical record"),
    "clinical.Chart": _("chart (identity and medical record)"),
    "clinical.Encounter": _("consultation note"),
    "clinical.Problem": _("problem / diagnosis"),
    "clinical.Allergy": _("allergy"),
    "clinical.Medication": _("medication"),
    "clinical.Prescriber": _("prescriber's RIZIV/INAMI number"),
    "clinical.Observation": _("observation"),
    "clinical.Vaccination": _("vaccination"),
    "clinical.LabResult": _("lab result"),
    "scheduling.Appointment": _("appointments"),
    "breaches.Breach": _("breach register entry"),
    "breaches.BreachUpdate": _("change to a breach register entry"),
    "compliance.Breach": _("breach register entry"),
    "compliance.Register": _("measures register"),
    "compliance.Report": _("compliance report"),
    "compliance.ReportExport": _("compliance report export"),
    "compliance.PracticeProfile": _("practice profile"),
    "compliance.Declaration": _("declaration"),
    "compliance.EvidenceDocument": _("evidence document"),
    "compliance.AccessReview": _("access review"),
    "compliance.PrintLog": _("print log"),
    "maintenance.MaintenanceEntry": _("maintenance log entry"),
    "maintenance.MaintenanceWindow": _("maintenance window"),
    "maintenance.ConsoleSession": _("maintenance console session"),
    "retention.ErasureRequest": _("erasure request (GDPR art. 17)"),
    "retention.DestructionCertificate": _("destruction certificate"),
    "backup.Backup": _("backup"),
    "backup.BackupRecord": _("backup record"),
    "backup.Upgrade": _("software upgrade"),
    "crypto.RecoveryMaterial": _("recovery material of the key file"),
    "crypto.ServingNode": _("serving node"),
    "documents.Document": _("document"),
    "documents.UnfiledDocument": _("unfiled scanned document"),
    "letters.Letter": _("letter or certificate"),
    # L1, L2: the whole practice exported (secretum export), records imported (secretum import).
    "clinical.Practice": _("the practice's records"),
    "exchange.Import": _("records imported"),
    "exchange.PracticeImport": _("the practice imported from another installation"),
    "exchange.ExportTest": _("the practice export test"),
    # M1, M3, M4: the directory of correspondents, a document sent by mail, what the transport
    # handed over.
    "mail.Correspondent": _("correspondent"),
    "mail.Message": _("message sent by mail"),
    "mail.Delivery": _("mail delivery"),
}

PURPOSE_LABELS: dict[str, str | Promise] = {
    Purpose.CARE: _("care"),
    Purpose.BREAK_THE_GLASS: _("emergency access (break the glass)"),
    Purpose.ARCHIVE: _("archived record opened with a reason"),
    Purpose.ADMINISTRATION: _("administration"),
    Purpose.MAINTENANCE: _("maintenance"),
}

OUTCOME_LABELS: dict[str, str | Promise] = {
    Outcome.SUCCESS: _("done"),
    Outcome.DENIED: _("refused"),
    Outcome.FAILURE: _("failed"),
}

VOCABULARIES: dict[str, dict[str, str | Promise]] = {
    "action": ACTION_LABELS,
    "resource": RESOURCE_LABELS,
    "purpose": PURPOSE_LABELS,
    "outcome": OUTCOME_LABELS,
    "role": {str(role): text for role, text in ROLE_LABELS.items()},
}


def label(vocabulary: str, code: str | None) -> str:
    """The label of ``code`` in the reader's language; "" for no code; an unknown code as it is
    recorded (an auditor must still see what the event holds: a test keeps that list empty)."""
    if not code:
        return ""
    return str(VOCABULARIES[vocabulary].get(code, code))
