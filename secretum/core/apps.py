from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "secretum.core"
    label = "core"

    def ready(self) -> None:
        from secretum.core import checks, host_checks  # noqa: F401  (register the system checks)
