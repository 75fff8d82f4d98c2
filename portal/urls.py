"""The portal in the ``portal`` namespace: every page but the account pages (``portal.account_urls``)."""

from django.urls import include, path

from .views import catalogue, dashboard, data, models, privacy, tryit

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
    path("data/catalogue/", catalogue.catalogue, name="data_catalogue"),
    # Item ids are the tenant's own and may hold any character, '/' included (URL-encoded), as in the API.
    path("data/catalogue/<path:item_id>/deactivate/", catalogue.item_deactivate, name="data_item_deactivate"),
    path("data/catalogue/<path:item_id>/reactivate/", catalogue.item_reactivate, name="data_item_reactivate"),
    path("data/privacy/", privacy.privacy, name="data_privacy"),
    path("data/privacy/pseudonymisation/", privacy.pseudonymisation_update, name="data_privacy_pseudonymisation"),
    path("data/privacy/erase/", privacy.end_user_erase, name="data_privacy_erase"),
    path("models/", models.models, name="models"),
    path("models/new/", models.model_create, name="model_create"),
    path("models/<slug:slug>/", models.model, name="model"),
    path("models/<slug:slug>/edit/", models.model_edit, name="model_edit"),
    path("models/<slug:slug>/delete/", models.model_delete, name="model_delete"),
    path("models/<slug:slug>/train/", models.model_train, name="model_train"),
    path("models/<slug:slug>/versions/", models.model_versions, name="model_versions"),
    path("models/<slug:slug>/versions/<int:number>/deploy/", models.model_deploy, name="model_deploy"),
    path("runs/<int:pk>/", models.model_run, name="model_run"),
    path("runs/<int:pk>/status/", models.model_run_status, name="model_run_status"),
    path("runs/<int:pk>/cancel/", models.model_run_cancel, name="model_run_cancel"),
    path("runs/<int:pk>/retry/", models.model_run_retry, name="model_run_retry"),
    path("try/", tryit.try_it, name="try_it"),
    path("", include("portal.feedback_urls")),
    path("", include("portal.access_urls")),
]
