"""Isolation by construction: tenant B never reads, lists, changes or learns of tenant A's objects.

The routes come from Django's URL resolver, not from a list, so a new endpoint
or portal page is covered the day it is added. Every URL keyword must be one
this module knows how to fill with an object of tenant A; an unknown one fails
the test, so nobody can add an endpoint without isolation coverage.

For every route with such keywords, and every HTTP method, tenant B (by API key
on the API, by a signed-in session on the portal) gets 404 or 405, exactly the
answer it gets for an id that exists nowhere, and no byte of A's data; tenant
A's rows are identical before and after. The same request from A itself is not
a 404 (made in a rolled-back transaction), which proves the URLs are real.
Celery tasks that take ``(tenant_id, object_id)`` get the same treatment.
"""

import inspect
import json
import re
from contextlib import suppress

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from saas_platform.celery import app as celery_app

from .estate import MARKER, Estate, snapshot
from .rollback import rolled_back

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")

# What kind of object each URL keyword names. ``pk`` is ambiguous: the route's name says (below).
KWARG_KINDS = {"slug": "model", "number": "version", "item_id": "item", "user_id": "end-user"}
# ``pk`` of a route whose name (without namespace) starts with the prefix; the longest prefix wins.
PK_KINDS = {
    "dataset_import": "import",
    "dataset": "dataset",
    "import": "import",
    "api-key": "api-key",
    "api_key": "api-key",
    "member": "membership",
    "invitation": "invitation",
    "run": "run",
    "model_run": "run",
    "batch-job": "batch-job",
    "experiment": "experiment",
    "feedback_experiment": "experiment",
}
# Routes whose keywords are capabilities, not tenant-owned objects: knowing the token is the authorisation.
TOKEN_ROUTES = {
    "accept_invitation": "the invitation token is the capability; it is random and single-use",
    "password_reset_confirm": "Django's signed, expiring reset token",
}
# Namespaces outside the tenants' surface.
SKIPPED_NAMESPACES = {"admin": "operators only (staff); see test_admin_refuses_tenant_members"}
# Values that exist in no tenant, by kind: B's answer for A's object must equal its answer for these.
MISSING = {
    "dataset": 2_000_000_001,
    "import": 2_000_000_002,
    "run": 2_000_000_003,
    "batch-job": 2_000_000_004,
    "api-key": 2_000_000_005,
    "membership": 2_000_000_006,
    "invitation": 2_000_000_020,
    "experiment": 2_000_000_021,
    "version": 999,
    "model": "zz-missing-model",
    "item": "zz-missing-item",
    "end-user": "zz-missing-user",
}
# Kinds whose ids are the tenant's own names rather than rows: B addressing "u1" addresses B's own u1.
# Erasing an end user B never stored is not an error (it answers zero counts, and leaves B's marker),
# so there the proof is that B's answer equals its answer for an id nobody has, and A is unchanged.
TENANT_NAMESPACED_KINDS = {"end-user"}
# Well-formed requests for routes that check their query or body before they look the object up,
# so the probe reaches the lookup (an ill-formed one is refused before tenancy is even considered).
WELL_FORMED = {
    "recommendations": {"query": {"user_id": "b-user"}},
    "similar-items": {"query": {"item_id": "b-item"}},
    "rank": {"body": {"user_id": "b-user", "item_ids": ["b-item"]}},
    "predict": {"body": {"rows": [{"x": 1}]}},
    "session-recommendations": {"body": {"item_ids": ["b-item"]}},
}
# Lists that must show tenant A its own marked objects: proof that the leak scan could see a leak.
LISTS_SHOWING_A_ITS_DATA = {"dataset-list", "model-list", "import-list", "items", "portal:datasets", "portal:members"}


