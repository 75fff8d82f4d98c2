"""Imports are bounded while they stream: the plan's rows, decompressed size and ratio, line and value size.

The attacks, scaled down: a 26 KB ``rows.csv.gz`` holding 3M rows streamed for 37 s into the interactions
table of a tenant whose plan allows 1,000 rows before failing on the quota; an 815 KB gzip with one 800 MB
line took a worker to 2.8 GB; a 917 KB ``parquet.gz`` wrote a 901 MB temporary file. Each now stops at the
bound with a clear message, and nothing is loaded.
"""

import json

import pandas as pd
import pytest

from recommender.data.importing import sources
from recommender.data.models import Interaction, Item

from .conftest import gzipped, parquet_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    def set_limits(**values):
        settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], **values}}

    return set_limits


def _clicks(rows):
    return "user_id,item_id,timestamp\n" + "".join(f"u{n % 97},i{n % 89},{1_700_000_000 + n}\n" for n in range(rows))


def test_the_plans_row_quota_stops_the_stream_at_the_first_row_over_it(tenant_a, make_dataset, upload):
    plan = tenant_a.tenant.plan
    plan.max_rows = 1000
    plan.save()
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, gzipped(_clicks(200_000)), name="rows.csv.gz")
    assert job["status"] == "failed"
    # Line 1 is the header: row 1,001 is line 1,002.
    assert job["message"].startswith("Line 1002 is row 1001 of the file, over the standard plan's limit of 1000 rows")
    assert "Nothing was imported." in job["message"]
    assert job["rows_read"] <= 1000, "the rows past the quota were never staged"
    assert Interaction.objects.unscoped().count() == 0


def test_a_parquet_file_over_the_row_quota_fails_before_a_row_is_read(tenant_a, make_dataset, upload):
    plan = tenant_a.tenant.plan
    plan.max_rows = 10
    plan.save()
    frame = pd.DataFrame({"user_id": ["u"] * 11, "item_id": ["i"] * 11, "timestamp": range(11)})
    _, job = upload(tenant_a, make_dataset(tenant_a), parquet_bytes(frame), name="rows.parquet")
    assert job["status"] == "failed" and job["message"].startswith("The file has 11 rows, over the"), job
    assert job["rows_read"] == 0


@pytest.mark.parametrize("name", ["rows.csv.gz", "rows.jsonl.gz"])
def test_a_gzip_that_decompresses_past_the_ratio_is_cut_there(tenant_a, make_dataset, upload, monkeypatch, name):
    monkeypatch.setattr(sources, "RATIO_FREE_BYTES", 64 * 1024)
    if name.endswith(".csv.gz"):
        content = "user_id,item_id\n" + "u1,i1\n" * 200_000
    else:
        content = '{"user_id": "u1", "item_id": "i1"}\n' * 40_000
    packed = gzipped(content)
    assert len(content) > 100 * len(packed), "the test file must be a bomb"
    _, job = upload(tenant_a, make_dataset(tenant_a), packed, name=name)
    assert job["status"] == "failed"
    assert f"a file of {len(packed)} compressed bytes may decompress to 100 times that" in job["message"], job
    assert Interaction.objects.unscoped().count() == 0


def test_a_parquet_gz_is_unpacked_only_up_to_the_size_limit(tenant_a, make_dataset, upload, limits):
    frame = pd.DataFrame({"user_id": [f"u{n}" for n in range(5000)], "item_id": "i1", "timestamp": 1})
    content = parquet_bytes(frame)
    limits(DECOMPRESSED_BYTES=len(content) // 2)
    _, job = upload(tenant_a, make_dataset(tenant_a), gzipped(content), name="rows.parquet.gz")
    assert job["status"] == "failed"
    assert f"the most a file may decompress to is {len(content) // 2} bytes" in job["message"], job
    assert Interaction.objects.unscoped().count() == 0


def test_a_line_longer_than_the_limit_is_never_read_whole(tenant_a, make_dataset, upload, limits):
    limits(LINE_BYTES=4096)
    lines = [json.dumps({"item_id": "i1"}), json.dumps({"item_id": "i2", "title": "x" * 100_000})]
    _, job = upload(tenant_a, make_dataset(tenant_a, kind="items"), gzipped("\n".join(lines)), name="items.jsonl.gz")
    assert job["status"] == "failed"
    assert job["message"].startswith("Line 2 is longer than 4096 bytes, the most a line may hold (LINE_BYTES)")
    assert Item.objects.unscoped().count() == 0


@pytest.mark.parametrize("name", ["items.csv", "items.jsonl", "items.parquet"])
def test_a_value_over_the_field_limit_fails_the_import_naming_line_and_column(
    tenant_a, make_dataset, upload, limits, name
):
    limits(FIELD_BYTES=1000)
    frame = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "title": ["short", "short", "y" * 1001]})
    if name.endswith(".csv"):
        content, line = frame.to_csv(index=False), 4
    elif name.endswith(".jsonl"):
        content, line = frame.to_json(orient="records", lines=True), 3
    else:
        content, line = parquet_bytes(frame), 3
    _, job = upload(tenant_a, make_dataset(tenant_a, kind="items"), content, name=name)
    assert job["status"] == "failed"
    assert job["message"].startswith(f"Line {line}, column 'title': a value of 1001 bytes; a value may hold at most")
    assert Item.objects.unscoped().count() == 0
