"""Training: model configurations, training runs on Celery workers, versions and deployments."""
