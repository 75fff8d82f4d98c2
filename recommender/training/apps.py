"""App configuration for training."""

from django.apps import AppConfig


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender.training"
    label = "training"

    def ready(self):
        from tenants.quotas import register_quota, register_storage

        from .selectors import artifact_bytes, model_count, runs_in_last_day

        register_quota("models", "max_models", model_count)
        register_quota("training_runs_per_day", "max_training_runs_per_day", runs_in_last_day)
        register_storage("trained models", artifact_bytes)
