"""App configuration for serving."""

from django.apps import AppConfig


class ServingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.serving"
    label = "serving"
