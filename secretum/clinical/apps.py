from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "secretum.clinical"
    label = "clinical"

    def ready(self) -> None:
        from secretum.clinical import integrity

        integrity.register()  # the entries the record seal covers (patients/integrity.py)
