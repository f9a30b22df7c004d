from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "secretum.patients"
    label = "patients"
