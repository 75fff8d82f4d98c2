"""The bad-input corpus (tests/data/bad_inputs/): every file and payload gets its documented answer.

``manifest.json`` beside the files says, for each, what the platform answers: a
clear error naming the line and column (or, for the whole file, the reason and
the line), or a documented handling (stored as text, sniffed, dropped BOM...).
Each case is sent through the API into a tenant that already holds data, and
the tenant's data is compared before and after: a refused input changes
nothing, an accepted one only adds its own rows.
"""

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recommender.data.models import Dataset, EndUser, Interaction, Item, TabularRow
from recommender.data.services import create_dataset
from tenants.audit import Actor
from tenants.selectors import forget_cached_key

from ..factories import make_interactions_dataset
from ..serving.conftest import train_model

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
TEN_MB = 10 * 1024 * 1024


def _generated(name):
    """Contents too big (or too trivial) to commit: ``(file name, bytes, extra form fields)``."""
    if name == "ten_megabyte_single_line.csv":
        return name, b"user_id,item_id\nu1,i1\nu2," + b"x" * TEN_MB + b"\nu3,i3\n", {}
    if name == "ten_megabyte_id.jsonl":
        return name, b'{"user_id": "u1", "item_id": "' + b"x" * TEN_MB + b'"}\n', {}
    if name == "gzip_bomb.csv.gz":
        return name, gzip.compress(b"user_id,item_id\nu1," + b"a" * (50 * 1024 * 1024) + b"\n", mtime=0), {}
    if name == "empty.csv":
        return name, b"", {}
    if name == "over_the_plan.csv":
        return name, b"user_id,item_id\n" + b"u1,i1\n" * 400, {}
    if name == "deeply_nested_column_mapping.csv":
        return "clicks.csv", b"user_id,item_id\nu1,i1\n", {"column_mapping": "[" * 5000 + "]" * 5000}
    raise AssertionError(f"the manifest names a generated input this test cannot make: {name}")


def _case_id(case):
    suffix = "-" + "-".join(f"{key}={value}" for key, value in case["options"].items()) if "options" in case else ""
    return (case.get("file") or case.get("payload") or case["generated"]) + suffix


# --- the tenant's existing data, and its fingerprint -----------------------------------------------------


@pytest.fixture
def holdings(tenant_a):
    """Tenant A with data in every table an import or payload could touch, and a dataset of each kind."""
    tenant = tenant_a.tenant
    actor = Actor.system(tenant)
    datasets = {"interactions": make_interactions_dataset(tenant, name="existing clicks")}
    datasets["items"] = create_dataset(actor=actor, name="catalogue", kind=Dataset.Kind.ITEMS)
    datasets["tabular"] = create_dataset(actor=actor, name="churn", kind=Dataset.Kind.TABULAR, target_column="churned")
    Item.objects.bulk_create(Item(tenant=tenant, item_id=f"kept-{n}", title=f"Kept {n}") for n in range(5))
    EndUser.objects.bulk_create(EndUser(tenant=tenant, user_id=f"kept-{n}", features={"n": n}) for n in range(5))
    TabularRow.objects.bulk_create(
        TabularRow(tenant=tenant, dataset=datasets["tabular"], data={"tenure": n, "churned": n % 2}) for n in range(5)
    )
    tenant_a.datasets = datasets
    return tenant_a


TABLES = {
    Interaction: ("dataset_id", "user_id", "item_id", "timestamp", "event_type", "value", "event_id"),
    Item: ("item_id", "title", "categories", "features", "is_active"),
    EndUser: ("user_id", "features"),
    TabularRow: ("dataset_id", "data"),
}


def fingerprint(tenant, up_to=None):
    """Per table: row count and a checksum of every row (rows with ``pk <= up_to[table]`` when given)."""
    result = {}
    for model, fields in TABLES.items():
        rows = model.objects.filter(tenant=tenant)
        if up_to is not None:
            rows = rows.filter(pk__lte=up_to[model.__name__])
        values = sorted(json.dumps(row, default=str, sort_keys=True) for row in rows.values("pk", *fields))
        result[model.__name__] = (len(values), hashlib.sha256("\n".join(values).encode()).hexdigest())
    result["row_counts"] = sorted(Dataset.objects.filter(tenant=tenant).values_list("name", "row_count"))
    return result


def newest_pks(tenant):
    return {
        model.__name__: (model.objects.filter(tenant=tenant).order_by("-pk").values_list("pk", flat=True).first() or 0)
        for model in TABLES
    }


def assert_error_shape(response, message):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert message in json.dumps(body, ensure_ascii=False), body