def walk(resolver=None, namespace=None):
    """Every URL pattern under ``resolver``: ``(namespace, full name, keyword names, callback)``."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            for space, name, kwargs, callback in walk(entry, inner):
                yield space, name, sorted({*entry.pattern.regex.groupindex, *kwargs}), callback
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield namespace, name, sorted(entry.pattern.regex.groupindex), entry.callback


def routes():
    """The routes this test covers, each as ``(name, {kwarg: kind}, callback)``; unknown keywords fail."""
    found, unknown = [], []
    for namespace, name, kwargs, callback in walk():
        if (namespace or "").split(":")[0] in SKIPPED_NAMESPACES or name in TOKEN_ROUTES:
            continue
        if name is None:
            unknown.append(f"an unnamed route to {callback} (name it so it can be reversed and covered)")
            continue
        kinds = {}
        for kwarg in kwargs:
            kind = KWARG_KINDS.get(kwarg) or (pk_kind(name) if kwarg == "pk" else None)
            if kind is None:
                unknown.append(f"route {name!r} has keyword {kwarg!r}")
            kinds[kwarg] = kind
        found.append((name, kinds, callback))
    assert not unknown, (
        "Routes this isolation test cannot fill (teach it in KWARG_KINDS / PK_KINDS, with an object in "
        "tests/security/estate.py):\n" + "\n".join(unknown)
    )
    return found


def pk_kind(name):
    bare = name.split(":")[-1]
    matches = [prefix for prefix in PK_KINDS if bare.startswith(prefix)]
    return PK_KINDS[max(matches, key=len)] if matches else None


def is_api(name, callback):
    """DRF views (the API) take B's API key; Django views (the portal) take B's signed-in session."""
    return hasattr(callback, "cls")


def reverse_safe(name, kwargs=None):
    return reverse(name, kwargs=kwargs or None)


def send(client, method, url, api, name=None):
    """One request; writes carry the route's well-formed body (else an empty one) of the kind it reads."""
    shape = WELL_FORMED.get(name, {})
    if method == "get":
        return client.get(url, shape.get("query", {}))
    if api:
        return getattr(client, method)(url, shape.get("body", {}), format="json")
    return getattr(client, method)(url, {})


def normalised(response, replacements):
    """The body with echoed values and per-response noise (request ids, CSRF tokens) taken out."""
    body = response.content.decode("utf-8", errors="replace")
    for value in replacements:
        body = body.replace(str(value), "<ID>")
    body = re.sub(r'"request_id":\s*"[0-9a-f]+"', '"request_id": "<RID>"', body)
    body = re.sub(r'(csrfmiddlewaretoken" value=|csrf-token" content=)"[^"]+"', r'\1"<CSRF>"', body)
    return response.status_code, body


def session_of(user, tenant):
    client = Client()
    client.force_login(user)
    assert client.post(reverse("portal:switch_tenant"), {"tenant": tenant.pk}).status_code == 302
    return client


@pytest.fixture
def estate(tenant_a, django_capture_on_commit_callbacks):
    return Estate(tenant_a, django_capture_on_commit_callbacks)


@pytest.fixture
def b_estate(tenant_b, django_capture_on_commit_callbacks):
    """B has data of its own, so its lists are not trivially empty."""
    from ..factories import make_interactions_dataset

    dataset = make_interactions_dataset(tenant_b.tenant, name="b-clicks")
    body = {"name": "b-model", "slug": "b-model", "dataset": dataset.pk, "recipe": "popularity"}
    assert tenant_b.client.post("/api/v1/models", body, format="json").status_code == 201
    return dataset


def test_every_route_refuses_another_tenants_objects(estate, b_estate, tenant_a, tenant_b):
    objects = estate.objects()
    b_session = session_of(tenant_b.owner, tenant_b.tenant)
    a_session = session_of(tenant_a.owner, tenant_a.tenant)
    before = snapshot(tenant_a.tenant)
    problems, controls, probed = [], [], 0

    for name, kinds, callback in routes():
        if not kinds:
            continue
        api = is_api(name, callback)
        b_client, a_client = (tenant_b.client, tenant_a.client) if api else (b_session, a_session)
        real = reverse_safe(name, {kwarg: objects[kind] for kwarg, kind in kinds.items()})
        fake = reverse_safe(name, {kwarg: MISSING[kind] for kwarg, kind in kinds.items()})
        echoed = [objects[kind] for kind in kinds.values() if isinstance(objects[kind], str)]
        echoed += [MISSING[kind] for kind in kinds.values() if isinstance(MISSING[kind], str)]
        namespaced = set(kinds.values()) <= TENANT_NAMESPACED_KINDS
        refused = namespaced
        for method in METHODS:
            probed += 1
            answer = send(b_client, method, real, api, name)
            if answer.status_code not in (404, 405) and not namespaced:
                problems.append(f"{method.upper()} {real} as tenant B answered {answer.status_code}")
                continue
            refused = refused or answer.status_code == 404
            if normalised(answer, echoed) != normalised(send(b_client, method, fake, api, name), echoed):
                problems.append(f"{method.upper()} {real} as B differs from the answer for a missing id")
            if MARKER in normalised(answer, echoed)[1]:
                problems.append(f"{method.upper()} {real} as B shows A's data: {answer.content[:300]!r}")
            if answer.status_code == 404:
                controls.append((name, method, real, a_client, api))
            elif namespaced and answer.status_code < 400:
                controls.append((name, method, real, a_client, api))
        if not refused:
            problems.append(f"{real}: no method answered B with 404 (is the route reachable at all?)")

    after = snapshot(tenant_a.tenant)
    problems += [f"tenant B's requests changed A's {label} rows" for label in before if before[label] != after[label]]
    # The same requests from A reach A's objects: the 404s above are about tenancy, not broken URLs.
    for name, method, url, a_client, api in controls:
        response = rolled_back(lambda c=a_client, m=method, u=url, a=api, n=name: send(c, m, u, a, n))
        if response.status_code == 404:
            problems.append(f"{method.upper()} {url} is 404 for tenant A itself: the probe proves nothing")
    assert not problems, "\n".join(problems)
    assert probed > 100 and len(controls) > 20


