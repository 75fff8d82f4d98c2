"""Records with many distinct keys are refused before a frame is built over their union (it costs rows × keys).

The attack: 300 events × 300 distinct keys in one batch took 27 s and stalled another tenant; an 800-line
JSON Lines file with 25 new keys per line took a worker from 261 MB to 1.2 GB. Scaled down here, with the
limit lowered so each case takes a fraction of a second.
"""

import json

import pandas as pd
import pytest

from recommender.data.models import Interaction, Item

from .conftest import gzipped, parquet_bytes

pytestmark = pytest.mark.django_db

LIMIT = 20


@pytest.fixture(autouse=True)
def _small_key_limit(settings):
    settings.PLATFORM = {**settings.PLATFORM, "LIMITS": {**settings.PLATFORM["LIMITS"], "FEATURE_KEYS": LIMIT}}


def _event(n, extra_keys=()):
    return {"user_id": f"u{n}", "item_id": f"i{n}", **{key: 1 for key in extra_keys}}


def test_a_batch_whose_events_bring_too_many_distinct_keys_is_refused_naming_the_limit(tenant_a):
    # Each event alone is small; together they name 5 × 10 distinct keys.
    events = [_event(n, [f"k{n}_{key}" for key in range(10)]) for n in range(5)]
    response = tenant_a.client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert f"more than {LIMIT} distinct keys" in message and "FEATURE_KEYS" in message, message
    assert message.startswith("events: Event 1 "), "it names the event that passed the limit"
    assert Interaction.objects.unscoped().count() == 0


def test_one_event_with_too_many_keys_is_refused_and_a_batch_within_the_limit_is_stored(tenant_a):
    wide = _event(0, [f"k{key}" for key in range(LIMIT)])
    response = tenant_a.client.post("/api/v1/events", {"events": [wide]}, format="json")
    assert response.status_code == 400
    assert f"Event 0 has {LIMIT + 2} keys; a record may have at most {LIMIT}" in response.json()["error"]["message"]

    shared = [_event(n, ["colour", "size"]) for n in range(50)]
    assert tenant_a.client.post("/api/v1/events", {"events": shared}, format="json").json()["accepted"] == 50


def test_catalogue_items_count_their_nested_features(tenant_a):
    items = [{"item_id": f"i{n}", "features": {f"f{n}_{key}": key for key in range(8)}} for n in range(4)]
    response = tenant_a.client.put("/api/v1/items", items, format="json")
    assert response.status_code == 400
    assert "Item 2 brings the catalogue to more than" in response.json()["error"]["message"]
    assert Item.objects.unscoped().count() == 0


def test_a_json_lines_file_with_too_many_distinct_keys_fails_at_the_line_that_passes_the_limit(
    tenant_a, make_dataset, upload
):
    dataset = make_dataset(tenant_a, kind="items")
    # item_id and five new keys a line: 6, 11, 16, then 21 distinct keys at line 4.
    lines = [json.dumps({"item_id": f"i{n}", **{f"k{n}_{key}": key for key in range(5)}}) for n in range(800)]
    _, job = upload(tenant_a, dataset, gzipped("\n".join(lines) + "\n"), name="items.jsonl.gz")
    assert job["status"] == "failed"
    assert job["message"].startswith(f"Line 4 brings the file to more than {LIMIT} distinct keys"), job["message"]
    assert Item.objects.unscoped().count() == 0


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_with_too_many_columns_fails_before_its_rows_are_read(tenant_a, make_dataset, upload, kind):
    dataset = make_dataset(tenant_a, kind="items")
    frame = pd.DataFrame(
        [[f"i{n}", *range(LIMIT + 5)] for n in range(3)],
        columns=["item_id"] + [f"c{column}" for column in range(LIMIT + 5)],
    )
    content = frame.to_csv(index=False) if kind == "csv" else parquet_bytes(frame)
    _, job = upload(tenant_a, dataset, content, name=f"items.{kind}")
    assert job["status"] == "failed"
    assert f"The file has {LIMIT + 6} columns" in job["message"] and f"at most {LIMIT}" in job["message"]
    assert Item.objects.unscoped().count() == 0


def _items(prefix, count=3, keys=8):
    return [
        {"item_id": f"{prefix}{n}", "features": {f"{prefix}_{key}": key for key in range(keys)}} for n in range(count)
    ]


def test_the_catalogue_learns_its_keys_so_many_small_batches_cannot_add_up_past_the_limit(
    tenant_a, make_dataset, upload
):
    # item_id, features and eight feature names: 10 keys; a second batch with eight new ones makes 18; a third, 26.
    assert tenant_a.client.put("/api/v1/items", _items("a"), format="json").status_code == 200
    assert tenant_a.client.put("/api/v1/items", _items("b"), format="json").status_code == 200
    refused = tenant_a.client.put("/api/v1/items", _items("c"), format="json")
    assert refused.status_code == 400
    assert "Item 0 brings the catalogue to more than 20 distinct keys" in refused.json()["error"]["message"]
    assert tenant_a.client.put("/api/v1/items", _items("a", count=5), format="json").status_code == 200, "known keys"

    lines = [json.dumps(item) for item in _items("d")]
    _, job = upload(tenant_a, make_dataset(tenant_a, kind="items"), "\n".join(lines) + "\n", name="more.jsonl")
    assert job["status"] == "failed"
    assert job["message"].startswith(
        "The catalogue would use 26 distinct keys; a tenant's catalogue may use at most 20"
    )
    assert not Item.objects.unscoped().filter(item_id__startswith="d").exists()
