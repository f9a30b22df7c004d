from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "secretum.crypto"
    label = "crypto"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from secretum.crypto import binding, checks  # noqa: F401  (registers the system check)

        # O2, G3, E10, H3: one key file, one database (secretum.crypto.binding).
        # Each web process checks before its first request: crypto.middleware.
        post_migrate.connect(binding.bind_after_migrate, sender=self)
