from django.apps import AppConfig


class BreachesConfig(AppConfig):
    name = "secretum.breaches"
    label = "breaches"
