"""What training and serving read: frames, snapshots, look-ups, statistics; and the ORM import path."""

import math

import numpy as np
import pytest
from django.http import Http404

from recommender.data import frames, selectors
from recommender.data.importing import loaders
from recommender.data.models import Dataset, Interaction

pytestmark = pytest.mark.django_db

CLICKS = (
    "user_id,item_id,timestamp,event_type,value\n"
    "u1,i1,2024-05-01T10:00:00Z,view,\n"
    "u1,i2,2024-05-02T10:00:00Z,buy,19.5\n"
    "u2,i1,2024-05-02T11:00:00Z,view,\n"
    "u3,i1,,view,\n"
)


@pytest.fixture
def clicks(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a, name="clicks")
    _, job = upload(tenant_a, dataset, CLICKS)
    assert job["status"] == "succeeded", job
    dataset.refresh_from_db()
    return dataset


def test_interactions_arrays_in_arrival_order(clicks):
    arrays = frames.interactions_arrays(clicks)
    assert arrays.user_id_per_row().tolist() == ["u1", "u1", "u2", "u3"]
    assert arrays.user_index.dtype == np.int32 and arrays.item_index.dtype == np.int32
    # The last row has no time: it takes the one of the row before it.
    assert arrays.timestamps[0] == 1714557600.0 and arrays.timestamps[3] == arrays.timestamps[2]
    assert arrays.weights[1] == 19.5 and math.isnan(arrays.weights[0])
    assert arrays.event_types[arrays.event_index].tolist() == ["view", "buy", "view", "view"]


def test_interactions_arrays_read_in_chunks_equal_one_read(clicks):
    whole, chunked = frames.interactions_arrays(clicks), frames.interactions_arrays(clicks, chunk_rows=1)
    for name in ("user_ids", "item_ids", "user_index", "item_index", "timestamps", "event_index"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
    assert np.array_equal(whole.weights, chunked.weights, equal_nan=True)


def test_interactions_arrays_of_an_empty_dataset(tenant_a, make_dataset):
    arrays = frames.interactions_arrays(make_dataset(tenant_a))
    assert arrays.n_rows == 0 and arrays.user_ids.tolist() == [] and arrays.timestamps is None


def test_snapshot_and_serving_lookups(tenant_a, clicks):
    snapshot = selectors.data_snapshot(clicks)
    assert snapshot["rows"] == 4 and snapshot["latest_timestamp"].startswith("2024-05-02T11:00:00")
    assert snapshot["latest_id"] == Interaction.objects.unscoped().latest("id").pk
    assert selectors.seen_item_ids(tenant_a.tenant, "u1") == {"i1", "i2"}
    assert selectors.seen_item_ids(tenant_a.tenant, "u1", dataset=clicks) == {"i1", "i2"}
    assert selectors.seen_item_ids(tenant_a.tenant, "nobody") == set()


def test_datasets_are_looked_up_within_the_tenant(tenant_a, tenant_b, clicks):
    assert selectors.get_dataset(tenant_a.tenant, clicks.pk) == clicks
    assert list(selectors.datasets_of(tenant_b.tenant)) == []
    with pytest.raises(Dataset.DoesNotExist):
        selectors.get_dataset(tenant_b.tenant, clicks.pk)
    with pytest.raises(Http404):
        selectors.get_dataset_or_404(tenant_b.tenant, clicks.pk)


def test_statistics_after_import(tenant_a, clicks):
    body = tenant_a.client.get(f"/api/v1/datasets/{clicks.pk}/stats").json()
    stats = body["stats"]
    assert (stats["users"], stats["items"], stats["interactions"]) == (3, 2, 4)
    assert stats["density"] == pytest.approx(4 / 6)
    assert stats["without_timestamp"] == 1
    assert stats["top_items"][0] == {"item_id": "i1", "count": 3}
    assert len(stats["events_per_day"]) == 90 and stats["events_per_day"][-1] == {"date": "2024-05-02", "count": 2}
    assert stats["users_by_activity"][:2] == [{"interactions": "1", "users": 2}, {"interactions": "2-4", "users": 1}]
    assert stats["time_span"]["days"] == pytest.approx(1 + 1 / 24)
    tenant_a.client.post(
        "/api/v1/events", {"events": [{"user_id": "u9", "item_id": "i9"}], "dataset": clicks.pk}, format="json"
    )
    fresh = tenant_a.client.get(f"/api/v1/datasets/{clicks.pk}/stats?refresh=true").json()["stats"]
    assert fresh["users"] == 4


def test_tabular_and_catalogue_frames(tenant_a, make_dataset, upload):
    table = make_dataset(tenant_a, kind="tabular", target_column="churn")
    upload(tenant_a, table, "age,plan,churn\n31,gold,1\n40,free,0\n")
    frame = frames.tabular_frame(table)
    assert frame.to_dict("records") == [
        {"age": 31, "plan": "gold", "churn": 1},
        {"age": 40, "plan": "free", "churn": 0},
    ]
    assert tenant_a.client.get(f"/api/v1/datasets/{table.pk}/stats").json()["stats"]["target_values"] == [
        {"value": 1, "count": 1},
        {"value": 0, "count": 1},
    ]
    tenant_a.client.put(
        "/api/v1/items",
        [{"item_id": "i1", "title": "T", "categories": ["a", "b"], "features": {"title": "x"}}],
        format="json",
    )
    items = frames.items_frame(tenant_a.tenant)
    assert items.to_dict("records") == [
        {"item_id": "i1", "title": "T", "categories": "a|b", "is_active": True, "feature_title": "x"}
    ]


def test_the_orm_import_path_behaves_like_copy(tenant_a, make_dataset, upload, monkeypatch):
    """SQLite and other databases stage in a file and merge with the ORM; same outcome, same all-or-nothing."""

    def file_staging(dataset, *args, **kwargs):
        return loaders.FileStaging(dataset)

    monkeypatch.setattr(loaders, "staging_for", file_staging)
    monkeypatch.setattr("recommender.data.importing.runner.staging_for", file_staging)
    clicks = make_dataset(tenant_a)
    _, job = upload(tenant_a, clicks, CLICKS + "u4,i4,1714557600,view,,\n", on_error="skip")
    assert job["status"] == "succeeded" and job["rows_loaded"] == 4 and job["rows_rejected"] == 1
    _, failed = upload(tenant_a, clicks, "user_id,item_id\nu5,i5\nu6,\n")
    assert failed["status"] == "failed" and Interaction.objects.unscoped().count() == 4
    catalogue = make_dataset(tenant_a, kind="items")
    upload(tenant_a, catalogue, "item_id,title,colour\ni1,Shoe,red\ni1,Shoe 2,blue\ni2,Hat,\n")
    _, job = upload(tenant_a, catalogue, "item_id,size\ni1,42\n")
    assert job["status"] == "succeeded"
    assert dict(tenant_a.tenant.items.values_list("item_id", "features")) == {
        "i1": {"colour": "blue", "size": 42},
        "i2": {},
    }
    assert tenant_a.tenant.items.get(item_id="i1").title == "Shoe 2"
