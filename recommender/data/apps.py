"""App configuration for the data layer."""

from django.apps import AppConfig


class DataConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.data"
    label = "data"
    verbose_name = "Data"
