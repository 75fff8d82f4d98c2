"""Portal URLs of the feedback app, included in the ``portal`` namespace."""

from django.urls import path

from .views import feedback as portal

urlpatterns = [
    path("online/", portal.online_metrics, name="feedback_metrics"),
    path("online/settings/", portal.feedback_settings_update, name="feedback_settings_update"),
    path("experiments/", portal.experiments, name="feedback_experiments"),
    path("experiments/new/", portal.experiment_create, name="feedback_experiment_create"),
    path("experiments/<int:pk>/", portal.experiment, name="feedback_experiment"),
    path("experiments/<int:pk>/stop/", portal.experiment_stop, name="feedback_experiment_stop"),
    path("experiments/<int:pk>/promote/", portal.experiment_promote, name="feedback_experiment_promote"),
]
