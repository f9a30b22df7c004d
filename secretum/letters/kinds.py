"""What each kind of letter holds (N2: bounded fields, each of a stated length, rather than one
free text) and the fixed words each prints, in the letter's own language (FR, NL, EN).

The printed words are the letter's, not the interface's: a letter written in Dutch by a doctor
whose screen is in French prints in Dutch. They live here, one table per language, rather than
in the interface's translation catalogue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

LANGUAGES = ("fr", "nl", "en")
REFERRAL, SICK_LEAVE, REPORT = "referral", "sick-leave", "report"
ALLOWED, NOT_ALLOWED = "allowed", "not-allowed"  # a sick-leave's outings
MAX_DAYS = 366  # a certificate covers at most a year; a longer leave is certified again


@dataclass(frozen=True)
class Field:
    name: str
    label: str | Promise
    max_length: int = 0  # text; 0 for a date or a choice
    required: bool = False  # at finalising (a draft may be incomplete)
    date: bool = False
    choices: tuple[tuple[str, str | Promise], ...] = ()
    multiline: bool = False
    medical_reason: bool = False  # never printed on the employer's copy (sick leave)


FIELDS: dict[str, tuple[Field, ...]] = {
    REFERRAL: (
        Field("recipient", gettext_lazy("Recipient (colleague, hospital, department)"), 200),
        Field("reason", gettext_lazy("Reason for referral"), 500, True, multiline=True),
        Field("history", gettext_lazy("History (problems)"), 3000, multiline=True),
        Field("medication", gettext_lazy("Current medication"), 2000, multiline=True),
        Field("allergies", gettext_lazy("Allergies"), 1000, multiline=True),
        Field("question", gettext_lazy("Question to the colleague"), 1000, True, multiline=True),
    ),
    SICK_LEAVE: (
        Field("start", gettext_lazy("Unfit for work from"), required=True, date=True),
        Field("end", gettext_lazy("Unfit for work until (inclusive)"), required=True, date=True),
        Field(
            "outings",
            gettext_lazy("Leaving home"),
            required=True,
            choices=(
                (ALLOWED, gettext_lazy("allowed")),
                (NOT_ALLOWED, gettext_lazy("not allowed")),
            ),
        ),
        Field(
            "reason",
            gettext_lazy("Medical reason (for the medical adviser only, never the employer)"),
            300,
            multiline=True,
            medical_reason=True,
        ),
    ),
    REPORT: (
        Field("recipient", gettext_lazy("Recipient"), 200),
        Field("subject", gettext_lazy("Subject"), 200, True),
        Field("body", gettext_lazy("Report"), 5000, True, multiline=True),
    ),
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def clean_content(kind: str, data: dict[str, Any], *, final: bool = False) -> dict[str, str]:
    """The kind's fields from ``data`` as text (others dropped), each within its bounds; the
    required ones present and the dates in order when ``final``. ValidationError otherwise."""
    if kind not in FIELDS:
        raise ValidationError(_("No such kind of letter."))
    content: dict[str, str] = {}
    for field in FIELDS[kind]:
        value = _text(data.get(field.name))
        if field.max_length and len(value) > field.max_length:
            raise ValidationError(
                _("%(field)s: at most %(n)d characters.")
                % {"field": field.label, "n": field.max_length}
            )
        if value and field.date:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ValidationError(
                    _("%(field)s: give a date.") % {"field": field.label}
                ) from None
        if value and field.choices and value not in dict(field.choices):
            raise ValidationError(
                _("%(field)s: choose one of the options.") % {"field": field.label}
            )
        if final and field.required and not value:
            raise ValidationError(
                _("%(field)s is needed before the letter is finalised.") % {"field": field.label}
            )
        content[field.name] = value
    if kind == SICK_LEAVE and content["start"] and content["end"]:
        start, end = dt.date.fromisoformat(content["start"]), dt.date.fromisoformat(content["end"])
        if end < start:
            raise ValidationError(_("The sick leave ends before it starts."))
        if (end - start).days >= MAX_DAYS:
            raise ValidationError(_("A certificate covers at most a year."))
    return content


# --- the printed words, in the letter's language -----------------------------------------------

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        REFERRAL: "Lettre de référence",
        SICK_LEAVE: "Certificat d'incapacité de travail",
        REPORT: "Rapport médical",
        "to": "À l'attention de",
        "patient": "Patient(e)",
        "born": "né(e) le",
        "niss": "NISS",
        "dear": "Chère Consœur, cher Confrère,",
        "referral_intro": "Je vous adresse le/la patient(e) ci-dessus.",
        "reason": "Motif de la référence",
        "history": "Antécédents (problèmes)",
        "medication": "Traitement en cours",
        "allergies": "Allergies",
        "question": "Question",
        "subject": "Objet",
        "regards": "Avec mes salutations confraternelles,",
        "certify": "Je soussigné(e), {doctor}, docteur en médecine, certifie avoir examiné "
        "{patient}, né(e) le {born}, et que son état de santé l'empêche de travailler "
        "du {start} au {end} inclus.",
        ALLOWED: "Sortie autorisée.",
        NOT_ALLOWED: "Sortie non autorisée.",
        "employer_copy": "Exemplaire destiné à l'employeur",
        "withheld": "Motif médical : non communiqué (secret médical).",
        "adviser_copy": "Exemplaire destiné au médecin-conseil de la mutualité (confidentiel)",
        "diagnosis": "Motif médical",
        "done": "Fait le {date}",
        "signature": "Signature et cachet du médecin",
        "empty": "-",
    },
    "nl": {
        REFERRAL: "Verwijsbrief",
        SICK_LEAVE: "Getuigschrift van arbeidsongeschiktheid",
        REPORT: "Medisch verslag",
        "to": "Ter attentie van",
        "patient": "Patiënt(e)",
        "born": "geboren op",
        "niss": "INSZ",
        "dear": "Geachte collega,",
        "referral_intro": "Ik verwijs bovenvermelde patiënt(e) naar u door.",
        "reason": "Reden van verwijzing",
        "history": "Voorgeschiedenis (problemen)",
        "medication": "Huidige medicatie",
        "allergies": "Allergieën",
        "question": "Vraag",
        "subject": "Betreft",
        "regards": "Met collegiale groeten,",
        "certify": "Ondergetekende, {doctor}, arts, verklaart {patient}, geboren op {born}, "
        "te hebben onderzocht en dat de gezondheidstoestand van de patiënt(e) hem/haar "
        "arbeidsongeschikt maakt van {start} tot en met {end}.",
        ALLOWED: "Mag de woning verlaten.",
        NOT_ALLOWED: "Mag de woning niet verlaten.",
        "employer_copy": "Exemplaar voor de werkgever",
        "withheld": "Medische reden: niet vermeld (medisch beroepsgeheim).",
        "adviser_copy": "Exemplaar voor de adviserend arts van het ziekenfonds (vertrouwelijk)",
        "diagnosis": "Medische reden",
        "done": "Opgemaakt op {date}",
        "signature": "Handtekening en stempel van de arts",
        "empty": "-",
    },
    "en": {
        REFERRAL: "Referral letter",
        SICK_LEAVE: "Certificate of incapacity for work",
        REPORT: "Medical report",
        "to": "To",
        "patient": "Patient",
        "born": "born",
        "niss": "National number",
        "dear": "Dear colleague,",
        "referral_intro": "I am referring the patient named above to you.",
        "reason": "Reason for referral",
        "history": "History (problems)",
        "medication": "Current medication",
        "allergies": "Allergies",
        "question": "Question",
        "subject": "Subject",
        "regards": "Kind regards,",
        "certify": "I, the undersigned, {doctor}, physician, certify that I examined {patient}, "
        "born {born}, and that their state of health makes them unfit for work from {start} to "
        "{end} inclusive.",
        ALLOWED: "Leaving home is allowed.",
        NOT_ALLOWED: "Leaving home is not allowed.",
        "employer_copy": "Copy for the employer",
        "withheld": "Medical reason: withheld (medical confidentiality).",
        "adviser_copy": "Copy for the health insurer's medical adviser (confidential)",
        "diagnosis": "Medical reason",
        "done": "Done on {date}",
        "signature": "Physician's signature and stamp",
        "empty": "-",
    },
}


def language_of(value: str | None) -> str:
    """A language of the letters' (the practice's or user's, cut to two letters), else French."""
    code = (value or "")[:2].lower()
    return code if code in LANGUAGES else "fr"
