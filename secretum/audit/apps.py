from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "secretum.audit"
    label = "audit"

    def ready(self) -> None:
        from secretum.audit import checks  # noqa: F401  (registers the audit system checks)
