from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    """Records leaving Secretum in open formats, encrypted by default (L1, L2, E7, M3)."""

    name = "secretum.exchange"
    label = "exchange"
