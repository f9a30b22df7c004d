"""`secretum demo`: a fictitious practice (N3). Deterministic for a given --seed.

Names, addresses and phone numbers come from Faker's fr_BE and nl_BE locales; national numbers
are built with valid check digits from fictitious birth dates. No real person is involved.

Faker is the demo's alone: it is an optional dependency (``pip install 'secretum[demo]'``, or
requirements-demo.txt, which ``make`` installs), imported when the command runs, never by the
application a practice serves.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from secretum.access.actor import Actor, Purpose
from secretum.access.care import declare_care
from secretum.access.policy import Role
from secretum.accounts.models import Factor
from secretum.accounts.services import create_user, seal_totp_secret
from secretum.clinical.services import record_entry
from secretum.lib import niss
from secretum.patients.services import register_patient
from secretum.scheduling.services import book_appointment

# Faker's locales for Belgian names (fr_BE) and Belgian addresses and phone numbers (nl_BE).
LOCALES = ("fr_BE", "nl_BE")
INSTALL_FAKER = (
    "The demo needs Faker, which a production install leaves out: install it with "
    '"pip install \'secretum[demo]\'" (or "pip install -r requirements-demo.txt").'
)

# Demo accounts: documented in the README. Demo passwords for a demo instance only.
DEMO_USERS = [
    ("dr.martin", Role.PRACTITIONER, "Claire", "Martin", "demo-praticien-2026"),
    ("dr.peeters", Role.PRACTITIONER, "Jan", "Peeters", "demo-praticien-2026"),
    ("inf.claes", Role.NURSE, "Lotte", "Claes", "demo-infirmiere-2026"),
    ("accueil", Role.SECRETARY, "Sophie", "Lambert", "demo-secretaire-2026"),
    ("gestion", Role.MANAGER, "Marc", "Dubois", "demo-manager-2026"),
    ("dpo", Role.AUDITOR, "Anne", "Janssens", "demo-auditeur-2026"),
]
INSURERS = ["Mutualité chrétienne", "Solidaris", "Partenamut", "Helan", "Mutualités Libres"]
PROBLEMS = [
    ("K86", "Hypertension sans complication"),
    ("T90", "Diabète non insulino-dépendant"),
    ("R96", "Asthme"),
    ("L03", "Lombalgie"),
    ("P76", "Dépression"),
    ("K78", "Fibrillation auriculaire"),
    ("T82", "Obésité"),
    ("R74", "Infection aiguë des voies respiratoires supérieures"),
]
ALLERGENS = [
    ("Pénicilline", "urticaire"),
    ("Pollen de graminées", "rhinite"),
    ("Arachide", "œdème"),
    ("Latex", "eczéma de contact"),
    ("Acide acétylsalicylique", "bronchospasme"),
]
DRUGS = [
    ("Amlodipine 5 mg", "1 comprimé", "1x/jour", "3 mois"),
    ("Metformine 850 mg", "1 comprimé", "2x/jour", "6 mois"),
    ("Paracétamol 1 g", "1 comprimé", "max 3x/jour", "5 jours"),
    ("Salbutamol 100 µg", "2 bouffées", "si besoin", "3 mois"),
    ("Ibuprofène 400 mg", "1 comprimé", "3x/jour", "5 jours"),
]
VACCINES = [  # by what they protect from: no brand, no real lot
    "Grippe saisonnière",
    "Tétanos-diphtérie-coqueluche (dTpa)",
    "Pneumocoque",
    "COVID-19",
    "Hépatite B",
]
REASONS = [
    "Contrôle tension",
    "Toux depuis 5 jours",
    "Renouvellement traitement",
    "Douleur lombaire",
    "Bilan annuel",
    "Fatigue",
    "Vaccination grippe",
]


def demo_totp_secret(username: str) -> str:
    """The demo accounts' TOTP seed: fixed, documented, for demo instances only."""
    digest = hashlib.sha256(f"secretum-demo-totp:{username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def fakers(seed: int) -> dict[str, Any]:
    """A seeded Faker per locale (LOCALES). CommandError, in one sentence, without Faker."""
    try:
        from faker import Faker
    except ImportError:
        raise CommandError(INSTALL_FAKER) from None
    out = {loc: Faker(loc) for loc in LOCALES}
    for i, fake in enumerate(out.values()):
        fake.seed_instance(seed + i)
    return out


def enrol_demo_totp(user: Any) -> None:
    factor = Factor(
        user=user, kind=Factor.Kind.TOTP, name="Demo authenticator", confirmed=True, is_demo=True
    )
    seal_totp_secret(factor, demo_totp_secret(user.username))
    factor.save()


class Command(BaseCommand):
    help = "Fill the instance with a fictitious practice (demo users, patients, charts)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--patients", type=int, default=50)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--print",
            action="store_true",
            dest="print_patients",
            help="list the generated patients' names and national numbers",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count, seed = options["patients"], options["seed"]
        if not 0 <= count <= 100_000:
            raise CommandError("--patients must be between 0 and 100000.")
        rng = random.Random(seed)
        fake_by_locale = fakers(seed)  # before anything is written: no half-made practice
        system = Actor.system(Purpose.MAINTENANCE)
        users = self._users(system)
        practitioners = [u for u in users if u.role == Role.PRACTITIONER]
        nurse = next(u for u in users if u.role == Role.NURSE)
        as_nurse = Actor(user=nurse, role=nurse.role, source="demo", purpose=Purpose.MAINTENANCE)
        # Its own draw, so that the patients and charts stay those of earlier demo instances.
        nurse_rng = random.Random(seed + 7)
        for n in range(count):
            fake = fake_by_locale["fr_BE" if rng.random() < 0.6 else "nl_BE"]
            where = fake_by_locale["nl_BE"]
            sex = rng.choice(["female", "male"])
            birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 33000))
            serial = rng.randrange(1, 997)
            serial += (serial % 2 == 0) if sex == "male" else (serial % 2 == 1)
            data = {
                "family_name": fake.last_name(),
                "given_name": fake.first_name_female()
                if sex == "female"
                else fake.first_name_male(),
                "birth_date": birth,
                "sex": sex,
                "niss": niss.build(birth, serial),
                # fr_BE has no Belgian address or phone provider: nl_BE's serves both.
                "street": where.street_address(),
                "postal_code": where.postcode(),
                "city": where.city(),
                "phone": where.phone_number(),
                "email": fake.free_email(),
                "insurer": rng.choice(INSURERS),
                "insurer_number": str(rng.randrange(10**8, 10**9)),
            }
            patient = register_patient(system, data)
            doctor = rng.choice(practitioners)
            as_doctor = Actor(
                user=doctor, role=doctor.role, source="demo", purpose=Purpose.MAINTENANCE
            )
            # C1: the patient's doctor takes care of them; the other doctors open the record only
            # in an emergency (break the glass), as in a real practice.
            declare_care(as_doctor, patient.uid)
            if nurse_rng.random() < 0.3:  # the nurse cares for some of them too (C1)
                declare_care(as_nurse, patient.uid)
            self._chart(as_doctor, patient.uid, rng)
            if rng.random() < 0.4:
                day = timezone.localdate() + dt.timedelta(days=rng.randrange(0, 5))
                start = timezone.make_aware(
                    dt.datetime.combine(
                        day, dt.time(8 + rng.randrange(0, 10), rng.choice([0, 15, 30, 45]))
                    )
                )
                try:
                    book_appointment(system, patient.uid, doctor.pk, start, 15)
                except Exception:  # noqa: S110  (slot already taken: no appointment, by design)
                    pass
            if options["print_patients"]:
                self.stdout.write(
                    f"{patient.display_name}\t{patient.birth_date:%d/%m/%Y}\t{patient.niss_display}"
                )
            elif count >= 100 and (n + 1) % 100 == 0:
                self.stderr.write(f"  {n + 1}/{count} patients…")
        if count:
            self._unfiled_letters(fake_by_locale["fr_BE"])
        self.stderr.write(
            f"Demo practice ready: {count} fictitious patients, {len(users)} demo accounts."
        )

    def _unfiled_letters(self, fake: Any) -> None:
        """Two fictitious letters in the scan intake's unfiled tray (D4), as a scanner would
        leave them, for the clinicians to file. Made here, so not scanned: they are the demo's
        own PDFs, never a file from outside (E2 scans those)."""
        from secretum.documents import intake
        from secretum.lib import clamav
        from secretum.lib.pdf import Document

        for number in (1, 2):
            letter = Document("P", f"SCAN_{number:04d}")
            letter.add_page()
            letter.paragraph(f"{fake.company()} (fictitious laboratory)", size=14, tag="H1")
            letter.paragraph(f"{fake.city()}, {fake.date_this_year():%d/%m/%Y}")
            letter.paragraph(
                f"Dear colleague, please find the results of {fake.name()} "
                "(fictitious patient, fictitious results)."
            )
            intake.to_tray(
                f"SCAN_{number:04d}.pdf", bytes(letter.output()), "application/pdf",
                clamav.Verdict(clean=True), source="demo",
            )  # fmt: skip

    def _users(self, system: Actor) -> list[Any]:
        User = get_user_model()
        out = []
        for username, role, first, last, password in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = create_user(
                    system,
                    username=username,
                    role=role,
                    password=password,
                    first_name=first,
                    last_name=last,
                )
                enrol_demo_totp(user)
            out.append(user)
        return out

    def _chart(self, actor: Actor, uid: str, rng: random.Random) -> None:
        for code, label in rng.sample(PROBLEMS, rng.randrange(0, 3)):
            # ICPC-2, as Belgian GPs code; an acute infection is over by now.
            status = "resolved" if code == "R74" else "active"
            problem = {"system": "icpc-2", "code": code, "label": label, "status": status}
            record_entry(actor, uid, "problem", problem)
        for substance, reaction in rng.sample(ALLERGENS, rng.choice([0, 0, 1, 2])):
            record_entry(
                actor,
                uid,
                "allergy",
                {
                    "substance": substance,
                    "reaction": reaction,
                    "severity": rng.choice(["mild", "moderate", "severe"]),
                },
            )
        for drug, dose, freq, duration in rng.sample(DRUGS, rng.randrange(0, 3)):
            record_entry(
                actor,
                uid,
                "medication",
                {"drug": drug, "dose": dose, "frequency": freq, "duration": duration},
            )
        for _ in range(rng.randrange(1, 3)):
            record_entry(
                actor,
                uid,
                "encounter",
                {
                    "reason": rng.choice(REASONS),
                    "subjective": "Plaintes décrites par le patient.",
                    "objective": "Examen clinique sans particularité.",
                    "assessment": "Évolution favorable.",
                    "plan": "Contrôle dans 3 mois.",
                },
            )
        for vaccine in rng.sample(VACCINES, rng.randrange(0, 3)):
            given = timezone.localdate() - dt.timedelta(days=rng.randrange(30, 1500))
            record_entry(
                actor,
                uid,
                "vaccination",
                {
                    "vaccine": vaccine,
                    "lot": f"DEMO{rng.randrange(1000, 9999)}",
                    "given_on": given.isoformat(),
                    "dose": rng.choice(["1", "2", "booster"]),
                    "site": rng.choice(["left-arm", "right-arm"]),
                },
            )
        if rng.random() < 0.5:  # a fasting glucose followed over a year, and a potassium
            glucose = rng.randrange(85, 140)
            for months in (12, 6, 1):
                taken = timezone.localdate() - dt.timedelta(days=30 * months)
                lab = {"loinc": "2345-7", "value": str(glucose), "low": "70", "high": "110"}
                record_entry(actor, uid, "lab", {**lab, "taken_on": taken.isoformat()})
                glucose += rng.randrange(-12, 13)
            potassium = {"loinc": "2823-3", "value": f"{rng.randrange(34, 56) / 10}"}
            record_entry(
                actor,
                uid,
                "lab",
                {**potassium, "low": "3.5", "high": "5.1", "taken_on": taken.isoformat()},
            )
        # Three readings of each, so the chart draws their trends (issue 15).
        systolic, diastolic, weight = (
            rng.randrange(110, 160),
            rng.randrange(65, 90),
            rng.randrange(450, 1100),
        )
        for _ in range(3):
            record_entry(
                actor, uid, "observation", {"code": "bp", "value": f"{systolic}/{diastolic}"}
            )
            record_entry(actor, uid, "observation", {"code": "weight", "value": f"{weight / 10}"})
            systolic += rng.randrange(-8, 9)
            diastolic += rng.randrange(-5, 6)
            weight += rng.randrange(-15, 16)
