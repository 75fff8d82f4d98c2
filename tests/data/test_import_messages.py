"""What a new user's files meet at import (issue 13): each problem gets its own message, not the generic one."""

import random

import pytest

from .conftest import gzipped

pytestmark = pytest.mark.django_db

GENERIC = "unexpected error"


def events_csv(rows=3000, seed=5):
    rng = random.Random(seed)
    return "user_id,item_id,timestamp\n" + "".join(
        f"u{rng.randrange(500)},sku-{rng.randrange(2000)},{1_700_000_000 + rng.randrange(10**7)}\n" for _ in range(rows)
    )


@pytest.mark.parametrize("format_name", ["csv", "jsonl"])
def test_a_gzip_cut_in_half_says_the_upload_is_truncated_with_no_wild_row_estimate(
    tenant_a, make_dataset, upload, format_name
):
    """As an interrupted transfer leaves a file: the deflate stream ends early and the size trailer is garbage."""
    dataset = make_dataset(tenant_a)
    content = events_csv()
    if format_name == "jsonl":
        lines = content.splitlines()[1:]
        content = "".join(
            f'{{"user_id": "{u}", "item_id": "{i}", "timestamp": {t}}}\n' for u, i, t in (ln.split(",") for ln in lines)
        )
    packed = gzipped(content)
    cut = packed[: len(packed) // 2]
    _, job = upload(tenant_a, dataset, cut, name=f"events.{format_name}.gz")
    assert job["status"] == "failed"
    assert "the compressed file ends early: the upload is probably truncated" in job["message"].lower()
    assert GENERIC not in job["message"]
    assert job["rows_loaded"] == 0 and dataset.interactions.count() == 0
    # Absent, or within reach of the truth (3000 rows), never tens of millions.
    assert job["rows_total"] is None or job["rows_total"] <= 2 * 3000


def test_a_gzip_cut_inside_its_first_block_says_so_too(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, gzipped(events_csv(rows=50))[:40], name="events.csv.gz")
    assert job["status"] == "failed" and "upload is probably truncated" in job["message"]


# As a spreadsheet exports it: a byte-order mark, CRLF line ends, day-first dates without seconds.
SPREADSHEET_CSV = "\ufeffuser_id,item_id,timestamp\r\n" + "".join(
    f"u{n},i{n % 7},{1 + n % 28:02d}/08/2026 {n % 24:02d}:08\r\n" for n in range(40)
)


def test_spreadsheet_dates_fail_with_the_format_that_would_read_them(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, SPREADSHEET_CSV.encode(), name="export.csv")
    assert job["status"] == "failed"
    # Days up to 28 in the first place: only day-first reads them all.
    assert (
        "import again with timestamp_format=dayfirst reads them ('01/08/2026 00:08' is 01 August 2026)"
        in (job["message"])
    )
    assert GENERIC not in job["message"]


def test_spreadsheet_dates_import_with_timestamp_format_dayfirst(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    _, job = upload(tenant_a, dataset, SPREADSHEET_CSV.encode(), name="export.csv", timestamp_format="dayfirst")
    assert job["status"] == "succeeded", job["message"]
    assert job["rows_loaded"] == 40
    first = dataset.interactions.get(user_id="u0")
    assert first.timestamp.isoformat() == "2026-08-01T00:08:00+00:00"


def test_timestamp_format_takes_a_strftime_pattern(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    content = "user_id,item_id,timestamp\nu1,i1,2026.08.13-07h05\nu2,i2,2026.08.14-08h00\n"
    _, job = upload(tenant_a, dataset, content, timestamp_format="%Y.%m.%d-%Hh%M")
    assert job["status"] == "succeeded", job["message"]
    assert dataset.interactions.get(user_id="u1").timestamp.isoformat() == "2026-08-13T07:05:00+00:00"


def test_a_timestamp_format_that_is_no_format_is_refused(tenant_a, make_dataset, upload):
    dataset = make_dataset(tenant_a)
    response, job = upload(tenant_a, dataset, "user_id,item_id\nu1,i1\n", timestamp_format="European")
    assert job is None and response.status_code == 400
    assert response.json()["error"]["details"]["timestamp_format"][0].startswith("Use 'dayfirst', 'monthfirst'")


@pytest.mark.parametrize("column", ["category", "Genres", "tags"])
def test_a_catalogue_category_column_by_another_name_fills_the_categories(tenant_a, make_dataset, upload, column):
    from recommender.data.models import Item

    dataset = make_dataset(tenant_a, kind="items")
    content = f"item_id,title,{column}\ni1,Dune,fiction\ni2,Cosmos,science|space\n"
    _, job = upload(tenant_a, dataset, content)
    assert job["status"] == "succeeded", job["message"]
    assert f"Read the column '{column}' as the items' categories" in job["message"]
    items = {item.item_id: item for item in Item.objects.for_tenant(tenant_a.tenant)}
    assert items["i1"].categories == ["fiction"] and items["i2"].categories == ["science", "space"]
    assert column not in items["i1"].features


def test_a_category_column_mapped_elsewhere_stays_a_feature(tenant_a, make_dataset, upload):
    from recommender.data.models import Item

    dataset = make_dataset(tenant_a, kind="items")
    content = "item_id,category\ni1,fiction\n"
    _, job = upload(tenant_a, dataset, content, column_mapping={"category": "shelf"})
    assert job["status"] == "succeeded" and "as the items' categories" not in job["message"]
    item = Item.objects.for_tenant(tenant_a.tenant).get()
    assert item.categories == [] and item.features == {"shelf": "fiction"}


def test_fractional_timestamps_are_stored_to_the_microsecond_without_warnings(tenant_a, recwarn):
    """`make run` printed 'Discarding nonzero nanoseconds in conversion' for each such event."""
    from recommender.data.models import Interaction

    events = [{"user_id": "u1", "item_id": "i1", "timestamp": "2026-08-01T10:00:00.123456789Z"},
              {"user_id": "u2", "item_id": "i2", "timestamp": 1785578400.1234567}]  # fmt: skip
    response = tenant_a.client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 2, response.json()
    assert not [str(w.message) for w in recwarn if "nanoseconds" in str(w.message)]
    stored = dict(Interaction.objects.for_tenant(tenant_a.tenant).values_list("user_id", "timestamp"))
    assert stored["u1"].isoformat() == "2026-08-01T10:00:00.123457+00:00"
    assert stored["u2"].microsecond == 123457
