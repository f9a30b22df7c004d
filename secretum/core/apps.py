from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "secretum.core"
    label = "core"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from secretum.core import checks  # noqa: F401  (registers the system checks)
        from secretum.core.middleware import request_over

        request_finished.connect(request_over, dispatch_uid="secretum-request-id")
