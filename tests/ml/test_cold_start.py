"""Cold start from content: item text places items nobody has interacted with yet (two_tower)."""

import numpy as np
import pytest

from recommender.ml import train
from recommender.ml.synthetic import generate_interactions, with_taste_text
from recommender.ml.text import hashed_tokens, item_texts


@pytest.fixture(scope="module")
def catalogue():
    data = generate_interactions(n_users=300, n_items=120, n_clusters=4, mean_items_per_user=15, seed=11)
    items = with_taste_text(data, seed=11)
    clusters = dict(zip(data.items.item_id, (c.split("|")[0] for c in data.items.categories), strict=True))
    cold = sorted(data.items.item_id.sample(12, random_state=1))
    training = data.interactions[~data.interactions.item_id.isin(cold)]
    return training, items, clusters, cold


def test_hashed_tokens_are_stable_bounded_and_never_empty():
    tokens = hashed_tokens(["Red Shoes, red!", "", "Schuhe für Kinder"], buckets=50, max_tokens=4)
    assert tokens.shape == (3, 4) and tokens.min() >= 0 and tokens.max() <= 50
    assert (tokens[0] > 0).sum() == 2  # "red" counted once
    assert (tokens[1] > 0).sum() == 1  # no text still has one token
    assert np.array_equal(tokens, hashed_tokens(["Red Shoes, red!", "", "Schuhe für Kinder"], 50, 4))


def test_item_texts_join_the_text_columns(catalogue):
    _, items, _, _ = catalogue
    texts = item_texts(items.assign(categories=["a|b"] * len(items)))
    assert texts[0].startswith(items.title[0]) and texts[0].endswith("a|b")
    assert item_texts(items[["item_id"]]) is None


def test_a_cold_item_with_text_has_similar_items_of_its_taste(catalogue):
    training, items, clusters, cold = catalogue
    params = {"epochs": 8, "batch_size": 128}
    with_text = train("two_tower", params, interactions=training, items=items, seed=1).scorer
    without = train("two_tower", {**params, "text_buckets": 0}, interactions=training, items=items, seed=1).scorer

    def same_taste(scorer):
        shares = []
        for item in cold:
            similar = [other for other, _ in scorer.similar_items(item, 5)]
            shares.append(np.mean([clusters[other] == clusters[item] for other in similar]))
        return float(np.mean(shares))

    # 4 clusters: a quarter shares the taste by chance.
    assert same_taste(with_text) >= 0.5  # twice chance
    assert same_taste(with_text) > same_taste(without) + 0.2
