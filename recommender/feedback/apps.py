"""App configuration for feedback: impressions, attribution, online metrics and experiments."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.feedback"
    label = "feedback"
