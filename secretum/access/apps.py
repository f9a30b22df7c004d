from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "secretum.access"
    label = "access"
