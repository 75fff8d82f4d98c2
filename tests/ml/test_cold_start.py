"""Cold start from content: item text places items nobody has interacted with yet (two_tower)."""

import numpy as np
import pandas as pd
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


# -- items added to the catalogue after training ------------------------------------------------

TINY = {
    "two_tower": {"epochs": 8, "batch_size": 128},
    "sasrec": {"epochs": 6, "embedding_dim": 16, "blocks": 1, "heads": 1, "max_history": 10, "text_buckets": 512},
}


@pytest.fixture(scope="module")
def trained_before_new_items(catalogue):
    """Each recipe trained on a catalogue without the cold items (they arrive after training)."""
    training, items, _, cold = catalogue
    # A categories column too, so two_tower's tower also encodes features for the new items.
    known = items[~items.item_id.isin(cold)].assign(categories="shop|" + items.item_id.str[-1])
    return {name: train(name, params, interactions=training, items=known, seed=1) for name, params in TINY.items()}


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_the_numpy_placer_reproduces_the_keras_tower_for_unseen_items(recipe, catalogue):
    """A catalogue-only item (never in an interaction) was placed by Keras from its text; numpy agrees."""
    training, items, _, cold = catalogue
    unseen = items[items.item_id.isin(cold)].assign(categories="shop|x|y")
    scorer = train(recipe, TINY[recipe], interactions=training, items=pd.concat([items[~items.item_id.isin(cold)],
                   unseen]), seed=2).scorer  # fmt: skip
    positions = [scorer._item_position[item] for item in unseen.item_id]
    placed = scorer.placer.vectors(unseen.to_dict("records"))
    assert np.max(np.abs(placed - scorer.item_vectors[positions])) < 1e-4


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_an_item_added_after_training_is_placed_by_its_text(recipe, catalogue, trained_before_new_items, tmp_path):
    _, items, clusters, cold = catalogue
    scorer = save_and_load(trained_before_new_items[recipe], tmp_path)
    assert not any(scorer.knows_item(item) for item in cold)
    rows = [
        (row.item_id, {"title": row.title, "description": row.description, "categories": ["shop", row.item_id[-1]]})
        for row in items[items.item_id.isin(cold)].itertuples()
    ]
    placed = scorer.with_items(rows)
    assert placed.placed_items == len(cold) and not scorer.knows_item(cold[0])  # the served scorer is untouched
    shares, first_of_taste = [], []
    for item in cold:
        similar = [other for other, _ in placed.similar_items(item, 5, exclude_item_ids=cold)]
        shares.append(np.mean([clusters[other] == clusters[item] for other in similar]))
        # Someone who just looked at three items of this taste: the best of the new items is of their taste.
        same_taste = [other for other in items.item_id if clusters[other] == clusters[item] and other not in cold]
        best, _ = placed.recommend_session(same_taste[:3], 1, allowed_item_ids=cold).items[0]
        first_of_taste.append(clusters[best] == clusters[item])
    # 4 clusters: a quarter shares the taste by chance.
    assert np.mean(shares) >= 0.5
    assert np.mean(first_of_taste) >= 0.5


def save_and_load(trained, directory):
    from recommender.ml import load_scorer, save_artifact

    save_artifact(trained, directory)
    return load_scorer(directory)
