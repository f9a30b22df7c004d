from django.apps import AppConfig


class BackupConfig(AppConfig):
    name = "secretum.backup"
    label = "backup"
