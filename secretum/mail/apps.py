from django.apps import AppConfig


class MailConfig(AppConfig):
    """Documents sent by mail to verified correspondents, encrypted, over verified TLS (M1, M3,
    M4, M5)."""

    name = "secretum.mail"
    label = "mail"
