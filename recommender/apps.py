"""App configuration for the recommender."""

from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the clean-up of a deleted organisation