def test_lists_and_pages_never_show_another_tenants_data(estate, b_estate, tenant_a, tenant_b):
    objects = estate.objects()
    b_session = session_of(tenant_b.owner, tenant_b.tenant)
    a_session = session_of(tenant_a.owner, tenant_a.tenant)
    problems, shown_to_a = [], set()
    for name, kinds, callback in routes():
        if kinds:
            continue
        api = is_api(name, callback)
        url = reverse_safe(name)
        answer = (tenant_b.client if api else b_session).get(url)
        if answer.status_code >= 500:
            problems.append(f"GET {url} as B answered {answer.status_code}")
        body = answer.content.decode("utf-8", errors="replace")
        if MARKER in body:
            problems.append(f"GET {url} as B shows A's data: {body[body.index(MARKER) - 80 :][:200]!r}")
        kind = pk_kind(name)
        if answer.get("Content-Type", "").startswith("application/json") and kind in objects:
            listed = {row.get("id") for row in _results(answer.json())}
            if objects[kind] in listed:
                problems.append(f"GET {url} as B lists A's {kind} {objects[kind]}")
        if MARKER in (tenant_a.client if api else a_session).get(url).content.decode("utf-8", errors="replace"):
            shown_to_a.add(name)
    assert not problems, "\n".join(problems)
    # The scan can see a leak: the same lists do show A its own marked objects.
    assert LISTS_SHOWING_A_ITS_DATA <= shown_to_a, LISTS_SHOWING_A_ITS_DATA - shown_to_a


def _results(payload):
    if isinstance(payload, dict):
        payload = payload.get("results", [])
    return [row for row in payload if isinstance(row, dict)] if isinstance(payload, list) else []


# --- ids in request bodies ---------------------------------------------------------------------------

# Request-body fields that name an object: ``(method, path template, field)`` → the kind of object.
BODY_REFERENCES = {
    ("post", "/api/v1/models", "dataset"): "dataset",
    ("patch", "/api/v1/models/{slug}", "dataset"): "dataset",
    ("post", "/api/v1/events", "dataset"): "dataset",
    ("post", "/api/v1/experiments", "model"): "model",
}
# Property names that would name an object if a request body carried them.
REFERENCE_NAMES = {
    "dataset", "config", "model", "version", "run", "job", "tenant", "api_key", "membership", "user", "member",
    "dataset_id", "config_id", "version_id", "run_id", "job_id", "tenant_id", "api_key_id", "membership_id",
}  # fmt: skip


