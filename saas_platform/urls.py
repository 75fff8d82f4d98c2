"""Top-level URLs: the portal, the operators' admin, the public API and its docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .views import health

# Requests no view answered get the API's error shape under /api/ (see views.not_found).
handler400 = "saas_platform.views.bad_request"
handler404 = "saas_platform.views.not_found"
handler500 = "saas_platform.views.server_error"

api_v1 = [
    path("", include("tenants.api.urls")),
    path("", include("recommender.training.api.urls")),
    path("", include("recommender.serving.api.urls")),
    path("", include("recommender.data.api.urls")),
    path("", include("recommender.feedback.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("health", health, name="health"),
    path("accounts/", include("portal.account_urls")),
    path("", include("portal.urls")),
]
