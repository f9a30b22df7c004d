from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "secretum.maintenance"
    label = "maintenance"
