"""The checklist "Bonnes pratiques de sécurité des dossiers patient" (April 2022), as data.

Its 59 measures, each with the stable ID of ``shared/seed/measures.md``, the part(s) of the
source it appears in (L: data hosted locally in the practice; C: hosted in the cloud by a
provider), its category as the French source groups it (a few measures sit in another category
in the other part), its text in French (from the source), Dutch and English, and what software
can do about it:

- ``enforce``: Secretum itself makes it true, and proves it from its own state;
- ``support``: Secretum records, reminds or makes the organisational measure easy;
- ``declare``: purely organisational; the practice declares it (adopted / equivalent measure /
  not needed, with a justification), with an owner and a next review date.

``also_declare`` marks measures whose software part does not cover their organisational part
(a shredder, an antivirus on the workstations, a safe place for backup media): they are met only
when the software evidence passes *and* the practice has declared the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.http import Http404
from django.utils.translation import get_language

SOURCE_TITLE = "Bonnes pratiques de sécurité des dossiers patient"
SOURCE_VERSION = "Avril 2022"


class Part(StrEnum):
    LOCAL = "L"  # 1. Hébergement des données « en local »
    CLOUD = "C"  # 2. Hébergement dans le « cloud »


class Kind(StrEnum):
    ENFORCE = "enforce"
    SUPPORT = "support"
    DECLARE = "declare"


def _pick(fr: str, nl: str, en: str, language: str | None = None) -> str:
    code = (language or get_language() or "fr")[:2]
    return {"fr": fr, "nl": nl, "en": en}.get(code, fr)


@dataclass(frozen=True)
class Category:
    code: str
    fr: str
    nl: str
    en: str

    def label(self, language: str | None = None) -> str:
        return _pick(self.fr, self.nl, self.en, language)


@dataclass(frozen=True)
class Measure:
    id: str
    parts: frozenset[Part]
    kind: Kind
    # The category in each part of the source where it appears (usually the same).
    categories: tuple[tuple[Part, str], ...]
    fr: str
    nl: str
    en: str
    also_declare: bool = False

    def text(self, language: str | None = None) -> str:
        return _pick(self.fr, self.nl, self.en, language)

    def category_in(self, part: Part) -> Category:
        codes = dict(self.categories)
        return CATEGORIES[codes.get(part) or self.categories[0][1]]

    def category_for(self, parts: frozenset[Part]) -> Category:
        """Its category as the source shows it to a practice hosting in ``parts`` (the local
        part first, as in the source)."""
        for part in (Part.LOCAL, Part.CLOUD):
            if part in parts and part in self.parts:
                return self.category_in(part)
        return self.category_in(next(iter(sorted(self.parts))))

    @property
    def parts_label(self) -> str:
        return " ".join(p.value for p in (Part.LOCAL, Part.CLOUD) if p in self.parts)

    @property
    def slug(self) -> str:
        return self.id.lower()


_CATEGORY_LIST = [
    Category(
        "P",
        "Avez-vous pensé à ? Documents imprimés",
        "Hebt u gedacht aan? Afgedrukte documenten",
        "Have you thought of it? Printed documents",
    ),
    Category(
        "A",
        "Sensibilisation des utilisateurs (membres du personnel / proches aidants)",
        "Bewustmaking van de gebruikers (personeelsleden / mantelzorgers)",
        "User awareness (staff / informal carers)",
    ),
    Category(
        "B",
        "Authentification des utilisateurs (membres du personnel / proches aidants)",
        "Authenticatie van de gebruikers (personeelsleden / mantelzorgers)",
        "User authentication (staff / informal carers)",
    ),
    Category("C", "Gestion des habilitations", "Beheer van de toegangsrechten", "Access rights"),
    Category(
        "D",
        "Traçage des accès et gestion des incidents",
        "Registratie van de toegang en beheer van incidenten",
        "Access logging and incident management",
    ),
    Category(
        "E",
        "Sécurisation des postes de travail",
        "Beveiliging van de werkstations",
        "Securing workstations",
    ),
    Category(
        "EM",
        "Sécurisation des dispositifs mobiles",
        "Beveiliging van de mobiele toestellen",
        "Securing mobile devices",
    ),
    Category(
        "F",
        "Protection du réseau informatique interne",
        "Bescherming van het interne computernetwerk",
        "Protecting the internal network",
    ),
    Category("G", "Sécurisation des serveurs", "Beveiliging van de servers", "Securing servers"),
    Category("H", "Sécurisation des sites web", "Beveiliging van de websites", "Securing websites"),
    Category(
        "I",
        "Sauvegardes et continuité d'activité",
        "Back-ups en bedrijfscontinuïteit",
        "Backups and business continuity",
    ),
    Category(
        "J",
        "Archivage des données sécurisé",
        "Beveiligde archivering van de gegevens",
        "Secure archiving",
    ),
    Category(
        "K",
        "Maintenance et destruction des données",
        "Onderhoud en vernietiging van de gegevens",
        "Maintenance and destruction of data",
    ),
    Category("L", "Sous-traitance", "Onderaanneming", "Subcontracting"),
    Category(
        "M",
        "Transmission sécurisée avec d'autres professionnels de santé et avec les patients",
        "Beveiligde uitwisseling met andere zorgverleners en met de patiënten",
        "Secure exchange with other health professionals and with patients",
    ),
    Category(
        "N",
        "Encadrement des développements informatiques",
        "Omkadering van de softwareontwikkeling",
        "Governance of software development",
    ),
    Category(
        "O",
        "Utilisation de fonctions cryptographiques",
        "Gebruik van cryptografische functies",
        "Use of cryptographic functions",
    ),
]
CATEGORIES: dict[str, Category] = {c.code: c for c in _CATEGORY_LIST}
CATEGORY_ORDER: dict[str, int] = {c.code: i for i, c in enumerate(_CATEGORY_LIST)}

L, C = Part.LOCAL, Part.CLOUD
LC = frozenset({L, C})
ONLY_L = frozenset({L})
ONLY_C = frozenset({C})
ENFORCE, SUPPORT, DECLARE = Kind.ENFORCE, Kind.SUPPORT, Kind.DECLARE


def _m(
    id: str,
    parts: frozenset[Part],
    kind: Kind,
    category: str | tuple[tuple[Part, str], ...],
    fr: str,
    nl: str,
    en: str,
    also_declare: bool = False,
) -> Measure:
    categories = ((next(iter(sorted(parts))), category),) if isinstance(category, str) else category
    return Measure(id, parts, kind, categories, fr, nl, en, also_declare)


# Workstations in the local part, mobile devices in the cloud part (as the source groups them).
_E_MOBILE = ((L, "E"), (C, "EM"))

MEASURES: tuple[Measure, ...] = (
    _m("P1", ONLY_L, SUPPORT, "P",
       "Tout document imprimé : prévoir une déchiqueteuse",
       "Elk afgedrukt document: voorzie een papierversnipperaar",
       "Printed documents: provide a shredder", also_declare=True),
    _m("A1", LC, SUPPORT, "A",
       "Informer et sensibiliser le personnel du cabinet accédant aux données personnelles",
       "Het personeel van de praktijk dat toegang heeft tot persoonsgegevens informeren en "
       "sensibiliseren",
       "Inform and train the staff who access personal data"),
    _m("A2", LC, SUPPORT, "A",
       "Pour un cabinet de groupe (mutualisant les ressources informatiques), rédiger une charte "
       "informatique et lui donner force contraignante",
       "Voor een groepspraktijk (met gedeelde IT-middelen): een IT-charter opstellen en het "
       "bindend maken",
       "Group practice (sharing IT resources): a binding IT charter"),
    _m("B1", LC, ENFORCE, "B",
       "Définir un identifiant (« login ») et un mot de passe propres à chaque utilisateur : ils "
       "sont strictement personnels et ne peuvent en aucun cas être partagés",
       "Elke gebruiker een eigen gebruikersnaam (« login ») en wachtwoord geven: ze zijn strikt "
       "persoonlijk en mogen nooit gedeeld worden",
       "A login of one's own for each user, strictly personal, never shared"),
    _m("B2", LC, ENFORCE, "B",
       "Définir une politique de mot de passe (complexité du mot de passe, renouvellement du mot "
       "de passe)",
       "Een wachtwoordbeleid bepalen (complexiteit en vernieuwing van het wachtwoord)",
       "A password policy: complexity, renewal"),
    _m("B3", LC, ENFORCE, "B",
       "Authentification à double facteur (car accès à des données sensibles) : p. ex. mot de "
       "passe + carte d'identité, itsme, application d'authentification, clé USB U2F",
       "Tweefactorauthenticatie (want toegang tot gevoelige gegevens): bv. wachtwoord + "
       "identiteitskaart, itsme, authenticatie-app, U2F-USB-sleutel",
       "Two-factor authentication (password + eID card, itsme, authenticator app, U2F USB key)"),
    _m("C1", LC, ENFORCE, "C",
       "Attribuer à chaque utilisateur un profil d'habilitation adapté, distinguant notamment les "
       "données administratives des données médicales",
       "Elke gebruiker een aangepast toegangsprofiel geven, dat met name administratieve en "
       "medische gegevens scheidt",
       "An authorisation profile per user, separating administrative data from medical data"),
    _m("C2", LC, ENFORCE, "C",
       "Supprimer les permissions d'accès obsolètes et réaliser une revue annuelle des "
       "habilitations",
       "Verouderde toegangsrechten verwijderen en alle toegangsrechten jaarlijks herzien",
       "Remove obsolete permissions; review all authorisations every year"),
    _m("C3", ONLY_C, SUPPORT, "C",
       "Limiter la diffusion des documents papier contenant des données de santé aux personnes "
       "ayant besoin d'en disposer dans le cadre de leur activité",
       "Papieren documenten met gezondheidsgegevens enkel verspreiden onder wie ze voor het werk "
       "nodig heeft",
       "Paper documents with health data only to those who need them", also_declare=True),
    _m("D1", LC, ENFORCE, "D",
       "Prévoir un système de journalisation et informer les utilisateurs de sa mise en place",
       "Een logsysteem (journalisering) voorzien en de gebruikers informeren over het bestaan "
       "ervan",
       "A logging (audit) system, and users told that it exists"),
    _m("D2", ONLY_C, ENFORCE, "D",
       "Protéger les équipements de journalisation et les informations journalisées",
       "De logapparatuur en de gelogde informatie beschermen",
       "Protect the logging equipment and the logged information"),
    _m("D3", LC, SUPPORT, "D",
       "Définir une procédure en cas de violation de données à caractère personnel et en informer "
       "les utilisateurs",
       "Een procedure vastleggen voor inbreuken in verband met persoonsgegevens en de gebruikers "
       "erover informeren",
       "A data-breach procedure: defined, and known to users"),
    _m("D4", ONLY_L, SUPPORT, "D",
       "Supprimer les scans ou fichiers laissés en partage sur le réseau",
       "Scans of bestanden die gedeeld op het netwerk blijven staan, verwijderen",
       "Delete scans or files left shared on the network"),
    _m("E1", LC, ENFORCE, "E",
       "Prévoir une procédure de verrouillage automatique de la session informatique (après 20 "
       "minutes maximum d'inactivité)",
       "Een automatische vergrendeling van de computersessie voorzien (na hoogstens 20 minuten "
       "inactiviteit)",
       "Automatic lock of the session after at most 20 minutes of inactivity"),
    _m("E2", LC, SUPPORT, "E",
       "Mettre en œuvre des antivirus régulièrement mis à jour",
       "Antivirussoftware gebruiken en regelmatig bijwerken",
       "Antivirus, kept up to date", also_declare=True),
    _m("E3", LC, SUPPORT, "E",
       "Recueillir l'accord de l'utilisateur avant toute intervention sur son poste de travail",
       "De toestemming van de gebruiker vragen vóór elke tussenkomst op zijn of haar werkpost",
       "The user's consent before any intervention on their workstation"),
    _m("E4", LC, ENFORCE, _E_MOBILE,
       "Limiter le stockage d'informations médicales sur une tablette ou un GSM ; s'ils sont "
       "utilisés, les sécuriser comme l'ordinateur (chiffrement, code d'accès…) ; pour l'accès à "
       "distance, respecter les référentiels d'interopérabilité et de sécurité",
       "Zo weinig mogelijk medische gegevens op een tablet of gsm; worden ze gebruikt, dan "
       "dezelfde beveiliging als de computer (versleuteling, toegangscode…); bij toegang op "
       "afstand de referentiekaders voor interoperabiliteit en beveiliging volgen",
       "Little medical data on tablets/phones; same protection as the computer if used; remote "
       "access per the interoperability and security frameworks"),
    _m("E5", ONLY_L, DECLARE, "E",
       "Exiger un code secret pour le déverrouillage des GSM ou des tablettes",
       "Een geheime code vereisen om gsm's en tablets te ontgrendelen",
       "A secret code to unlock phones and tablets"),
    _m("E6", LC, SUPPORT, _E_MOBILE,
       "Protéger les écrans des regards indiscrets (orientation, filtres optiques de "
       "confidentialité)",
       "Schermen beschermen tegen nieuwsgierige blikken (opstelling, privacyfilters)",
       "Protect screens from prying eyes"),
    _m("E7", LC, ENFORCE, _E_MOBILE,
       "Limiter l'utilisation de supports de stockage amovibles (clés USB, disques durs externes) "
       "et chiffrer systématiquement les données de santé qui y sont conservées",
       "Het gebruik van verwijderbare opslagmedia (USB-sticks, externe harde schijven) beperken "
       "en de gezondheidsgegevens erop altijd versleutelen",
       "Limit removable media; always encrypt health data on them"),
    _m("E8", ONLY_L, DECLARE, "E",
       "Distinguer l'usage privé de l'usage professionnel des GSM et tablettes ; les appareils "
       "professionnels ne peuvent pas être prêtés",
       "Privé- en beroepsgebruik van gsm's en tablets scheiden; professionele toestellen worden "
       "niet uitgeleend",
       "Separate private and professional phones/tablets; professional ones are not lent"),
    _m("E9", ONLY_C, DECLARE, "E",
       "Installer un pare-feu (« firewall ») logiciel",
       "Een softwarefirewall installeren",
       "A software firewall"),
    _m("E10", ONLY_C, ENFORCE, "E",
       "Chiffrer les données stockées",
       "De opgeslagen gegevens versleutelen",
       "Encrypt stored data"),
    _m("E11", ONLY_C, DECLARE, "EM",
       "Prévoir des mesures de sauvegarde et de synchronisation régulière des données des "
       "appareils mobiles",
       "Back-ups en regelmatige synchronisatie van de gegevens op mobiele toestellen voorzien",
       "Backup and regular synchronisation of mobile devices"),
    _m("F1", LC, SUPPORT, "F",
       "Limiter les connexions d'appareils non professionnels sur le réseau",
       "Het aansluiten van niet-professionele toestellen op het netwerk beperken",
       "Limit non-professional devices on the network", also_declare=True),
    _m("F2", ONLY_L, DECLARE, "F",
       "Isoler le réseau Wi-Fi des invités du réseau professionnel",
       "Het wifinetwerk voor gasten scheiden van het professionele netwerk",
       "Separate the guests' Wi-Fi from the professional network"),
    _m("F3", ONLY_C, SUPPORT, "F",
       "Limiter les flux réseau au strict nécessaire (bloquer les protocoles et ports qui ne sont "
       "pas utilisés)",
       "Het netwerkverkeer beperken tot het strikt noodzakelijke (ongebruikte protocollen en "
       "poorten blokkeren)",
       "Limit network flows to what is needed (block unused ports and protocols)",
       also_declare=True),
    _m("F4", ONLY_C, SUPPORT, "F",
       "Sécuriser par un VPN les accès distants des appareils informatiques nomades",
       "Toegang op afstand vanaf mobiele toestellen beveiligen met een VPN",
       "VPN for remote access by mobile devices", also_declare=True),
    _m("F5", ONLY_C, DECLARE, "F",
       "Mettre en œuvre le protocole WPA3 ou WPA2-PSK pour les réseaux Wi-Fi",
       "WPA3 of WPA2-PSK gebruiken voor de wifinetwerken",
       "WPA3 or WPA2-PSK on Wi-Fi"),
    _m("G1", LC, ENFORCE, "G",
       "Limiter l'accès aux outils et interfaces d'administration aux seules personnes habilitées",
       "De toegang tot beheertools en -interfaces beperken tot de gemachtigde personen",
       "Administration tools and interfaces only for authorised people"),
    _m("G2", LC, SUPPORT, "G",
       "Installer sans délai les mises à jour critiques",
       "Kritieke updates onverwijld installeren",
       "Install critical updates without delay"),
    _m("G3", ONLY_C, ENFORCE, "G",
       "Chiffrer les données stockées sur les serveurs",
       "De gegevens op de servers versleutelen",
       "Encrypt stored data on servers"),
    _m("G4", ONLY_C, ENFORCE, "G",
       "Assurer la disponibilité des données",
       "De beschikbaarheid van de gegevens verzekeren",
       "Ensure the availability of the data"),
    _m("H1", ONLY_C, ENFORCE, "H",
       "Utiliser le protocole TLS et vérifier sa mise en œuvre",
       "Het TLS-protocol gebruiken en de configuratie ervan controleren",
       "Use TLS and verify how it is set up"),
    _m("H2", ONLY_C, ENFORCE, "H",
       "Vérifier qu'aucun mot de passe ou identifiant n'est incorporé aux URL",
       "Nagaan dat geen wachtwoord of identificatiecode in de URL's staat",
       "No password or identifier in URLs"),
    _m("H3", ONLY_C, ENFORCE, "H",
       "Mots de passe complexes pour les accès FTP et à la base de données SQL",
       "Complexe wachtwoorden voor de toegang tot FTP en tot de SQL-databank",
       "Complex passwords for FTP and SQL database access"),
    _m("I1", LC, ENFORCE, "I",
       "Effectuer ou permettre l'exécution de sauvegardes régulières",
       "Regelmatig back-ups maken of laten maken",
       "Regular backups"),
    _m("I2", LC, SUPPORT, "I",
       "Stocker les supports de sauvegarde dans un endroit sûr",
       "De back-updragers op een veilige plaats bewaren",
       "Backup media kept in a safe place", also_declare=True),
    _m("I3", ONLY_L, ENFORCE, "I",
       "Vérifier l'intégrité des sauvegardes (scénario de restauration complet)",
       "De integriteit van de back-ups controleren (volledig herstelscenario)",
       "Verify backup integrity (a complete restore scenario)"),
    _m("I4", ONLY_C, ENFORCE, "I",
       "Prévoir des moyens de sécurité pour le convoyage des sauvegardes le cas échéant",
       "Het vervoer van de back-ups zo nodig beveiligen",
       "Secure transport of backups"),
    # In the local part, the plan for an internet outage sits under "Sous-traitance".
    _m("I5", LC, SUPPORT, ((L, "L"), (C, "I")),
       "Prévoir et tester régulièrement la continuité d'activité, avec un plan de continuité en "
       "cas de panne internet",
       "De bedrijfscontinuïteit plannen en regelmatig testen, met een continuïteitsplan bij een "
       "internetstoring",
       "Plan and regularly test business continuity; a plan for an internet outage",
       also_declare=True),
    _m("J1", LC, ENFORCE, "J",
       "Archiver de manière sécurisée, avec des modalités d'accès spécifiques aux données "
       "archivées",
       "Veilig archiveren, met specifieke toegangsregels voor de gearchiveerde gegevens",
       "Secure archiving with specific access rules for archived data"),
    _m("J2", LC, ENFORCE, "J",
       "Détruire les archives obsolètes de manière sécurisée",
       "Verouderde archieven veilig vernietigen",
       "Destroy obsolete archives securely"),
    _m("K1", LC, SUPPORT, "K",
       "Enregistrer les interventions de maintenance dans une main courante",
       "Onderhoudsinterventies in een logboek registreren",
       "Record maintenance interventions in a log (« main courante »)"),
    _m("K2", ONLY_L, ENFORCE, "K",
       "Faire encadrer par un responsable du cabinet les interventions de tiers",
       "Tussenkomsten van derden laten begeleiden door een verantwoordelijke van de praktijk",
       "Third-party interventions supervised by someone responsible in the practice"),
    _m("K3", LC, SUPPORT, "K",
       "Effacer les données de tout matériel avant sa mise au rebut",
       "De gegevens wissen van alle apparatuur voordat die wordt afgedankt",
       "Erase data from any equipment before it is discarded"),
    _m("L1", LC, SUPPORT, "L",
       "Prévoir des clauses spécifiques dans les contrats des sous-traitants (remise de tous les "
       "mots de passe, pas de rétention par le sous-traitant, changement de prestataire possible "
       "à tout moment)",
       "Specifieke clausules opnemen in de contracten met onderaannemers (overdracht van alle "
       "wachtwoorden, geen retentie door de onderaannemer, op elk moment van dienstverlener "
       "kunnen veranderen)",
       "Subcontractor contracts: all passwords handed over, no retention, change of provider at "
       "any time"),
    _m("L2", LC, SUPPORT, "L",
       "Prévoir des conditions de restitution et de destruction des données",
       "Voorwaarden vastleggen voor de teruggave en de vernietiging van de gegevens",
       "Conditions for returning and destroying data"),
    _m("L3", LC, SUPPORT, "L",
       "S'assurer de l'effectivité des garanties prévues (audits de sécurité, visites, etc.)",
       "Nagaan of de voorziene garanties effectief zijn (beveiligingsaudits, bezoeken enz.)",
       "Check that the guarantees are effective (security audits, visits)"),
    _m("M1", LC, ENFORCE, "M",
       "S'assurer qu'il s'agit bien du bon destinataire",
       "Nagaan of het wel degelijk de juiste bestemmeling is",
       "Make sure the recipient is the right one"),
    _m("M2", LC, SUPPORT, "M",
       "Utiliser une messagerie électronique sécurisée de santé pour les échanges entre "
       "professionnels de santé",
       "Een beveiligde e-mailvoorziening voor de gezondheidszorg gebruiken voor uitwisselingen "
       "tussen zorgverleners",
       "Secure health messaging between professionals"),
    _m("M3", LC, ENFORCE, "M",
       "Chiffrer les données avant leur envoi par une messagerie électronique standard et "
       "transmettre le secret par un envoi distinct, via un canal différent",
       "De gegevens versleutelen vóór verzending via gewone e-mail en het geheim afzonderlijk, "
       "via een ander kanaal, bezorgen",
       "Encrypt data before sending it by ordinary e-mail; send the secret separately, by another "
       "channel"),
    _m("M4", LC, ENFORCE, "M",
       "Utiliser un protocole de transfert garantissant la confidentialité des messages et "
       "l'authentification du serveur de messagerie",
       "Een overdrachtsprotocol gebruiken dat de berichten vertrouwelijk houdt en de mailserver "
       "authenticeert",
       "A transfer protocol that keeps messages confidential and authenticates the mail server"),
    _m("M5", LC, SUPPORT, "M",
       "Choisir une messagerie hébergeant les données dans un pays ou auprès d'un prestataire "
       "garantissant leur protection conformément aux règles européennes",
       "Een e-maildienst kiezen die de gegevens host in een land of bij een dienstverlener die de "
       "bescherming ervan volgens de Europese regels waarborgt",
       "A mail provider that hosts data where European rules protect it", also_declare=True),
    _m("N1", ONLY_C, ENFORCE, "N",
       "Proposer par défaut aux utilisateurs finaux des paramètres respectueux de la vie privée",
       "Standaard privacyvriendelijke instellingen aanbieden aan de eindgebruikers",
       "Privacy-friendly default settings"),
    _m("N2", ONLY_C, ENFORCE, "N",
       "Éviter les zones de commentaires libres ou les encadrer strictement",
       "Vrije commentaarvelden vermijden of strikt omkaderen",
       "Avoid free-comment fields, or frame them strictly"),
    _m("N3", ONLY_C, ENFORCE, "N",
       "Tester sur des données fictives ou anonymisées (et non pas seulement pseudonymisées)",
       "Testen met fictieve of geanonimiseerde (en niet enkel gepseudonimiseerde) gegevens",
       "Test on fictitious or anonymised (not only pseudonymised) data"),
    _m("O1", ONLY_C, ENFORCE, "O",
       "Utiliser des algorithmes, des logiciels et des bibliothèques reconnus",
       "Erkende algoritmen, software en bibliotheken gebruiken",
       "Recognised algorithms, software and libraries"),
    _m("O2", ONLY_C, ENFORCE, "O",
       "Conserver les secrets et les clés cryptographiques de manière sécurisée",
       "Geheimen en cryptografische sleutels veilig bewaren",
       "Keep secrets and cryptographic keys securely"),
)  # fmt: skip

BY_ID: dict[str, Measure] = {m.id: m for m in MEASURES}
IDS: tuple[str, ...] = tuple(m.id for m in MEASURES)


def measure(measure_id: str) -> Measure:
    """The measure with this ID (case-insensitive), or KeyError."""
    return BY_ID[measure_id.strip().upper()]


def measure_or_404(measure_id: str) -> Measure:
    """The measure a URL names: a 404 for an ID that the checklist does not hold."""
    try:
        return measure(measure_id)
    except KeyError:
        raise Http404("No such measure.") from None
