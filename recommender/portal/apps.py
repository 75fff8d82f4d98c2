"""App configuration for the recommender's portal pages."""

from django.apps import AppConfig


class PortalPagesConfig(AppConfig):
    name = "recommender.portal"
    label = "portal_pages"
    verbose_name = "Portal pages"
