"""Identifier columns of a tabular dataset are no features: detected at import, left out, overridable."""

import pandas as pd
import pytest
from django.urls import reverse

from recommender import ml
from recommender.data import services as data_services
from recommender.data.models import Dataset
from recommender.training.models import ModelConfig, ModelVersion
from tenants.audit import Actor

from ..portal.conftest import signed_in, upload
from ..walk_estate import churn_csv

pytestmark = pytest.mark.django_db


def test_identifiers_are_told_from_features_by_name_and_by_uniqueness():
    rows = 100
    table = pd.DataFrame(
        {
            "customer_id": [f"C{n}" for n in range(rows)],  # by name
            "account": [10_000 + n for n in range(rows)],  # whole numbers, one per row
            "ref": [f"r-{n}" for n in range(rows)],  # text, one per row
            "tenure": [n % 36 for n in range(rows)],
            "plan": ["basic", "pro"] * (rows // 2),
            "monthly_spend": [10 + n * 0.37 for n in range(rows)],  # unique, but a measurement
            "paid": [n % 2 == 0 for n in range(rows)],  # ends in "id", is no id
            "churned": [n % 2 for n in range(rows)],
        }
    )
    assert ml.identifier_columns(table, "churned") == ["customer_id", "account", "ref"]
    features, left_out = ml.choose_feature_columns(table, "churned")
    assert features == ["tenure", "plan", "monthly_spend", "paid"]
    assert left_out == ["customer_id", "account", "ref"]
    # A person's choice wins, identifiers included.
    assert ml.choose_feature_columns(table, "churned", ["account", "plan"]) == (["account", "plan"], [])


@pytest.fixture
def churn(tenant_a, django_capture_on_commit_callbacks):
    actor = Actor.system(tenant_a.tenant)
    dataset = data_services.create_dataset(
        actor=actor, name="churn", kind=Dataset.Kind.TABULAR, target_column="churned"
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = data_services.start_import(
            actor=actor, dataset=dataset, upload=upload("churn.csv", churn_csv().encode()), options={}
        )
    job.refresh_from_db()
    dataset.refresh_from_db()
    return tenant_a, dataset, job


def train(world, capture, dataset, **fields):
    body = {"name": "churn model", "dataset": dataset.pk, "recipe": "mlp_classifier", "params": {"epochs": 2}, **fields}
    response = world.client.post("/api/v1/models", body, format="json")
    assert response.status_code == 201, response.json()
    slug = response.json()["slug"]
    with capture(execute=True):
        world.client.post(f"/api/v1/models/{slug}/train", {}, format="json")
    return slug, ModelVersion.objects.for_tenant(world.tenant).get(config__slug=slug)


def test_the_import_says_which_column_is_an_identifier_and_the_dataset_page_too(churn):
    world, dataset, job = churn
    assert job.status == "succeeded"
    assert "customer_id looks like an identifier" in job.message
    assert dataset.stats["identifier_columns"] == ["customer_id"]
    page = signed_in(world.owner, world.tenant).get(reverse("portal:dataset", args=[dataset.pk])).content.decode()
    assert 'id="identifier-note"' in page and "<code>customer_id</code>" in page


def test_a_model_leaves_the_identifier_out_by_default_and_try_it_does_not_ask_for_it(
    churn, django_capture_on_commit_callbacks
):
    world, dataset, _ = churn
    slug, version = train(world, django_capture_on_commit_callbacks, dataset)
    # Stored rows keep no column order (jsonb): compare as sets.
    assert set(version.data_snapshot["columns"]) == {"tenure", "plan", "monthly_spend"}
    page = signed_in(world.owner, world.tenant).get(reverse("portal:try_it"), {"predict-model": slug})
    form = page.context["predict_form"]
    assert set(form.columns) == {"tenure", "plan", "monthly_spend"}
    assert 'name="predict-column_customer_id"' not in page.content.decode()


def test_the_feature_columns_a_person_chooses_are_the_ones_learnt(churn, django_capture_on_commit_callbacks):
    world, dataset, _ = churn
    _, version = train(world, django_capture_on_commit_callbacks, dataset, feature_columns=["plan", "tenure"])
    assert version.data_snapshot["columns"] == ["plan", "tenure"]
    assert version.config.feature_columns == ["plan", "tenure"]


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        (["plan", "postcode"], "'postcode' is not a column of churn; it has customer_id, monthly_spend, plan, tenure."),
        (["churned"], "'churned' is the target: it cannot be a feature."),
    ],
)
def test_a_feature_column_the_dataset_lacks_is_refused_by_name(churn, columns, problem):
    world, dataset, _ = churn
    body = {"name": "m", "dataset": dataset.pk, "recipe": "mlp_classifier", "feature_columns": columns}
    response = world.client.post("/api/v1/models", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"feature_columns": [problem]}


def test_the_portal_form_takes_feature_columns(churn):
    world, dataset, _ = churn
    client = signed_in(world.owner, world.tenant)
    form = {"name": "Churn", "recipe": "mlp_classifier", "dataset": dataset.pk, "auto_deploy": "never",
            "feature_columns": "tenure, plan"}  # fmt: skip
    response = client.post(reverse("portal:model_create"), form)
    assert response.status_code == 302, response.context["form"].errors
    config = ModelConfig.objects.get(tenant=world.tenant, name="Churn")
    assert config.feature_columns == ["tenure", "plan"]
    edit = client.get(reverse("portal:model_edit", args=[config.slug])).content.decode()
    assert 'value="tenure, plan"' in edit
