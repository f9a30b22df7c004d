from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "secretum.core"
    label = "core"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from secretum.core import checks, host_checks  # noqa: F401  (register the system checks)
        from secretum.core.middleware import request_over

        request_finished.connect(request_over, dispatch_uid="secretum-request-id")