def test_every_reference_in_a_request_body_is_covered():
    """A new request field that names an object must be added to BODY_REFERENCES (and so be probed)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for content in (operation.get("requestBody") or {}).get("content", {}).values():
                ref = content["schema"].get("$ref", "").split("/")[-1]
                for field in components.get(ref, {}).get("properties", {}):
                    if field in REFERENCE_NAMES:
                        found.add((method, path, field))
    assert found == set(BODY_REFERENCES), f"uncovered: {found - set(BODY_REFERENCES)}"


def test_foreign_ids_in_request_bodies_are_refused_like_missing_ones(estate, b_estate, tenant_a, tenant_b):
    objects = estate.objects()
    before = snapshot(tenant_a.tenant)
    event = {"user_id": "b", "item_id": "b"}
    arms = [{"name": "a", "version": 1, "split": 50, "control": True}, {"name": "b", "version": 1, "split": 50}]
    bodies = {
        ("post", "/api/v1/models", "dataset"): lambda ref: {"name": "b2", "slug": "b-two", "dataset": ref},
        ("patch", "/api/v1/models/{slug}", "dataset"): lambda ref: {"dataset": ref},
        ("post", "/api/v1/events", "dataset"): lambda ref: {"dataset": ref, "events": [event]},
        ("post", "/api/v1/experiments", "model"): lambda ref: {"name": "b", "model": ref, "arms": arms},
    }
    for (method, path, field), kind in BODY_REFERENCES.items():
        url = path.replace("{slug}", "b-model")
        answers = [
            getattr(tenant_b.client, method)(url, bodies[(method, path, field)](ref), format="json")
            for ref in (objects[kind], MISSING[kind])
        ]
        assert answers[0].status_code in (400, 404), (url, answers[0].content)
        assert normalised(answers[0], [objects[kind]]) == normalised(answers[1], [MISSING[kind]])
    assert snapshot(tenant_a.tenant) == before


def test_portal_forms_never_reach_another_tenants_objects(estate, b_estate, tenant_a, tenant_b):
    """Portal forms that name an object (a dataset to train on, a model to try) only offer B's own."""
    from recommender.training.models import ModelConfig

    b_session = session_of(tenant_b.owner, tenant_b.tenant)
    before = snapshot(tenant_a.tenant)
    created = b_session.post(
        reverse("portal:model_create"),
        {"name": "b-sneaky", "recipe": "popularity", "dataset": estate.dataset.pk, "auto_deploy": "never"},
    )
    assert created.status_code == 200 and "dataset" in created.context["form"].errors
    assert not ModelConfig.objects.filter(dataset=estate.dataset).exclude(tenant=tenant_a.tenant).exists()
    tried = b_session.get(
        reverse("portal:try_it"),
        {"try": "recommend", "recommend-model": estate.slug, "recommend-user_id": estate.user_id, "recommend-k": 3},
    )
    assert tried.status_code == 200
    assert MARKER not in tried.content.decode().replace(estate.slug, "").replace(estate.user_id, "")
    ranked = b_session.post(
        reverse("portal:try_it"),
        {"try": "rank", "rank-model": estate.slug, "rank-user_id": estate.user_id, "rank-item_ids": estate.item_id},
    )
    assert ranked.status_code == 200 and "model" in ranked.context["rank_form"].errors
    assert MARKER not in ranked.content.decode().replace(estate.slug, "").replace(estate.user_id, "").replace(
        estate.item_id, ""
    )
    assert snapshot(tenant_a.tenant) == before


def test_switching_to_another_tenant_in_the_portal_is_refused(estate, tenant_a, tenant_b):
    b_session = session_of(tenant_b.owner, tenant_b.tenant)
    response = b_session.post(reverse("portal:switch_tenant"), {"tenant": tenant_a.tenant.pk})
    assert response.status_code == 404
    assert MARKER not in b_session.get(reverse("portal:datasets")).content.decode()


def test_admin_refuses_tenant_members(estate, tenant_b):
    """The operators' admin is the one surface outside tenancy: a tenant's owner (not staff) cannot open it."""
    b_session = session_of(tenant_b.owner, tenant_b.tenant)
    for url in ("/admin/", f"/admin/data/dataset/{estate.dataset.pk}/change/"):
        response = b_session.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Celery tasks ------------------------------------------------------------------------------------

# The maintenance tasks: periodic sweeps over every tenant, the only tasks without a tenant argument. Their
# cross-tenant queries call .unscoped() (core.layering lists the files) and they are marked @maintenance_task.
TASKS_WITHOUT_TENANT_ARGUMENT = {
    "recommender.data.tasks.reap_orphaned_imports": "a sweep over all running imports, no arguments",
    "recommender.training.tasks.reap_stale_runs": "a sweep over all runs, no arguments",
    "recommender.data.tasks.resend_lost_imports": "a sweep over all queued imports, no arguments",
    "recommender.training.tasks.resend_lost_runs": "a sweep over all queued runs, no arguments",
    "tenants.tasks.flush_usage": "a sweep over all counters, no arguments",
    "recommender.data.tasks.sweep_kept_uploads": "a sweep over all kept uploads, no arguments",
    "recommender.serving.tasks.expire_batch_files": "a sweep over all batch files, no arguments",
    "recommender.feedback.tasks.aggregate": "a sweep over all tenants' impressions and experiments, no arguments",
    "recommender.training.tasks.retrain_on_drift": "a sweep over all models with a drift policy, no arguments",
}
# Which of A's objects the second argument of a ``(tenant_id, object_id)`` task names.
TASK_OBJECTS = {
    "recommender.training.tasks.run_training": "run",
    "recommender.training.tasks.train_on_schedule": "config",
    "recommender.serving.tasks.run_batch": "batch-job",
    "recommender.data.tasks.run_import": "import",
    "recommender.data.tasks.refresh_stats": "dataset",
}


