from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "secretum.compliance"
    label = "compliance"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app's evidence.py registers the evidence of its own measures: a new app, or a
        # new check, needs no line here. The compliance app's evidence.py is the registry; its
        # own checks (P1, C2, C3, L3) are in own_evidence.py.
        autodiscover_modules("evidence")
        from secretum.compliance import own_evidence  # noqa: F401  (registers on import)
