"""Bad files and bad rows: clear errors with line, column and reason; a failed import changes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recommender.data.models import Interaction
from tenants.selectors import forget_cached_key

from .conftest import gzipped

pytestmark = pytest.mark.django_db

GOOD = "user_id,item_id,timestamp\nu1,i1,1700000000\nu2,i2,1700000001\n"


def snapshot(tenant):
    return sorted(Interaction.objects.for_tenant(tenant).values_list("id", "user_id", "item_id", "timestamp", "value"))


@pytest.fixture
def loaded(tenant_a, make_dataset, upload):
    """A dataset that already holds two rows."""
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, GOOD)
    assert job["status"] == "succeeded"
    return dataset


BAD_ROWS = {
    "empty id": ("u3,,1700000002", "item_id", "is missing or empty"),
    "long id": ("u3," + "x" * 257 + ",1700000002", "item_id", "at most 256"),
    "bad timestamp": ("u3,i3,yesterday", "timestamp", "'yesterday' is not a timestamp"),
    "microseconds": ("u3,i3,1700000000000000", "timestamp", "is not a timestamp"),
    "too many fields": ("u3,i3,1700000002,extra", "", "has 4 fields where 3 were expected"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_fails_the_import_and_changes_nothing(tenant_a, loaded, upload, case):
    bad_line, column, reason = BAD_ROWS[case]
    before = snapshot(tenant_a.tenant)
    content = "user_id,item_id,timestamp\nu9,i9,1700000003\nu8,i8,1700000004\n" + bad_line + "\nu7,i7,1700000005\n"
    _, job = upload(tenant_a, loaded, content)
    assert job["status"] == "failed"
    assert job["errors"][0]["line"] == 4 and job["errors"][0]["column"] == column
    assert reason in job["errors"][0]["reason"]
    assert "nothing was imported" in job["message"] and "line 4" in job["message"]
    assert job["rows_loaded"] == 0 and job["rows_rejected"] == 1
    assert snapshot(tenant_a.tenant) == before


def test_value_that_is_not_a_number_names_its_mapped_column(tenant_a, loaded, upload):
    _, job = upload(tenant_a, loaded, "user,item,score\nu1,i1,5\nu2,i2,lots\n", column_mapping={
        "user": "user_id", "item": "item_id", "score": "value"
    })  # fmt: skip
    assert job["status"] == "failed"
    assert job["errors"] == [{"line": 3, "column": "score", "reason": "'lots' is not a number"}]


def test_on_error_skip_loads_the_good_rows_and_reports_the_rest(tenant_a, loaded, upload):
    content = "user_id,item_id,timestamp\nu3,i3,1700000002\n,i4,1700000003\nu5,i5,soon\nu6,i6,1700000005\n"
    _, job = upload(tenant_a, loaded, content, on_error="skip")
    assert job["status"] == "succeeded"
    assert (job["rows_loaded"], job["rows_rejected"], job["error_count"]) == (2, 2, 2)
    assert [(error["line"], error["column"]) for error in job["errors"]] == [(3, "user_id"), (4, "timestamp")]
    assert "2 bad rows were skipped" in job["message"]
    assert Interaction.objects.for_tenant(tenant_a.tenant).count() == 4


def test_only_the_first_hundred_errors_are_kept_but_all_are_counted(tenant_a, loaded, upload):
    content = "user_id,item_id\n" + "".join(f"u{n},\n" for n in range(250))
    _, job = upload(tenant_a, loaded, content, on_error="skip")
    assert job["status"] == "failed"
    assert len(job["errors"]) == 100 and job["error_count"] == 250 and job["rows_rejected"] == 250
    assert job["errors"][0]["line"] == 2 and job["errors"][99]["line"] == 101
    assert "None of the 250 rows" in job["message"]


@pytest.mark.parametrize(
    "content, name, message",
    [
        (b"", "empty.csv", "file is empty."),
        (b"user_id,item_id\n", "header-only.csv", "The file has no data rows."),
        (
            b"user,item\nu1,i1\n",
            "wrong-columns.csv",
            "The file has no 'user_id' or 'item_id' column (its columns: user, item)",
        ),
        (b"user_id,item_id\nu1,i1\nu2,\xff\xfe\n", "latin.csv", "Line 3 is not valid UTF-8 text"),
        (b"PAR1 this is not parquet", "broken.parquet", "not a readable Parquet file"),
        (gzipped(GOOD)[:20], "cut.csv.gz", "ends early: the upload is probably truncated"),
    ],
    ids=["empty", "header only", "missing columns", "undecodable", "broken parquet", "truncated gzip"],
)
def test_whole_file_problems_have_a_clear_message(tenant_a, loaded, upload, content, name, message):
    before = snapshot(tenant_a.tenant)
    response, job = upload(tenant_a, loaded, content, name=name)
    if job is None:  # an empty upload is refused at once
        assert response.status_code == 400 and message in response.json()["error"]["message"]
        return
    assert job["status"] == "failed" and message in job["message"], job["message"]
    assert snapshot(tenant_a.tenant) == before


def test_jsonl_lines_that_are_not_objects_are_reported_by_line(tenant_a, loaded, upload):
    content = (
        '{"user_id": "u1", "item_id": "i1"}\n[1, 2]\n{"user_id": "u2", "item_id": \n\n{"user_id": 7, "item_id": 8}\n'
    )
    _, job = upload(tenant_a, loaded, content, name="events.jsonl", on_error="skip")
    assert job["status"] == "succeeded" and job["rows_loaded"] == 2
    assert [(error["line"], error["reason"][:15]) for error in job["errors"]] == [
        (2, "is not a JSON o"),
        (3, "is not valid JS"),
    ]


def test_mapping_a_column_the_file_lacks_is_an_error(tenant_a, loaded, upload):
    _, job = upload(tenant_a, loaded, GOOD, column_mapping={"userId": "user_id"})
    assert job["status"] == "failed" and "names the column 'userId'" in job["message"]


def test_upload_over_the_plan_limit_is_refused_with_413(tenant_a, loaded):
    plan = tenant_a.tenant.plan
    plan.max_upload_bytes = 1000
    plan.save()
    forget_cached_key()  # the API key cache holds the tenant and its plan for a second
    response = tenant_a.client.post(
        f"/api/v1/datasets/{loaded.pk}/imports",
        {"file": SimpleUploadedFile("big.csv", GOOD.encode() * 40)},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "1000 bytes" in response.json()["error"]["message"]
    huge = tenant_a.client.post(
        f"/api/v1/datasets/{loaded.pk}/imports",
        {"file": SimpleUploadedFile("huge.csv", GOOD.encode() * 5000)},
        format="multipart",
    )
    assert huge.status_code == 413


def test_plan_row_quota_fails_the_import_and_changes_nothing(tenant_a, loaded, upload):
    plan = tenant_a.tenant.plan
    plan.max_rows = 3
    plan.save()
    before = snapshot(tenant_a.tenant)
    _, job = upload(tenant_a, loaded, "user_id,item_id\nu3,i3\nu4,i4\n")
    assert job["status"] == "failed"
    assert "limit of 3 rows" in job["message"] and "Nothing was imported" in job["message"]
    assert snapshot(tenant_a.tenant) == before
    assert tenant_a.client.get(f"/api/v1/datasets/{loaded.pk}").json()["row_count"] == 2


def test_invalid_options_are_refused_at_upload(tenant_a, loaded, upload):
    response, _ = upload(tenant_a, loaded, GOOD, delimiter=";;", on_error="maybe")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"delimiter", "on_error"}


def test_the_upload_is_stored_under_the_tenant_with_a_random_name(tenant_a, loaded, upload, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    _, job = upload(tenant_a, loaded, "user_id,item_id\nu1,\n", name="../../etc/passwd.csv")
    assert job["status"] == "failed" and job["file_name"] == "passwd.csv"
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 1 and files[0].parent == tmp_path / "tenants" / str(tenant_a.tenant.pk) / "uploads"


@pytest.mark.parametrize("field", ["format", "on_error", "has_header"])
def test_an_empty_option_is_refused_naming_it_not_read_as_left_out(tenant_a, loaded, upload, field):
    """Found by schemathesis: `format=` (empty) was read as "detect the format" where the schema's enum refuses it."""
    response, _ = upload(tenant_a, loaded, GOOD, **{field: ""})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [field]
