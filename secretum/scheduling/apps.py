from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "secretum.scheduling"
    label = "scheduling"
