from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "secretum.documents"
    label = "documents"

    def ready(self) -> None:
        from secretum.documents import integrity

        integrity.register()  # the documents the record seal covers (patients/integrity.py)
