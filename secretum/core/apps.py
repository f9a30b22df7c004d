from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "secretum.core"
    label = "core"

    def ready(self) -> None:
        from secretum.core import checks  # noqa: F401  (registers the system checks)
