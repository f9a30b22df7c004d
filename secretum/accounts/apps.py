from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "secretum.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from secretum.accounts import signals  # noqa: F401  (connects the audit receivers)

        # The last login is sealed with the account (C2): signals.record_last_login writes it
        # on the row as the database holds it, not Django's receiver on a copy in memory.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
