"""Schemathesis against the OpenAPI schema, in-process through the WSGI application.

Every operation of ``/api/v1/schema/`` is called with generated requests and a
valid all-scopes key: once with generated path parameters (mostly objects that
do not exist) and once with the ids of real objects, so successful answers are
checked too. No answer may be a 5xx, and every answer must match the schema:
its status documented, its content type and its body as declared. Negative
(schema-violating) requests must never be a 5xx either. Each request runs in a
transaction that is rolled back, so a generated DELETE cannot starve the rest.

Bounded: a few examples per operation with a fixed seed (derandomised), so CI
runs the same requests each time; the ``reliability`` run (``make
test-reliability``) tries many more, with fresh randomness each time.
"""

import os
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from saas_platform.wsgi import application

from ..factories import make_api_key
from ..serving.conftest import train_model
from .rollback import rolled_back

pytestmark = pytest.mark.django_db

# Examples per operation and pass: a few in the normal suite, many in the reliability run.
QUICK_EXAMPLES = 6
DEEP_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@contextmanager
def keeping_the_test_connection():
    """The real WSGI handler closes "old" connections at each request's start and end; the test's
    transaction lives on that connection, so keep it open (Django's own test client does the same,
    and reconnects the handler after each of its requests, so this wraps the fuzzing itself)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A with a deployed model, an import, a batch job and a spare key: real ids for every path."""
    dataset = train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity")
    client = tenant_a.client
    with django_capture_on_commit_callbacks(execute=True):
        batch = client.post("/api/v1/models/recs/batch-recommendations", {"user_ids": ["u1"]}, format="json").json()
        upload = SimpleUploadedFile("clicks.csv", b"user_id,item_id\nu1,i1\n", content_type="text/csv")
        job = client.post(f"/api/v1/datasets/{dataset.pk}/imports", {"file": upload}, format="multipart").json()
    client.put("/api/v1/items", [{"item_id": "i1", "title": "One"}], format="json")
    spare_key, _ = make_api_key(tenant_a.tenant, name="spare")
    run_id = client.get("/api/v1/models/recs/runs").json()["results"][0]["id"]
    tenant_a.real_ids = {
        "/api/v1/datasets/": {"id": dataset.pk},
        "/api/v1/imports/": {"id": job["id"]},
        "/api/v1/runs/": {"id": run_id},
        "/api/v1/batch-jobs/": {"id": batch["id"]},
        "/api/v1/api-keys/": {"id": spare_key.pk},
        "/api/v1/models/": {"slug": "recs", "number": 1},
        "/api/v1/items/": {"item_id": "i1"},
        "/api/v1/users/": {"user_id": "u1"},
    }
    return tenant_a


def _real_path_parameters(world, operation):
    names = {parameter.name for parameter in operation.path_parameters}
    for prefix, values in world.real_ids.items():
        if operation.path.startswith(prefix):
            return {name: value for name, value in values.items() if name in names}
    return {}


def _fuzz(operation, strategy, headers, checks, examples, derandomize):
    """Up to ``examples`` generated requests to ``operation``; returns the first failure, if any."""
    failures = []

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = rolled_back(lambda: case.call(app=application, headers=headers))
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, BaseExceptionGroup) as exc:
            # Schemathesis' failure group; recorded rather than raised, so every operation is still tried.
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")

    try:
        run()
    except Unsatisfiable:
        # Only negative generation gets here: an operation with nothing to violate (no parameters, no body).
        pass
    return failures[:1]


def test_no_operation_answers_5xx_or_off_schema(world):
    with keeping_the_test_connection():
        failures, operations = _fuzz_all(world, QUICK_EXAMPLES, derandomize=True)
    assert operations > 20
    assert not failures, "\n\n".join(failures)


@pytest.mark.reliability
def test_many_more_generated_requests_answer_no_5xx_and_match_the_schema(world):
    with keeping_the_test_connection():
        failures, _ = _fuzz_all(world, DEEP_EXAMPLES, derandomize=False)
    assert not failures, "\n\n".join(failures)


def _fuzz_all(world, examples, derandomize):
    """Fuzz every operation of the served schema; returns ``(failures, operations tried)``."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    headers = {"Authorization": f"Api-Key {world.key}"}
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        real = _real_path_parameters(world, operation)
        strategies = [operation.as_strategy()]
        if real:
            strategies.append(operation.as_strategy(path_parameters=real))
        for strategy in strategies:
            failures += _fuzz(operation, strategy, headers, CHECKS, examples, derandomize)
        # Malformed requests, where there is something to malform: a body or query parameters (a path
        # parameter is any string, so violating it mostly fails to generate and only costs time).
        if len(operation.body) or len(operation.query):
            negative = operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE)
            failures += _fuzz(operation, negative, headers, [not_a_server_error], examples, derandomize)
    return failures, operations
