"""`secretum compliance summary`: the register's reminders, e-mailed to the practice managers.

Run it once a day (cron or a systemd timer, docs/compliance.md). With no mail configured
(SECRETUM_SMTP_HOST empty) it prints the summary and says so.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

from secretum.compliance.reminders import daily_summary


class Command(BaseCommand):
    help = (
        "Build the daily summary of the security measures register (failing evidence, "
        "declarations to review, open breaches) and e-mail it to the practice managers."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--print", action="store_true", help="print the summary even when it is e-mailed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        summary = daily_summary()
        if not settings.SECRETUM_SMTP_HOST:
            self.stdout.write(summary.text)
            self.stdout.write("mail is not configured (SECRETUM_SMTP_HOST): summary printed only.")
            return
        if not summary.recipients:
            self.stdout.write(summary.text)
            raise CommandError(
                "no active practice manager has an e-mail address: the summary was not sent."
            )
        sent = send_mail(
            summary.subject,
            summary.text,
            settings.DEFAULT_FROM_EMAIL,
            summary.recipients,
            fail_silently=False,
        )
        if options["print"]:
            self.stdout.write(summary.text)
        self.stdout.write(f"summary sent to {len(summary.recipients)} manager(s) ({sent} message).")
