"""App configuration for the portal."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The portal's pages; the app has no models."""

    name = "portal"
    verbose_name = "Portal"
