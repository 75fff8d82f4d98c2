"""Every public operation of the API's OpenAPI schema has a client method that calls it.

A new endpoint without client support fails here; so does a method that calls the wrong path.
"""

import re
import subprocess
import sys

import httpx
import pytest
import recsys_client
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from recsys_client import OPERATIONS, Client

# One call per operation, with made-up arguments: the transport below answers anything.
CALLS = {
    "tenant_retrieve": lambda c: c.whoami(),
    "usage_retrieve": lambda c: c.usage(),
    "api_keys_list": lambda c: c.list_api_keys().to_list(),
    "api_keys_create": lambda c: c.create_api_key("ci", ["recommend"]),
    "api_keys_retrieve": lambda c: c.get_api_key(3),
    "api_keys_destroy": lambda c: c.revoke_api_key(3),
    "datasets_list": lambda c: c.list_datasets().to_list(),
    "datasets_create": lambda c: c.create_dataset("history"),
    "datasets_retrieve": lambda c: c.get_dataset(3),
    "datasets_stats_retrieve": lambda c: c.dataset_stats(3, refresh=True),
    "datasets_imports_list": lambda c: c.list_imports(3).to_list(),
    "datasets_imports_create": lambda c, tmp: c.import_file(3, tmp),
    "imports_list": lambda c: c.list_imports().to_list(),
    "imports_retrieve": lambda c: c.get_import(9),
    "events_create": lambda c: c.send_events([{"user_id": "u1", "item_id": "i1"}]),
    "items_list": lambda c: c.list_items().to_list(),
    "items_update": lambda c: c.upsert_items([{"item_id": "i1"}]),
    "items_retrieve": lambda c: c.get_item("i1"),
    "items_destroy": lambda c: c.deactivate_item("i1"),
    "users_destroy": lambda c: c.erase_user("u1"),
    "data_settings_retrieve": lambda c: c.get_data_settings(),
    "data_settings_partial_update": lambda c: c.update_data_settings(pseudonymize_user_ids=True),
    "feedback_settings_retrieve": lambda c: c.get_feedback_settings(),
    "feedback_settings_partial_update": lambda c: c.update_feedback_settings(click_event_types=["click"]),
    "metrics_retrieve": lambda c: c.online_metrics(bucket="15m", model="recs"),
    "experiments_list": lambda c: c.list_experiments().to_list(),
    "experiments_create": lambda c: c.create_experiment(
        name="a/b", model="recs", arms=[{"name": "a", "version": 1, "split": 50, "control": True}]
    ),
    "experiments_retrieve": lambda c: c.get_experiment(3),
    "experiments_partial_update": lambda c: c.update_experiment(3, name="renamed"),
    "experiments_results_retrieve": lambda c: c.experiment_results(3),
    "experiments_stop_create": lambda c: c.stop_experiment(3),
    "experiments_promote_create": lambda c: c.promote_experiment(3),
    "models_exploration_retrieve": lambda c: c.get_exploration("recs"),
    "models_exploration_update": lambda c: c.set_exploration("recs", weight=0.2, max_item_age_days=7),
    "recipes_list": lambda c: c.list_recipes(),
    "models_list": lambda c: c.list_models().to_list(),
    "models_create": lambda c: c.create_model("Recs", 3),
    "models_retrieve": lambda c: c.get_model("recs"),
    "models_partial_update": lambda c: c.update_model("recs", recipe="ease"),
    "models_destroy": lambda c: c.delete_model("recs"),
    "models_train_create": lambda c: c.train("recs"),
    "models_runs_list": lambda c: c.list_runs("recs").to_list(),
    "runs_retrieve": lambda c: c.get_run(12),
    "runs_cancel_create": lambda c: c.cancel_run(12),
    "models_versions_list": lambda c: c.list_versions("recs").to_list(),
    "models_versions_deploy_create": lambda c: c.deploy("recs", 1),
    "models_recommendations_retrieve": lambda c: c.recommend("recs", "u1"),
    "models_similar_items_retrieve": lambda c: c.similar_items("recs", "i1"),
    "models_rank_create": lambda c: c.rank("recs", "u1", ["i1", "i2"]),
    "models_session_recommendations_create": lambda c: c.recommend_session("recs", ["i1", "i2"], k=5),
    "models_predict_create": lambda c: c.predict("churn", [{"tenure": 3}]),
    "models_batch_recommendations_create": lambda c: c.start_batch("recs"),
    "batch_jobs_retrieve": lambda c: c.get_batch_job(4),
    "batch_jobs_download_retrieve": lambda c: c.download_batch(4),
}


def _schema_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield operation["operationId"], method.upper(), path


OPERATIONS_IN_SCHEMA = sorted(_schema_operations())


def _pattern(path):
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


def _answer(request):
    if request.url.path.endswith("/recipes"):
        return httpx.Response(200, json=[])
    if request.url.path.endswith("/download"):
        return httpx.Response(200, content=b"user_id,rank,item_id,score\n")
    if request.method == "DELETE" and request.url.path.startswith(("/api/v1/models/", "/api/v1/api-keys/")):
        return httpx.Response(204)
    return httpx.Response(200, json={"count": 0, "results": [], "predictions": []})


def test_every_operation_in_the_schema_has_a_client_method_and_only_those():
    in_schema = {operation_id for operation_id, _, _ in OPERATIONS_IN_SCHEMA}
    assert set(OPERATIONS) == in_schema, "client.OPERATIONS differs from the API's schema"
    assert set(CALLS) == in_schema
    for operation_id, method_name in OPERATIONS.items():
        assert callable(getattr(Client, method_name, None)), f"{operation_id}: no Client.{method_name}"


@pytest.mark.parametrize(("operation_id", "method", "path"), OPERATIONS_IN_SCHEMA)
def test_the_method_calls_the_operations_path(operation_id, method, path, tmp_path):
    sent = []

    def handler(request):
        sent.append((request.method, request.url.path))
        return _answer(request)

    upload = tmp_path / "history.csv"
    upload.write_text("user_id,item_id\nu1,i1\n")
    call = CALLS[operation_id]
    with Client("http://api.test", "key", transport=httpx.MockTransport(handler)) as client:
        call(client, upload) if call.__code__.co_argcount == 2 else call(client)
    pattern = _pattern(path)
    assert any(m == method and pattern.match(p) for m, p in sent), (operation_id, sent)
    # The method named for the operation is the one the call used.
    assert OPERATIONS[operation_id] in call.__code__.co_names


def test_the_client_version_follows_the_api_version():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert recsys_client.__version__ == settings.SPECTACULAR_SETTINGS["VERSION"] == schema["info"]["version"]


def test_the_installed_package_is_typed_and_imports_no_django():
    script = (
        "import sys, pathlib, recsys_client, recsys_client.cli; "
        "print('django' in sys.modules, (pathlib.Path(recsys_client.__file__).parent / 'py.typed').exists())"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
