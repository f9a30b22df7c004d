from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "secretum.letters"
    label = "letters"

    def ready(self) -> None:
        from secretum.letters import integrity

        integrity.register()  # the letters the record seal covers (patients/integrity.py)