# --- file imports ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", MANIFEST["imports"], ids=_case_id)
def test_each_bad_file_gets_its_documented_answer_and_changes_nothing_else(
    holdings, django_capture_on_commit_callbacks, case
):
    tenant = holdings.tenant
    if "generated" in case:
        name, content, fields = _generated(case["generated"])
    else:
        name, content, fields = case["file"], (CORPUS / case["file"]).read_bytes(), {}
    if case["answer"] == 413:
        tenant.plan.max_upload_bytes = 1000
        tenant.plan.save()
        forget_cached_key()
    fields = {**fields, **case.get("options", {})}
    dataset = holdings.datasets[case["dataset"]]
    before, pks = fingerprint(tenant), newest_pks(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        response = holdings.client.post(
            f"/api/v1/datasets/{dataset.pk}/imports",
            {"file": SimpleUploadedFile(name, content), **fields},
            format="multipart",
        )
    assert response.status_code == case["answer"], response.content[:500]
    if case["answer"] != 202:
        assert_error_shape(response, case["message"])
        assert fingerprint(tenant) == before
        return

    job = holdings.client.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["status"] == case["status"], (job["message"], job["errors"][:3])
    assert case.get("message", "") in job["message"], job["message"]
    for expected, found in zip(case.get("errors", []), job["errors"], strict=False):
        assert (found["line"], found["column"]) == (expected["line"], expected["column"]), job["errors"]
        assert expected["reason"] in found["reason"], found
    assert len(job["errors"]) >= len(case.get("errors", []))
    # Row problems always say where: a line from 1 and a column (empty for a line that did not parse).
    assert all(isinstance(e["line"], int) and e["line"] >= 1 and isinstance(e["column"], str) for e in job["errors"])
    if case["status"] == "failed":
        assert job["rows_loaded"] == 0
        assert fingerprint(tenant) == before
    else:
        assert job["rows_loaded"] == case["rows_loaded"]
        after = fingerprint(tenant, up_to=pks)
        assert {table: after[table] for table in ("Interaction", "Item", "EndUser", "TabularRow")} == {
            table: before[table] for table in ("Interaction", "Item", "EndUser", "TabularRow")
        }, "an accepted import changed rows that were there before it"


# --- API payloads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", MANIFEST["payloads"], ids=_case_id)
def test_each_bad_payload_gets_its_documented_answer(holdings, case):
    tenant = holdings.tenant
    if case.get("generated") == "too_many_events":
        body = json.dumps({"events": [{"user_id": "u", "item_id": "i"}] * 1001})
    else:
        body = (CORPUS / case["payload"]).read_text()
    before, pks = fingerprint(tenant), newest_pks(tenant)
    response = getattr(holdings.client, case["method"])(case["path"], body, content_type="application/json")
    assert response.status_code == case["answer"], response.content[:500]
    if case["answer"] >= 400:
        assert_error_shape(response, case["message"])
        assert fingerprint(tenant) == before
        return
    if case["path"] == "/api/v1/events":
        answer = response.json()
        assert answer["accepted"] == case["accepted"], answer
        assert [(r["index"], r["field"]) for r in answer["rejected"]] == [
            (r["index"], r["field"]) for r in case["rejected"]
        ]
        for expected, found in zip(case["rejected"], answer["rejected"], strict=True):
            assert expected["reason"] in found["reason"]
    assert fingerprint(tenant, up_to=pks)["Interaction"] == before["Interaction"]


def test_the_corpus_holds_at_least_thirty_inputs_and_every_file_is_in_the_manifest():
    listed = {case.get("file") or case.get("payload") for case in MANIFEST["imports"] + MANIFEST["payloads"]}
    on_disk = {path.name for path in CORPUS.iterdir() if path.name not in {"manifest.json", "README.md", "generate.py"}}
    assert on_disk <= listed, on_disk - listed
    assert len(MANIFEST["imports"]) + len(MANIFEST["payloads"]) >= 30
    assert all(case["handling"] for case in MANIFEST["imports"] + MANIFEST["payloads"])
    readme = (CORPUS / "README.md").read_text()
    named = listed | {case.get("generated") for case in MANIFEST["imports"] + MANIFEST["payloads"]}
    assert not [name for name in named - {None} if name not in readme], "README.md lags manifest.json"


# --- exports ---------------------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_batch_exports_escape_formula_cells(tenant_a, django_capture_on_commit_callbacks):
    """Ids that a spreadsheet would run as formulas come out of the CSV export as text ('-prefixed)."""
    dataset = make_interactions_dataset(tenant_a.tenant, n_users=6, n_items=8)
    formulas = ["=cmd|' /C calc'!A0", "+1-1", "-2+3", "@SUM(A1)", '=HYPERLINK("http://evil.example")']
    for number, formula in enumerate(formulas):
        Interaction.objects.filter(tenant=tenant_a.tenant, item_id=f"i{number}").update(item_id=formula)
        Interaction.objects.filter(tenant=tenant_a.tenant, user_id=f"u{number}").update(user_id=f"{formula}u")
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="recs", recipe="popularity", dataset=dataset)
    with django_capture_on_commit_callbacks(execute=True):
        job = tenant_a.client.post("/api/v1/models/recs/batch-recommendations", {"k": 8}, format="json").json()
    response = tenant_a.client.get(f"/api/v1/batch-jobs/{job['id']}/download")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = [cell for row in rows[1:] for column, cell in enumerate(row) if column in (0, 2)]
    assert any(cell.startswith("'=") for cell in cells)  # the formulas are there, escaped
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
