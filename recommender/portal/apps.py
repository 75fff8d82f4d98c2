"""App configuration for the recommender's portal pages."""

from django.apps import AppConfig


class PortalPagesConfig(AppConfig):
    """The portal pages of the recommender; the app has no models."""

    name = "recommender.portal"
    label = "portal_pages"
    verbose_name = "Portal pages"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the clean-up of a deleted organisation
