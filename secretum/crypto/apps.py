from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "secretum.crypto"
    label = "crypto"

    def ready(self) -> None:
        from django.core.signals import request_started
        from django.db.models.signals import post_migrate

        from secretum.crypto import binding, checks  # noqa: F401  (registers the system check)

        # O2, G3, E10, H3: one key file, one database (secretum.crypto.binding).
        post_migrate.connect(binding.bind_after_migrate, sender=self)
        request_started.connect(
            binding.verify_before_first_request, dispatch_uid="secretum.crypto.binding"
        )
