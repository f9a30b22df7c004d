"""Evidence of mail's measures, for the register (live: they read the settings and the record of
what the transport delivered).

- M4: a mail server is set, its CA file (when named) readable, and the last message handed over
  went through a verified TLS session (the transport refuses any other, mail/transport.py).
- M3: every message sent to a correspondent was encrypted (S/MIME or age), read from the record of
  what the transport delivered; a passphrase, when one was made, went to the sender alone.
- M5: the practice has named its mail provider and where it keeps the mail; met only in the EU
  (the practice declares the rest: its contract, the provider's guarantees).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met

EU = "eu"


@evidence("M4", proof=Proof.LIVE)
def verified_transport() -> Evidence:
    from secretum.mail.models import Delivery

    host = settings.SECRETUM_SMTP_HOST
    if not host:
        return not_met(
            _("No mail server is set: documents cannot be sent by mail."),
            _("Set SECRETUM_SMTP_HOST (and its port, user and password file)."),
        )
    ca_file = settings.SECRETUM_SMTP_CA_FILE
    if ca_file and not os.access(ca_file, os.R_OK):
        return not_met(
            _("The mail server's CA file %(path)s cannot be read: every sending is refused.")
            % {"path": ca_file},
            _("Correct SECRETUM_SMTP_CA_FILE."),
        )
    summary = _(
        "Mail goes to %(host)s over TLS only (STARTTLS or implicit TLS), its certificate "
        "verified against %(cas)s; a server that fails is refused."
    ) % {"host": host, "cas": ca_file or _("the system's certificate authorities")}
    last = Delivery.objects.order_by("-at", "-id").first()
    if last is None:
        return met(summary, _("No message sent yet."))
    return met(
        summary,
        _("Last verified handshake: %(date)s with %(server)s (%(tls)s, %(cipher)s).")
        % {"date": day(last.at), "server": last.server, "tls": last.tls_version,
           "cipher": last.cipher},
    )  # fmt: skip


@evidence("M5", proof=Proof.LIVE)
def mail_provider() -> Evidence:
    provider = settings.SECRETUM_MAIL_PROVIDER
    where = settings.SECRETUM_MAIL_PROVIDER_LOCATION
    if not provider or not where:
        return not_met(
            _("The mail provider and where it keeps the mail are not stated."),
            _("Set SECRETUM_MAIL_PROVIDER and SECRETUM_MAIL_PROVIDER_LOCATION (EU or non-EU)."),
        )
    if where.strip().lower() != EU:
        return not_met(
            _("The mail provider %(provider)s keeps the mail outside the EU (%(where)s).")
            % {"provider": provider, "where": where},
            _("Choose a provider that keeps the mail in the EU, or one bound by EU rules."),
        )
    return met(
        _("The mail provider %(provider)s keeps the mail in the EU.") % {"provider": provider}
    )


@evidence("M3", proof=Proof.LIVE)
def sent_encrypted() -> Evidence:
    from secretum.mail.models import Delivery

    sent = Delivery.objects.exclude(purpose=Delivery.Purpose.VERIFICATION)
    clear = sent.filter(encryption__in=["", "none"])
    if clear.exists():
        return not_met(
            _("%(n)d document(s) went out by mail unencrypted.") % {"n": clear.count()},
            _("Every sending is encrypted (mail/envelope.py): find how this one went around it."),
        )
    by_kind = sorted(sent.values_list("encryption", flat=True).distinct())
    return met(
        _(
            "Documents sent by mail are encrypted before they leave: S/MIME for a correspondent's "
            "certificate, else age for their key or under a passphrase given by another channel; "
            "%(n)d sent so far."
        )
        % {"n": sent.count()},
        *by_kind,
    )
