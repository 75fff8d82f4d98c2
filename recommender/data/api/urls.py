"""URLs of the data API, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import (
    DataSettingsView,
    DatasetViewSet,
    EndUserErasureView,
    EventsView,
    ImportJobViewSet,
    ItemCollectionView,
    ItemDetailView,
)

router = SimpleRouter(trailing_slash=False)
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("imports", ImportJobViewSet, basename="import")

urlpatterns = [
    path("events", EventsView.as_view(), name="events"),
    path("items", ItemCollectionView.as_view(), name="items"),
    # Item and user ids are the tenant's own and may hold any character, '/' included (URL-encoded).
    path("items/<path:item_id>", ItemDetailView.as_view(), name="item"),
    path("users/<path:user_id>", EndUserErasureView.as_view(), name="end-user"),
    path("data-settings", DataSettingsView.as_view(), name="data-settings"),
    *router.urls,
]
