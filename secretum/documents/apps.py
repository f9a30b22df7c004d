from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "secretum.documents"
    label = "documents"
