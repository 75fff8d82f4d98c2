"""The published contract, checked by Schemathesis' own command line against a live server.

A tenant with data (interactions, an item catalogue, an import, a batch job) and
a trained, deployed model is seeded in the test database; gunicorn serves it
with production settings on a free loopback port; then ``schemathesis run``
calls ``/api/v1/schema/`` with every phase (examples, coverage, fuzzing,
stateful) and every check. Zero failures is the bar: a 5xx, a request the
schema forbids but the API accepts, one the schema allows but the API refuses,
an undocumented status, content type or body.

The normal suite runs a bounded, fixed-seed pass; ``make test-reliability``
runs many more examples with a fresh seed. By hand (the report, with curl
commands reproducing each failure, is printed)::

    FUZZ_EXAMPLES=50 FUZZ_SEED=7 .venv/bin/python -m pytest tests/security/test_api_contract.py -s

Checks narrowed, and why, are listed in ``schemathesis.toml`` beside this file. This replaces the
earlier in-process fuzzing test, which ran two phases with four checks. The two tests at the end keep
the schema's links and docs/api.md's table of statuses true to the served schema.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.schema import LINKS

from ..factories import make_api_key
from ..reliability.stack import Gunicorn, production_env
from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db(transaction=True)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# Examples per operation and phase: a few in CI (fixed seed), many in the reliability run (fresh seed).
QUICK = {"examples": 8, "seed": 21}
DEEP = {"examples": int(os.environ.get("FUZZ_EXAMPLES", "80")), "seed": os.environ.get("FUZZ_SEED")}


def seed_world(world, capture):
    """Tenant A's data and a deployed model 'recs' (the fastest recipe); returns the key to fuzz with.

    The key schemathesis uses is a separate one, made last: the fuzzer revoking keys it can see by id
    (the stateful phase lists keys and deletes them) must not revoke its own mid-run, so its id is kept
    out of what generated requests reach (see ``schemathesis.toml``)."""
    dataset = train_model(world, capture, slug="recs", recipe="popularity")
    client = world.client
    with capture(execute=True):
        batch = client.post("/api/v1/models/recs/batch-recommendations", {"user_ids": ["u1"]}, format="json")
        assert batch.status_code == 202
        upload = SimpleUploadedFile("clicks.csv", b"user_id,item_id\nu1,i1\n", content_type="text/csv")
        imported = client.post(f"/api/v1/datasets/{dataset.pk}/imports", {"file": upload}, format="multipart")
        assert imported.status_code == 202
    items = [{"item_id": f"i{n}", "title": f"Item {n}", "categories": ["c"]} for n in range(60)]
    assert client.put("/api/v1/items", items, format="json").status_code == 200
    spare, _ = make_api_key(world.tenant, name="spare")
    return world.api_key.pk, spare.pk, world.key


@pytest.fixture
def live_api(tmp_path, tenant_a, django_capture_on_commit_callbacks, settings):
    """gunicorn on the seeded test database; yields ``(base URL, API key)``."""
    key_id, spare_id, key = seed_world(tenant_a, django_capture_on_commit_callbacks)
    os.environ.update(FUZZ_KEY_ID=str(key_id), FUZZ_SPARE_KEY_ID=str(spare_id))  # read by contract_hooks
    connection.close()  # the server's workers must not wait on a transaction of ours
    server = Gunicorn(tmp_path, production_env(settings.REDIS_URL), workers=2)
    try:
        yield server.base, key
    finally:
        server.stop()


def run_schemathesis(base, key, *, examples, seed, report_dir):
    """``schemathesis run`` with every phase and every check; returns ``(exit code, output)``."""
    command = [
        str(SCHEMATHESIS), "--no-color", "--config-file", str(CONFIG), "run", f"{base}/api/v1/schema/",
        "--phases", "examples,coverage,fuzzing,stateful",  # every check: see schemathesis.toml
        "-H", f"Authorization: Api-Key {key}", "--max-examples", str(examples),
        "--report", "junit,har", "--report-dir", os.environ.get("FUZZ_REPORT_DIR", str(report_dir)), "--workers", "1",
    ]  # fmt: skip
    if seed is not None:
        command += ["--seed", str(seed)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    return result.returncode, result.stdout + result.stderr


def _assert_clean(base, key, code, output):
    print(output)
    assert code == 0, output[-20000:]
    # The run must have been a real one: the key still works, so the fuzzer was not locked out mid-run.
    assert requests.get(f"{base}/api/v1/tenant", headers={"Authorization": f"Api-Key {key}"}, timeout=10).ok


def test_schemathesis_finds_no_failure_with_every_phase_and_check(live_api, tmp_path):
    base, key = live_api
    code, output = run_schemathesis(base, key, report_dir=tmp_path / "report", **QUICK)
    _assert_clean(base, key, code, output)


@pytest.mark.reliability
def test_many_more_examples_with_a_fresh_seed_find_no_failure(live_api, tmp_path):
    base, key = live_api
    code, output = run_schemathesis(base, key, report_dir=tmp_path / "report", **DEEP)
    _assert_clean(base, key, code, output)


def _served_schema(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_link_leads_from_an_answer_to_an_operation_that_takes_its_value(client):
    """The links that let clients (and the stateful phase) chain calls: each attaches, and names a real
    operation and that operation's parameters."""
    schema = _served_schema(client)
    by_id = {operation["operationId"]: operation for _, operation in _operations(schema)}
    for path, method, status in LINKS:
        links = schema["paths"][path][method]["responses"][status]["links"]
        for link in links.values():
            target = by_id[link["operationId"]]
            names = {parameter["name"] for parameter in target.get("parameters", [])}
            assert set(link["parameters"]) <= names, (path, link)


def test_docs_list_every_error_status_of_every_operation(client):
    """docs/api.md's table of statuses per operation is the served schema's, operation by operation."""
    documented = {}
    for line in (ROOT / "docs" / "api.md").read_text().splitlines():
        match = re.fullmatch(r"\| `(\w+ /api/v1/\S*)` \| ([\d, ]+) \| ([\d, ]+) \|", line)
        if match:
            documented[match[1]] = {*match[2].split(", "), *match[3].split(", ")}
    served = {name: set(operation["responses"]) for name, operation in _operations(_served_schema(client))}
    assert documented == served