def project_tasks():
    """The project's tasks from the Celery registry (not Celery's own)."""
    celery_app.loader.import_default_modules()
    return {
        name: task
        for name, task in celery_app.tasks.items()
        if name.startswith(("recommender.", "tenants.", "saas_platform."))
    }


def test_every_task_is_classified():
    problems = []
    for name, task in project_tasks().items():
        params = list(inspect.signature(task.run).parameters)
        if params[:1] == ["tenant_id"] and len(params) == 2:
            if name not in TASK_OBJECTS:
                problems.append(f"{name}{tuple(params)}: add it to TASK_OBJECTS")
            if not getattr(task.run, "binds_tenant", False):
                problems.append(f"{name}: decorate it with @tenant_task so it runs bound to its tenant")
        elif name not in TASKS_WITHOUT_TENANT_ARGUMENT:
            problems.append(f"{name}{tuple(params)}: neither (tenant_id, object_id) nor a listed maintenance task")
        elif not getattr(task.run, "cross_tenant", False):
            problems.append(f"{name}: a maintenance task is marked @maintenance_task")
    assert not problems, "\n".join(problems)


def test_tasks_given_another_tenants_id_do_nothing(estate, b_estate, tenant_a, tenant_b):
    """Each ``(tenant_id, object_id)`` task, called with B's tenant and A's object, leaves both tenants as they were."""
    from recommender.data.models import Dataset, ImportJob
    from recommender.serving.models import BatchJob
    from recommender.training.models import ModelConfig, TrainingRun

    # Put A's objects back in the state where the task would act, so doing nothing is meaningful.
    TrainingRun.objects.unscoped().filter(pk=estate.run.pk).update(status="queued")
    BatchJob.objects.unscoped().filter(pk=estate.batch_job.pk).update(status="queued")
    ImportJob.objects.unscoped().filter(pk=estate.import_job.pk).update(status="queued")
    Dataset.objects.unscoped().filter(pk=estate.dataset.pk).update(stats={}, stats_updated_at=None)
    targets = {
        "run": estate.run.pk,
        "config": ModelConfig.objects.get(tenant=tenant_a.tenant).pk,
        "batch-job": estate.batch_job.pk,
        "import": estate.import_job.pk,
        "dataset": estate.dataset.pk,
    }
    before_a, before_b = snapshot(tenant_a.tenant), snapshot(tenant_b.tenant)
    tasks = project_tasks()
    for name, kind in TASK_OBJECTS.items():
        with suppress(Exception):  # refusing by raising is as good as doing nothing; the rows are the test
            tasks[name].apply(args=[tenant_b.tenant.pk, targets[kind]]).get(propagate=False)
    assert snapshot(tenant_a.tenant) == before_a
    assert snapshot(tenant_b.tenant) == before_b
    # And the same calls with A's own tenant do act: the probe can tell "refused" from "broken".
    tasks["recommender.serving.tasks.run_batch"].apply(args=[tenant_a.tenant.pk, estate.batch_job.pk])
    assert BatchJob.objects.unscoped().get(pk=estate.batch_job.pk).status == "succeeded"
    tasks["recommender.data.tasks.refresh_stats"].apply(args=[tenant_a.tenant.pk, estate.dataset.pk])
    assert Dataset.objects.unscoped().get(pk=estate.dataset.pk).stats_updated_at is not None


def test_the_estate_covers_every_kind_of_object(estate):
    """Every kind the routes name has an object of A's (a new kind added above without one fails here)."""
    kinds = set(KWARG_KINDS.values()) | set(PK_KINDS.values())
    assert kinds <= set(estate.objects()), kinds - set(estate.objects())
    assert set(MISSING) >= kinds
    json.dumps(estate.objects())  # plain values, usable in URLs
