"""Every API endpoint × every recipe's model answers a success or the documented error shape, never a 500.

The routes come from Django's URL resolver (as in the isolation matrix), so a
new endpoint is walked the day it is added. Each route is called with every
method, once per recipe where it names a model, with a well-formed request for
that model; writes are rolled back so every call sees the same estate.
"""

import pytest
from django.urls import reverse

from ..security.rollback import rolled_back
from ..security.test_isolation_matrix import walk
from ..walk_estate import build_walk_estate

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def walker(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end (the tests only read it)."""
    from django.db import transaction
    from django.test import TestCase

    from saas_platform.celery import app

    from ..conftest import TenantWorld

    # The per-test fixture that runs tasks eagerly has not run yet at module scope.
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=True)
    with django_db_blocker.unblock(), transaction.atomic():
        world = TenantWorld("Walker")
        world.estate = build_walk_estate(world.tenant, lambda: TestCase.captureOnCommitCallbacks(execute=True))
        yield world
        transaction.set_rollback(True)


def requests_for(estate, recipe):
    """A well-formed query or body per route name, for a model of ``recipe``."""
    churn_row = {"customer_id": "C1", "tenure": 3, "plan": "basic", "monthly_spend": 20.5, "churned": 1}
    return {
        "recommendations": {"query": {"user_id": "u1", "k": 3}},
        "similar-items": {"query": {"item_id": "i1", "k": 3}},
        "rank": {"body": {"user_id": "u1", "item_ids": ["i1", "i2"]}},
        "session-recommendations": {"body": {"item_ids": ["i1", "i2"], "k": 3}},
        "predict": {"body": {"rows": [churn_row]}},
        "batch-recommendations": {"body": {"user_ids": ["u1"], "k": 2}},
    }


def api_routes():
    """``(name, keyword names)`` of every route under /api/v1/ except the schema and its docs page."""
    found = []
    for _, name, kwargs, callback in walk():
        if name and hasattr(callback, "cls") and name not in {"schema", "api-docs"}:
            found.append((name, kwargs))
    return found


def per_recipe(name, kwargs):
    """Routes that name a model or one of its runs are walked once per recipe."""
    return "slug" in kwargs or name.startswith("run-")


def fill(estate, world, name, kwargs, recipe):
    """Keyword values of the estate's objects for ``name``'s route (a batch job id that is nobody's: a 404)."""
    pks = {
        "dataset": estate.datasets["interactions"].pk,
        "import": estate.imports[0].pk,
        "run": estate.runs[recipe].pk if recipe in estate.runs else None,
        "api-key": world.api_key.pk,
        "batch-job": 2_000_000_001,
    }
    values = {
        "slug": estate.models.get(recipe),
        "number": 1,
        "item_id": "i1",
        "user_id": "u1",
        "pk": next((pk for prefix, pk in pks.items() if name.startswith(prefix)), None),
    }
    return {kwarg: values[kwarg] for kwarg in kwargs}


def send(client, method, url, shape):
    if method == "get":
        return client.get(url, shape.get("query", {}))
    return getattr(client, method)(url, shape.get("body", {}), format="json")


def error_shape_problem(response):
    """What is wrong with an error response's body, or None when it has the documented shape."""
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.content[:120]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"no 'error' object: {str(body)[:120]}"
    if not (isinstance(error.get("code"), str) and isinstance(error.get("message"), str) and error["message"]):
        return f"code or message missing: {error}"
    if not isinstance(error.get("details"), dict):
        return f"details is not an object: {error}"
    return None


def test_every_endpoint_for_every_recipe_answers_success_or_the_error_shape(walker):
    estate, client = walker.estate, walker.client
    client.raise_request_exception = False
    problems, calls, unsupported = [], 0, set()
    for name, kwargs in api_routes():
        for recipe in estate.models if per_recipe(name, kwargs) else ["-"]:
            url = reverse(name, kwargs=fill(estate, walker, name, kwargs, recipe) or None)
            shape = requests_for(estate, recipe).get(name, {})
            for method in METHODS:
                calls += 1
                response = rolled_back(lambda m=method, u=url, s=shape: send(client, m, u, s))
                label = f"{method.upper()} {url} ({recipe})"
                if response.status_code >= 500:
                    problems.append(f"{label} answered {response.status_code}: {response.content[:200]!r}")
                elif response.status_code >= 400:
                    problem = error_shape_problem(response)
                    if problem:
                        problems.append(f"{label} answered {response.status_code} with {problem}")
                    elif response.json()["error"]["code"] == "unsupported":
                        unsupported.add((name, recipe))
    assert not problems, "\n".join(problems)
    assert calls > 200
    # The matrix did reach the models: each task refuses the other task's calls, cleanly.
    assert ("recommendations", "mlp_classifier") in unsupported
    assert ("predict", "ease") in unsupported
    assert ("similar-items", "popularity") in unsupported
    assert ("batch-recommendations", "mlp_regressor") in unsupported
    assert ("session-recommendations", "mlp_classifier") in unsupported


def test_recommendations_from_a_tabular_model_say_what_the_model_offers(walker):
    """Once answered with an HTML 500; now a 400 that tells the caller which calls the model does answer."""
    slug = walker.estate.models["mlp_classifier"]
    response = walker.client.get(f"/api/v1/models/{slug}/recommendations?user_id=u1")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported"
    assert "does not offer recommendations; it offers predictions" in error["message"]
    assert error["details"] == {"recipe": "mlp_classifier", "supports": ["predict"]}
