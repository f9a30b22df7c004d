from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "secretum.clinical"
    label = "clinical"
