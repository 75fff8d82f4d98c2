"""URLs of the tenants API, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import ApiKeyViewSet, UsageView, WhoAmIView

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("tenant", WhoAmIView.as_view(), name="whoami"),
    path("usage", UsageView.as_view(), name="usage"),
    *router.urls,
]
