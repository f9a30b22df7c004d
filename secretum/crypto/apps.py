from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "secretum.crypto"
    label = "crypto"
