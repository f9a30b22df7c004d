"""The first version of the IT charter and security notice (A1, A2, D1, D3), published by
`secretum init`. A practice adapts it and publishes its own version from the settings page."""

TEXT_FR = """\
Charte informatique et note de sécurité du cabinet

1. Votre compte est strictement personnel. Ne communiquez jamais votre mot de passe ni votre second facteur (application, clé de sécurité, codes de secours), pas même à un collègue ou à un technicien.
2. Vous n'accédez qu'aux données nécessaires à votre fonction. Le secrétariat n'a accès qu'aux données administratives.
3. Chaque accès aux données des patients est enregistré dans un journal d'audit (qui, quoi, quand, depuis où). Ce journal est contrôlé et peut être communiqué à un patient qui en fait la demande.
4. Verrouillez votre session quand vous quittez votre poste ; elle se verrouille d'elle-même après une période d'inactivité. Protégez votre écran des regards.
5. N'enregistrez pas de données de patients sur une clé USB, un téléphone ou un service en ligne non prévu par le cabinet. Les documents imprimés sont détruits au déchiqueteur après usage.
6. Violation de données : si vous constatez ou soupçonnez une fuite, une perte, un vol d'appareil, un accès indu ou une erreur d'envoi, prévenez immédiatement le responsable du cabinet. Le cabinet dispose de 72 heures pour notifier l'Autorité de protection des données. Ne tentez pas d'effacer les traces.
7. Toute intervention technique sur votre poste se fait avec votre accord et est consignée.
"""

TEXT_NL = """\
IT-charter en veiligheidsnota van de praktijk

1. Uw account is strikt persoonlijk. Geef nooit uw wachtwoord of tweede factor (app, beveiligingssleutel, herstelcodes) door, ook niet aan een collega of technicus.
2. U raadpleegt enkel de gegevens die u voor uw taak nodig hebt. Het secretariaat heeft enkel toegang tot administratieve gegevens.
3. Elke toegang tot patiëntgegevens wordt geregistreerd in een auditlogboek (wie, wat, wanneer, van waar). Dit logboek wordt gecontroleerd en kan worden meegedeeld aan een patiënt die erom vraagt.
4. Vergrendel uw sessie wanneer u uw werkplek verlaat; ze vergrendelt zichzelf na een periode van inactiviteit. Bescherm uw scherm tegen meekijkers.
5. Bewaar geen patiëntgegevens op een USB-stick, telefoon of onlinedienst die de praktijk niet voorziet. Afgedrukte documenten worden na gebruik vernietigd in de papiervernietiger.
6. Datalek: stelt u een lek, verlies, diefstal van een toestel, onrechtmatige toegang of een verkeerde verzending vast of vermoedt u er een, verwittig dan onmiddellijk de verantwoordelijke van de praktijk. De praktijk heeft 72 uur om de Gegevensbeschermingsautoriteit in te lichten. Probeer geen sporen te wissen.
7. Elke technische tussenkomst op uw werkpost gebeurt met uw toestemming en wordt genoteerd.
"""

TEXT_EN = """\
IT charter and security notice of the practice

1. Your account is strictly personal. Never give your password or your second factor (app, security key, recovery codes) to anyone, not even a colleague or a technician.
2. You access only the data your work needs. The front desk has access to administrative data only.
3. Every access to patient data is recorded in an audit log (who, what, when, from where). The log is reviewed and may be given to a patient who asks for it.
4. Lock your session when you leave your desk; it locks itself after a period of inactivity. Keep your screen out of others' sight.
5. Do not store patient data on a USB stick, a phone or an online service the practice has not provided. Printed documents are shredded after use.
6. Data breach: if you notice or suspect a leak, a loss, a stolen device, an undue access or a message sent to the wrong person, tell the practice manager at once. The practice has 72 hours to notify the Data Protection Authority. Do not try to erase traces.
7. Any technical intervention on your workstation happens with your consent and is recorded.
"""
