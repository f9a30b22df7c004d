from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "secretum.audit"
    label = "audit"
