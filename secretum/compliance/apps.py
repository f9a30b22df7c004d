from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "secretum.compliance"
    label = "compliance"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app's evidence.py registers the live evidence of its own measures: a new app, or a
        # new check, needs no line here.
        autodiscover_modules("evidence")
