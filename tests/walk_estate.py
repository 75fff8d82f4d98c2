"""A tenant with data of every kind and a trained model of every recipe: what the walk tests visit.

Datasets come in through the import path a person uses (files, imports run
eagerly), so their statistics and import pages are the real ones. Each recipe
gets a model with one run and one version, the prediction recipes on a churn
table that has an identifier column, as a customer's export would.
"""

import random
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile

from recommender import ml
from recommender.data import services as data_services
from recommender.data.models import Dataset
from recommender.training.models import ModelVersion, TrainingRun
from recommender.training.services import configs, runs
from tenants.audit import Actor

ITEMS = 30
CLICKS_CSV = "user_id,item_id,timestamp,event_type\n" + "".join(
    f"u{user},i{(user * 7 + step * step) % ITEMS},2026-01-{1 + (user + 3 * step) % 28:02d}T10:00:00Z,view\n"
    for user in range(40)
    for step in range(6)
)
CATALOGUE_CSV = "item_id,title,categories,price\n" + "".join(
    f"i{n},Book {n},{'fiction' if n % 2 else 'science'},{10 + n}\n" for n in range(ITEMS)
)
USERS_CSV = "user_id,tier,age\n" + "".join(f"u{n},{'gold' if n % 3 else 'basic'},{20 + n}\n" for n in range(40))


def churn_csv(rows=200, seed=3):
    """A churn export: a unique customer id, numeric and categorical columns and a 0/1 target."""
    rng = random.Random(seed)
    lines = ["customer_id,tenure,plan,monthly_spend,churned"]
    for n in range(rows):
        tenure, plan = rng.randint(1, 36), rng.choice(["basic", "pro"])
        churned = int(tenure < 8 and plan == "basic")
        lines.append(f"C{10_000 + n},{tenure},{plan},{round(rng.uniform(10, 90), 2)},{churned}")
    return "\n".join(lines) + "\n"


# Small settings: the walks need a run and a version of each recipe, not a good model.
FAST_PARAMS = {
    "neumf": {"epochs": 2},
    "sasrec": {"epochs": 1, "embedding_dim": 8, "blocks": 1, "heads": 1, "max_history": 10},
    "two_tower": {"epochs": 2, "embedding_dim": 8, "output_dim": 8, "tower_layers": [16]},
    "mlp_classifier": {"epochs": 3, "hidden_layers": [8]},
    "mlp_regressor": {"epochs": 3, "hidden_layers": [8]},
}


@dataclass
class WalkEstate:
    """What a walk visits: datasets by kind and, per recipe, its model's slug, run and version."""

    tenant: object
    datasets: dict = field(default_factory=dict)
    imports: list = field(default_factory=list)
    models: dict = field(default_factory=dict)  # recipe name -> slug
    runs: dict = field(default_factory=dict)  # recipe name -> TrainingRun
    versions: dict = field(default_factory=dict)  # recipe name -> ModelVersion


def _import(actor, estate, name, kind, content, capture, **dataset_fields):
    dataset = data_services.create_dataset(actor=actor, name=name, kind=kind, **dataset_fields)
    upload = SimpleUploadedFile(f"{name.lower()}.csv", content.encode(), content_type="text/csv")
    with capture():
        job = data_services.start_import(actor=actor, dataset=dataset, upload=upload, options={"on_error": "skip"})
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    estate.imports.append(job)
    return dataset


def build_walk_estate(tenant, capture=nullcontext):
    """Import one dataset of each kind into ``tenant`` and train a model of every recipe (tasks run eagerly).

    ``capture`` wraps each write whose task is sent on commit: pass pytest-django's
    ``django_capture_on_commit_callbacks(execute=True)`` in a test inside a transaction.
    """
    actor = Actor.system(tenant)
    estate = WalkEstate(tenant)
    kinds = Dataset.Kind
    estate.datasets["interactions"] = _import(actor, estate, "Clicks", kinds.INTERACTIONS, CLICKS_CSV, capture)
    estate.datasets["items"] = _import(actor, estate, "Catalogue", kinds.ITEMS, CATALOGUE_CSV, capture)
    estate.datasets["users"] = _import(actor, estate, "Members", kinds.USERS, USERS_CSV, capture)
    churn = churn_csv()
    estate.datasets["tabular"] = _import(actor, estate, "Churn", kinds.TABULAR, churn, capture, target_column="churned")
    estate.datasets["tabular_numeric"] = _import(
        actor, estate, "Spend", kinds.TABULAR, churn, capture, target_column="monthly_spend"
    )
    on = {
        "mlp_classifier": estate.datasets["tabular"],
        "mlp_regressor": estate.datasets["tabular_numeric"],
    }
    for recipe in ml.list_recipes():
        dataset = on.get(recipe.name, estate.datasets["interactions"])
        config = configs.create_config(
            actor=actor,
            name=f"{recipe.name} model",
            dataset=dataset,
            recipe=recipe.name,
            params=FAST_PARAMS.get(recipe.name),
        )
        with capture():
            run = runs.request_training(actor=actor, config=config)
        run = TrainingRun.objects.for_tenant(run.tenant_id).get(pk=run.pk)
        assert run.status == "succeeded", f"{recipe.name}: {run.error}"
        estate.models[recipe.name] = config.slug
        estate.runs[recipe.name] = run
        estate.versions[recipe.name] = ModelVersion.objects.unscoped().get(run=run)
    return estate
