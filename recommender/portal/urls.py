"""The portal in the ``portal`` namespace: these pages and the organisation and access pages of ``tenants.portal``."""

from django.urls import include, path

from .views import dashboard, data

app_name = "portal"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("data/", data.datasets, name="datasets"),
    path("data/new/", data.dataset_create, name="dataset_create"),
    path("data/<int:pk>/", data.dataset, name="dataset"),
    path("data/<int:pk>/upload/", data.dataset_upload, name="dataset_upload"),
    path("data/<int:pk>/statistics/refresh/", data.dataset_stats_refresh, name="dataset_stats_refresh"),
    path("data/imports/<int:pk>/", data.dataset_import, name="dataset_import"),
    path("data/imports/<int:pk>/status/", data.dataset_import_status, name="dataset_import_status"),
    path("data/imports/<int:pk>/rerun/", data.dataset_import_rerun, name="dataset_import_rerun"),
    path("", include("tenants.portal.urls")),
]
