from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "secretum.accounts"
    label = "accounts"

    def ready(self) -> None:
        from secretum.accounts import signals  # noqa: F401  (connects the audit receivers)
