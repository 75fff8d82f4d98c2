"""App configuration for the data layer."""

from django.apps import AppConfig


class DataConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.data"
    label = "data"
    verbose_name = "Data"

    def ready(self):
        from tenants.quotas import register_quota, register_storage

        from .quotas import stored_row_count
        from .retention import stored_upload_bytes

        register_quota("rows", "max_rows", stored_row_count)
        register_storage("uploads", stored_upload_bytes)
