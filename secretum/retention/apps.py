from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """J2: records kept for the legal period, then destroyed by crypto-shredding."""

    name = "secretum.retention"
    label = "retention"
