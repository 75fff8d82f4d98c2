"""Try it: recommendations for an anonymous session (recent item ids, no user id)."""

import pytest
from django.urls import reverse

from .conftest import train

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client_as):
    return client_as("viewer")


def ask(client, slug, item_ids, k=4):
    body = {"try": "session", "session-model": slug, "session-item_ids": item_ids, "session-k": k,
            "session-exclude_seen": "on"}  # fmt: skip
    return client.post(reverse("portal:try_it"), body)


def test_a_session_is_answered_and_the_page_says_what_was_read(stock_a, viewer_client):
    page = ask(viewer_client, stock_a.config.slug, "i1\ni5, ghost")
    answer = page.context["session_recommendations"]
    assert answer["fallback"] is None and answer["user_id"] is None
    ids = [item["item_id"] for item in answer["items"]]
    assert len(ids) == 4 and not {"i1", "i5"} & set(ids)
    assert "Read the latest 2 events (at most 200); 1 on item the model does not know, ignored." in (
        page.content.decode()
    )


def test_an_empty_session_gets_the_fallback_flagged(stock_a, viewer_client):
    page = ask(viewer_client, stock_a.config.slug, "")
    assert page.context["session_recommendations"]["fallback"]["reason"] == "empty_session"
    assert "the popularity fallback answered</strong> (empty session)" in page.content.decode()


def test_a_sequence_model_reads_at_most_its_history(stock_a, viewer_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        config, run = train(stock_a.world.tenant, stock_a.dataset, recipe="session_knn", params={"max_history": 2})
    page = ask(viewer_client, config.slug, "i1, i2, i3, i5")
    assert page.context["session_recommendations"]["session"]["left_out"] == 2
    assert "Read the latest 2 events (at most 2); 2 older ones left out." in page.content.decode()


def test_a_bad_session_is_a_form_error(stock_a, viewer_client):
    page = ask(viewer_client, stock_a.config.slug, ",".join(f"i{n}" for n in range(501)))
    assert page.context["session_recommendations"] is None
    assert "At most 500 item ids at a time; this has 501." in page.content.decode()
