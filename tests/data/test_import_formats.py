"""Every file format and reading option lands the same rows."""

import json

import pandas as pd
import pytest

from recommender.data.models import Interaction, Item, TabularRow

from .conftest import gzipped, parquet_bytes

pytestmark = pytest.mark.django_db

ROWS = [("u1", "i1", 1_700_000_000), ("u2", "i2", 1_700_000_100), ("u1", "i3", 1_700_000_200)]
EXPECTED = {(user, item, float(second)) for user, item, second in ROWS}


def csv_text(delimiter=",", header=True, bom=False):
    lines = [delimiter.join(["user_id", "item_id", "timestamp"])] if header else []
    lines += [delimiter.join([user, item, str(second)]) for user, item, second in ROWS]
    return ("\ufeff" if bom else "") + "\n".join(lines) + "\n"


def jsonl_text():
    return "\n".join(json.dumps({"user_id": u, "item_id": i, "timestamp": s}) for u, i, s in ROWS) + "\n"


def parquet_content():
    return parquet_bytes(pd.DataFrame(ROWS, columns=["user_id", "item_id", "timestamp"]))


def stored(dataset):
    return {
        (row.user_id, row.item_id, row.timestamp.timestamp())
        for row in Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset)
    }


FILES = {
    "comma.csv": (csv_text(","), {}),
    "semicolon.csv": (csv_text(";"), {}),
    "tab.tsv": (csv_text("\t"), {}),
    "pipe.txt": (csv_text("|"), {"delimiter": "|"}),
    "bom.csv": (csv_text(",", bom=True), {}),
    "headerless.csv": (csv_text(",", header=False), {}),
    "events.jsonl": (jsonl_text(), {}),
    "events.parquet": (parquet_content(), {}),
    "no-extension": (jsonl_text(), {}),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", list(FILES))
def test_each_format_imports_the_same_rows(tenant_a, make_dataset, upload, name, compressed):
    content, options = FILES[name]
    dataset = make_dataset(tenant_a)
    file_name = f"{name}.gz" if compressed and name != "no-extension" else name
    _, job = upload(tenant_a, dataset, gzipped(content) if compressed else content, name=file_name, **options)
    assert job["status"] == "succeeded", job
    assert job["rows_loaded"] == 3 and job["rows_read"] == 3 and job["progress"] == 1.0
    assert stored(dataset) == EXPECTED


def test_gzip_is_recognised_by_its_magic_bytes_without_the_extension(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, gzipped(csv_text(";")), name="upload.csv")
    assert job["status"] == "succeeded", job
    assert stored(dataset) == EXPECTED


def test_headerless_csv_with_a_column_mapping(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    content = "".join(f"{second};view;{item};{user}\n" for user, item, second in ROWS)
    mapping = {"1": "timestamp", "2": "event_type", "3": "item_id", "4": "user_id"}
    _, job = upload(tenant_a, dataset, content, has_header="false", column_mapping=mapping)
    assert job["status"] == "succeeded", job
    assert stored(dataset) == EXPECTED
    assert set(Interaction.objects.unscoped().values_list("event_type", flat=True)) == {"view"}


def test_column_mapping_renames_header_columns(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    content = "userId,productId,ts,rating\n" + "".join(f"{u},{i},{s},4.5\n" for u, i, s in ROWS)
    mapping = {"userId": "user_id", "productId": "item_id", "ts": "timestamp", "rating": "value"}
    _, job = upload(tenant_a, dataset, content, column_mapping=mapping)
    assert job["status"] == "succeeded", job
    assert stored(dataset) == EXPECTED
    assert set(Interaction.objects.unscoped().values_list("value", flat=True)) == {4.5}


def test_timestamps_in_iso_seconds_and_milliseconds_agree(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    content = (
        "user_id,item_id,timestamp\n"
        "u1,i1,2023-11-14T22:13:20Z\n"
        "u2,i1,1700000000\n"
        "u3,i1,1700000000000\n"
        "u4,i1,2023-11-15 00:13:20+02:00\n"
        "u5,i1,\n"
    )
    _, job = upload(tenant_a, dataset, content)
    assert job["status"] == "succeeded", job
    moments = dict(Interaction.objects.unscoped().values_list("user_id", "timestamp"))
    assert {moments[user].timestamp() for user in ("u1", "u2", "u3", "u4")} == {1_700_000_000.0}
    assert moments["u5"] is None


def test_items_dataset_upserts_the_catalogue(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a, kind="items")
    _, job = upload(
        tenant_a, dataset, "item_id,title,categories,price\ni1,Red shoe,shoes|red,30\ni2,Blue hat,hats,12.5\n"
    )
    assert job["status"] == "succeeded", job
    _, job = upload(tenant_a, dataset, "item_id,price,is_active\ni1,25,true\ni3,7,false\n")
    assert job["status"] == "succeeded", job
    items = {item.item_id: item for item in Item.objects.for_tenant(tenant_a.tenant)}
    assert items["i1"].title == "Red shoe" and items["i1"].categories == ["shoes", "red"]
    assert items["i1"].features == {"price": 25}
    assert items["i2"].features == {"price": 12.5}
    assert items["i3"].is_active is False
    assert tenant_a.client.get(f"/api/v1/datasets/{dataset.pk}").json()["row_count"] == 3


def test_users_jsonl_with_nested_features(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a, kind="users")
    content = '{"user_id": "u1", "age": 31, "features": {"country": "PT"}}\n{"user_id": "u2", "age": 40}\n'
    _, job = upload(tenant_a, dataset, content, name="users.jsonl")
    assert job["status"] == "succeeded", job
    features = dict(tenant_a.tenant.endusers.values_list("user_id", "features"))
    assert features == {"u1": {"age": 31, "country": "PT"}, "u2": {"age": 40}}


def test_tabular_rows_keep_their_types(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a, kind="tabular", target_column="churn")
    _, job = upload(tenant_a, dataset, "age;plan;churn\n31;gold;1\n40;free;0\n")
    assert job["status"] == "succeeded", job
    rows = list(TabularRow.objects.unscoped().order_by("id").values_list("data", flat=True))
    assert rows == [{"age": 31, "plan": "gold", "churn": 1}, {"age": 40, "plan": "free", "churn": 0}]
