"""Fixtures for the ML library tests: small generated data with planted structure.

Users prefer items of their taste clusters on top of a Zipf popularity skew,
so popularity is a real baseline that personalised recipes should beat.
Trained models are session-scoped: training is the slow part of this suite.
"""

import pytest

from recommender.ml import train
from recommender.ml.synthetic import generate_churn_table, generate_interactions, generate_regression_table

# Few epochs keep the suite fast; the planted structure is strong enough.
FAST_NEUMF = {"epochs": 6, "mlp_layers": [32, 16, 8]}
FAST_TWO_TOWER = {"epochs": 6, "batch_size": 128}
FAST_MLP = {"epochs": 30, "batch_size": 32}


@pytest.fixture(scope="session")
def planted():
    return generate_interactions(
        n_users=500, n_items=200, n_clusters=8, mean_items_per_user=20, taste_strength=0.8, seed=7
    )


@pytest.fixture(scope="session")
def small_planted():
    return generate_interactions(n_users=60, n_items=40, n_clusters=4, mean_items_per_user=8, seed=3)


@pytest.fixture(scope="session")
def churn_table():
    return generate_churn_table(n_rows=1500, noise=0.02, seed=5)


@pytest.fixture(scope="session")
def regression_table():
    return generate_regression_table(n_rows=1200, noise=0.3, seed=5)


@pytest.fixture(scope="session")
def trained_neumf(small_planted):
    return train("neumf", {"epochs": 2}, interactions=small_planted.interactions, seed=1)


@pytest.fixture(scope="session")
def trained_two_tower(small_planted):
    return train(
        "two_tower",
        {"epochs": 2, "batch_size": 64},
        interactions=small_planted.interactions,
        items=small_planted.items,
        users=small_planted.users,
        seed=1,
    )


@pytest.fixture(scope="session")
def trained_ease(small_planted):
    return train("ease", {"l2": 10.0}, interactions=small_planted.interactions)


@pytest.fixture(scope="session")
def trained_popularity(small_planted):
    return train("popularity", {}, interactions=small_planted.interactions)


@pytest.fixture(scope="session")
def trained_classifier(churn_table):
    return train("mlp_classifier", {"epochs": 3, "activation": "gelu"}, table=churn_table, target="churned", seed=1)


@pytest.fixture(scope="session")
def trained_regressor(regression_table):
    return train("mlp_regressor", {"epochs": 3, "activation": "tanh"}, table=regression_table, target="target", seed=1)
