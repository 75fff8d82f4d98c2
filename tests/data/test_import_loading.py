"""Interactions streamed straight into their table by binary COPY: same rows as the staged merge, all or nothing."""

import numpy as np
import pytest

from recommender.data import frames
from recommender.data.importing import binary_copy, loaders, validation
from recommender.data.models import Interaction

pytestmark = pytest.mark.django_db

HEADER = "user_id,item_id,timestamp,event_type,value\n"
# Timestamps of every shape (ISO with fractions, seconds, milliseconds, before 1970, none), values and
# ids of every kind: the binary rows must store exactly what the staged merge stores.
VARIED = HEADER + (
    "u2,i1,2024-05-01T10:00:00.123456Z,view,\n"
    "u1,i2,1714557600.5,buy,19.99\n"
    "u2,i3,1714557600123,click,-0.0\n"
    "u1,i4,1900-01-01T00:00:01Z,,1e-300\n"
    "é-ü,i5,-1234.000001,view,3\n"
    "u3,i6,,view,\n"
    "u1,i7,2199-12-31T23:59:59.999999Z,view,1.7976931348623157e308\n"
)


def stored(dataset):
    return list(
        Interaction.objects.unscoped()
        .filter(dataset=dataset)
        .order_by("id")
        .values_list("tenant_id", "user_id", "item_id", "timestamp", "event_type", "value", "event_id")
    )


@pytest.fixture
def small_blocks(monkeypatch, settings):
    """Read a few rows a chunk and send each chunk to the COPY at once: rows reach the table early."""
    # Arrow's CSV block is the line-length limit.
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "LINE_BYTES": 64}}
    monkeypatch.setattr(loaders.InteractionCopy, "SORT_ROWS", 2)
    sent = []
    rows = binary_copy.rows
    monkeypatch.setattr(binary_copy, "rows", lambda prefix, fields: sent.append(len(fields[0])) or rows(prefix, fields))
    return sent


def test_binary_rows_store_what_the_staged_merge_stores(tenant_a, make_dataset, upload, monkeypatch):
    copied = make_dataset(tenant_a, name="copied")
    _, job = upload(tenant_a, copied, VARIED)
    assert job["status"] == "succeeded" and job["rows_loaded"] == 7, job

    def staged(dataset, *args, **kwargs):
        return loaders.PostgresStaging(dataset)

    monkeypatch.setattr("recommender.data.importing.runner.staging_for", staged)
    merged = make_dataset(tenant_a, name="merged")
    _, job = upload(tenant_a, merged, VARIED)
    assert job["status"] == "succeeded" and job["rows_loaded"] == 7, job

    assert stored(copied) == stored(merged)
    copied_arrays, merged_arrays = frames.interactions_arrays(copied), frames.interactions_arrays(merged)
    for name in ("user_ids", "item_ids", "user_index", "item_index", "timestamps", "event_index"):
        assert np.array_equal(getattr(copied_arrays, name), getattr(merged_arrays, name)), name
    assert np.array_equal(copied_arrays.weights, merged_arrays.weights, equal_nan=True)
    # Grouped by user, each user's rows in file order.
    assert [row[1:3] for row in stored(copied)] == [
        ("u1", "i2"), ("u1", "i4"), ("u1", "i7"), ("u2", "i1"), ("u2", "i3"), ("u3", "i6"), ("é-ü", "i5")
    ]  # fmt: skip


def test_a_bad_row_after_rows_were_copied_rolls_the_whole_import_back(tenant_a, make_dataset, upload, small_blocks):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, HEADER + "u0,i0,1700000000,view,\n")
    before = stored(dataset)
    lines = [f"u{n % 7},i{n},{1_700_000_000 + n},view,{n}" for n in range(200)]
    lines[150] = "u1,,1700000150,view,1"
    _, job = upload(tenant_a, dataset, HEADER + "\n".join(lines) + "\n")
    assert sum(small_blocks) > 100, "rows were in the table before the bad row was read"
    assert job["status"] == "failed" and job["rows_loaded"] == 0
    assert job["errors"] == [{"line": 152, "column": "item_id", "reason": "is missing or empty"}]
    assert stored(dataset) == before


def test_skip_loads_the_good_rows_of_every_chunk(tenant_a, make_dataset, upload, small_blocks):
    dataset = make_dataset(tenant_a)
    lines = [f"u{n % 7},i{n},{1_700_000_000 + n},view,{n}" for n in range(200)]
    for bad in (3, 90, 199):
        lines[bad] = f"u{bad},i{bad},never,view,1"
    _, job = upload(tenant_a, dataset, HEADER + "\n".join(lines) + "\n", on_error="skip")
    assert job["status"] == "succeeded" and (job["rows_loaded"], job["rows_rejected"]) == (197, 3)
    rows = stored(dataset)
    assert sorted(int(item[1:]) for _, _, item, *_ in rows) == [n for n in range(200) if n not in (3, 90, 199)]
    for user in {row[1] for row in rows}:
        items = [int(row[2][1:]) for row in rows if row[1] == user]
        assert items == sorted(items), "a user's rows keep their file order"


def test_a_row_the_server_refuses_fails_the_import_cleanly(tenant_a, make_dataset, upload, monkeypatch):
    """Should validation ever let through what the table refuses, the COPY's error fails the import."""
    dataset = make_dataset(tenant_a)
    monkeypatch.setattr(validation, "MAX_ID_LENGTH", 1000)
    _, job = upload(tenant_a, dataset, HEADER + "u1,i1,1700000000,view,\nu2," + "x" * 300 + ",1700000001,view,\n")
    assert job["status"] == "failed" and "unexpected error" in job["message"]
    assert not Interaction.objects.unscoped().filter(dataset=dataset).exists()
    monkeypatch.undo()
    _, job = upload(tenant_a, dataset, HEADER + "u1,i1,1700000000,view,\n")
    assert job["status"] == "succeeded", "the connection is usable again"
    assert len(stored(dataset)) == 1


def test_files_with_event_ids_and_json_lines_are_merged_from_staging(tenant_a, make_dataset):
    from recommender.data.importing.loaders import InteractionCopy, PostgresStaging, staging_for

    dataset = make_dataset(tenant_a)
    assert isinstance(staging_for(dataset, ["timestamp"]), InteractionCopy)
    staged = [staging_for(dataset, ["event_id"]), staging_for(dataset, ["timestamp"], columns_fixed=False)]
    assert all(isinstance(staging, PostgresStaging) for staging in staged)
    for staging in staged:
        staging.close()
