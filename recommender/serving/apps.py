"""App configuration for serving."""

from django.apps import AppConfig


class ServingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.serving"
    label = "serving"

    def ready(self):
        from tenants.quotas import register_storage

        from .selectors import batch_file_bytes

        register_storage("batch files", batch_file_bytes)
