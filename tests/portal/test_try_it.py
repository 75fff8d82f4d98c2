"""Try it: recommendations with titles and scores, similar items, and a prediction for a filled-in row."""

import pytest
from django.urls import reverse

from recommender.data import services as data_services
from recommender.data.models import Dataset
from tenants.audit import Actor

from .conftest import signed_in, train, upload

pytestmark = pytest.mark.django_db

CHURN_CSV = "plan,monthly_spend,churned\n" + "".join(
    f"{'basic' if n % 2 else 'pro'},{10 + n % 7 * 5},{'yes' if n % 2 else 'no'}\n" for n in range(80)
)


@pytest.fixture
def viewer_client(client_as):
    return client_as("viewer")


def test_recommendations_show_titles_and_scores(stock_a, viewer_client):
    data_services.upsert_catalogue_items(
        actor=Actor.system(stock_a.world.tenant), items=[{"item_id": f"i{n}", "title": f"Book {n}"} for n in range(12)]
    )
    query = {"try": "recommend", "recommend-model": stock_a.config.slug, "recommend-user_id": "u1", "recommend-k": 5}
    page = viewer_client.get(reverse("portal:try_it"), query)
    answer = page.context["recommendations"]
    assert answer["fallback"] is None
    assert len(answer["items"]) == 5
    html = page.content.decode()
    assert f"<td>{answer['items'][0]['title']}</td>" in html
    assert answer["items"][0]["title"].startswith("Book ")


def test_an_unknown_user_gets_the_fallback_flagged(stock_a, viewer_client):
    query = {
        "try": "recommend",
        "recommend-model": stock_a.config.slug,
        "recommend-user_id": "nobody",
        "recommend-k": 3,
    }
    page = viewer_client.get(reverse("portal:try_it"), query)
    assert page.context["recommendations"]["fallback"]["reason"] == "unknown_user"
    assert "the popularity fallback answered</strong> (unknown user)" in page.content.decode()


def test_similar_items(stock_a, viewer_client):
    query = {"try": "similar", "similar-model": stock_a.config.slug, "similar-item_id": "i1", "similar-k": 4}
    answer = viewer_client.get(reverse("portal:try_it"), query).context["similar_items"]
    assert len(answer["items"]) == 4
    assert "i1" not in [item["item_id"] for item in answer["items"]]


def test_a_prediction_for_a_filled_in_row(tenant_a, django_capture_on_commit_callbacks):
    actor = Actor.system(tenant_a.tenant)
    dataset = data_services.create_dataset(
        actor=actor, name="churn", kind=Dataset.Kind.TABULAR, target_column="churned"
    )
    with django_capture_on_commit_callbacks(execute=True):
        data_services.start_import(
            actor=actor, dataset=dataset, upload=upload("churn.csv", CHURN_CSV.encode()), options={}
        )
    with django_capture_on_commit_callbacks(execute=True):
        config, _ = train(tenant_a.tenant, dataset, recipe="mlp_classifier", params={"epochs": 3, "hidden_layers": [4]})
    client = signed_in(tenant_a.owner, tenant_a.tenant)

    page = client.get(reverse("portal:try_it"))
    assert set(page.context["predict_form"].columns) == {"plan", "monthly_spend"}
    query = {
        "try": "predict",
        "predict-model": config.slug,
        "predict-column_plan": "pro",
        "predict-column_monthly_spend": "12",
    }
    page = client.get(reverse("portal:try_it"), query)
    result = page.context["prediction"]["predictions"][0]
    assert result["label"] in ("yes", "no")
    assert f"<strong>{result['label']}</strong>." in page.content.decode()

    bad = client.get(reverse("portal:try_it"), {**query, "predict-column_monthly_spend": "lots"})
    assert "expected a number" in str(bad.context["predict_form"].non_field_errors())


def test_without_deployed_models_each_part_says_so(tenant_a):
    page = signed_in(tenant_a.owner, tenant_a.tenant).get(reverse("portal:try_it")).content.decode()
    assert "No recommendation model is deployed yet." in page
    assert "No deployed model ranks items yet." in page
    assert "No prediction model is deployed yet" in page


def rank(client, slug, user_id="u1", item_ids="i1\ni5, i9\nnot-an-item"):
    return client.post(
        reverse("portal:try_it"),
        {"try": "rank", "rank-model": slug, "rank-user_id": user_id, "rank-item_ids": item_ids},
    )


def test_a_viewer_ranks_items_for_a_user_and_sees_them_best_first(stock_a, viewer_client):
    data_services.upsert_catalogue_items(
        actor=Actor.system(stock_a.world.tenant), items=[{"item_id": f"i{n}", "title": f"Book {n}"} for n in range(12)]
    )
    page = rank(viewer_client, stock_a.config.slug)
    answer = page.context["ranked"]
    assert answer["fallback"] is None
    ids = [item["item_id"] for item in answer["items"]]
    assert sorted(ids) == ["i1", "i5", "i9", "not-an-item"]
    assert ids[-1] == "not-an-item" and answer["items"][-1]["score"] is None
    scores = [item["score"] for item in answer["items"][:3]]
    assert scores == sorted(scores, reverse=True)

    html = page.content.decode()
    rows = [html.index(f"<td><code>{item_id}</code></td>") for item_id in ids]
    assert rows == sorted(rows), "the table shows the items in the ranked order"
    first = answer["items"][0]
    assert f'<td>{first["title"]}</td><td class="num">{first["score"]:.4f}</td>' in html
    assert '<span class="muted">not known</span>' in html


def test_an_unknown_user_is_ranked_by_the_fallback_flagged(stock_a, viewer_client):
    page = rank(viewer_client, stock_a.config.slug, user_id="nobody")
    assert page.context["ranked"]["fallback"]["reason"] == "unknown_user"
    assert "the popularity fallback answered</strong> (unknown user)" in page.content.decode()


@pytest.mark.parametrize(
    ("item_ids", "problem"),
    [
        ("", "This field is required."),
        (" ,\n, ", "Give at least one item id."),
        (",".join(f"i{n}" for n in range(501)), "At most 500 item ids at a time; this has 501."),
        ("i1\ni2\x00", "Null characters are not allowed."),
    ],
)
def test_a_bad_list_of_items_is_a_form_error(stock_a, viewer_client, item_ids, problem):
    page = rank(viewer_client, stock_a.config.slug, item_ids=item_ids)
    assert page.status_code == 200
    assert page.context["ranked"] is None
    assert problem in " ".join(page.context["rank_form"].errors["item_ids"])
    assert problem in page.content.decode()


def test_five_hundred_items_are_ranked(stock_a, viewer_client):
    item_ids = [f"i{n % 12}" if n < 12 else f"x{n}" for n in range(500)]
    answer = rank(viewer_client, stock_a.config.slug, item_ids="\n".join(item_ids)).context["ranked"]
    assert len(answer["items"]) == 500


def test_another_tenants_model_is_not_offered_for_ranking(stock_a, stock_b, viewer_client):
    page = viewer_client.get(reverse("portal:try_it"))
    assert [slug for slug, _ in page.context["rank_form"].fields["model"].choices] == [stock_a.config.slug]
    refused = rank(viewer_client, stock_b.config.slug)
    assert refused.context["ranked"] is None
    assert "Select a valid choice." in refused.context["rank_form"].errors["model"][0]
    assert 'class="result"' not in refused.content.decode()
