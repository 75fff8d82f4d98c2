"""URLs of the serving API, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    BatchJobViewSet,
    BatchRecommendationsView,
    PredictView,
    RankView,
    RecommendationsView,
    SessionRecommendationsView,
    SimilarItemsView,
)

router = SimpleRouter(trailing_slash=False)
router.register("batch-jobs", BatchJobViewSet, basename="batch-job")

urlpatterns = [
    path("models/<slug:slug>/recommendations", RecommendationsView.as_view(), name="recommendations"),
    path(
        "models/<slug:slug>/session-recommendations",
        SessionRecommendationsView.as_view(),
        name="session-recommendations",
    ),
    path("models/<slug:slug>/similar-items", SimilarItemsView.as_view(), name="similar-items"),
    path("models/<slug:slug>/rank", RankView.as_view(), name="rank"),
    path("models/<slug:slug>/predict", PredictView.as_view(), name="predict"),
    path("models/<slug:slug>/batch-recommendations", BatchRecommendationsView.as_view(), name="batch-recommendations"),
    *router.urls,
]
