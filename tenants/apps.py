"""App configuration for tenants."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tenants"

    def ready(self):
        from core import json_types

        from .api import schema  # noqa: F401 - registers the OpenAPI description of API keys

        json_types.install()
