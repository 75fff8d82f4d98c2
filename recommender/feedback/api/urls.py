"""URLs of the feedback API, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import ExperimentViewSet, ExplorationView, FeedbackSettingsView, MetricsView

router = SimpleRouter(trailing_slash=False)
router.register("experiments", ExperimentViewSet, basename="experiment")

urlpatterns = [
    path("feedback-settings", FeedbackSettingsView.as_view(), name="feedback-settings"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("models/<slug:slug>/exploration", ExplorationView.as_view(), name="model-exploration"),
    *router.urls,
]
