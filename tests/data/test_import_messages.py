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
