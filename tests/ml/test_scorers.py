"""Serving behaviour of the numpy scorers: filtering, unknown ids, history, explain, predict."""

import numpy as np
import pandas as pd
import pytest

from recommender.ml import PredictionInputError, UnknownItem, UnknownUser, UnsupportedOperation, train
from recommender.ml.recipes.ease import keep_largest_per_row
from recommender.ml.scorers import ItemItemScorer, top_k_positions


def training_items(trained, user_id):
    scorer = trained.scorer
    return set(scorer.item_ids[scorer.seen_positions(scorer._user_position[user_id])])


@pytest.mark.parametrize("fixture", ["trained_popularity", "trained_ease", "trained_neumf", "trained_two_tower"])
def test_recommend_filters(request, fixture, small_planted):
    trained = request.getfixturevalue(fixture)
    scorer = trained.scorer
    user = "u1"
    seen = training_items(trained, user)
    results = scorer.recommend(user, k=5)
    assert len(results) == 5
    assert [score for _, score in results] == sorted((score for _, score in results), reverse=True)
    assert not seen & {item for item, _ in results}
    first = results[0][0]
    assert first not in {item for item, _ in scorer.recommend(user, k=5, exclude_item_ids=[first])}
    allowed = ["i3", "i5", "i7", "not-an-item"] + sorted(seen)[:1]
    restricted = scorer.recommend(user, k=10, allowed_item_ids=allowed)
    assert {item for item, _ in restricted} <= {"i3", "i5", "i7"} - seen
    with_seen = scorer.recommend(user, k=scorer.n_items, exclude_seen=False)
    assert len(with_seen) == scorer.n_items


def test_score_keeps_order_and_marks_unknown_items(trained_neumf):
    scorer = trained_neumf.scorer
    scores = scorer.score("u2", ["i1", "missing", "i0"])
    assert scores[1] is None and isinstance(scores[0], float)
    assert scores[0] == scorer.score("u2", ["i1"])[0]


def test_unknown_users(trained_neumf, trained_ease, trained_popularity, trained_two_tower):
    with pytest.raises(UnknownUser):
        trained_neumf.scorer.recommend("stranger")
    with pytest.raises(UnknownUser):
        trained_ease.scorer.recommend("stranger")
    assert not trained_popularity.scorer.knows_user("stranger")
    assert len(trained_popularity.scorer.recommend("stranger", k=3)) == 3
    for scorer in (trained_ease.scorer, trained_two_tower.scorer):
        results = scorer.recommend("stranger", k=3, history_item_ids=["i1", "i2", "unknown"])
        assert len(results) == 3 and not {"i1", "i2"} & {item for item, _ in results}


def test_history_personalises_known_user_for_item_based_recipe(trained_ease):
    scorer = trained_ease.scorer
    unseen = sorted(set(scorer.item_ids) - training_items(trained_ease, "u1"))
    before = scorer.recommend("u1", k=5)
    after = scorer.recommend("u1", k=5, history_item_ids=unseen[:5])
    assert before != after
    assert not set(unseen[:5]) & {item for item, _ in after}


def test_similar_items_and_explain(trained_ease, trained_two_tower, trained_popularity):
    for scorer in (trained_ease.scorer, trained_two_tower.scorer):
        similar = scorer.similar_items("i1", k=4, exclude_item_ids=["i2"])
        assert len(similar) == 4 and {"i1", "i2"}.isdisjoint(item for item, _ in similar)
        with pytest.raises(UnknownItem):
            scorer.similar_items("nope")
        target = similar[0][0]
        reasons = scorer.explain("u1", target, ["i1", "i9", "i12"], n=2)
        assert len(reasons) <= 2 and {item for item, _ in reasons} <= {"i1", "i9", "i12"}
        assert all(weight > 0 for _, weight in reasons)
    assert trained_popularity.scorer.explain("u1", "i1", ["i2"]) == []
    with pytest.raises(UnsupportedOperation):
        trained_popularity.scorer.similar_items("i1")


def test_ease_explain_picks_the_contributing_item():
    # Item 0 strongly predicts item 2, item 1 does not.
    weights = np.zeros((3, 3), dtype=np.float32)
    weights[0, 2], weights[1, 2] = 0.9, -0.2
    scorer = ItemItemScorer("ease", ["u"], ["a", "b", "c"], [0, 1], [0], *keep_largest_per_row(weights, 3))
    assert scorer.explain("u", "c", ["a", "b"]) == [("a", pytest.approx(0.9))]
    assert scorer.explain("u", "c", None) == [("a", pytest.approx(0.9))]


def test_two_tower_scores_items_known_only_from_features(small_planted):
    items = pd.concat(
        [
            small_planted.items,
            pd.DataFrame({"item_id": ["brand-new"], "title": ["Fresh"], "categories": ["genre1"], "year": [2025]}),
        ],
        ignore_index=True,
    )
    trained = train(
        "two_tower", {"epochs": 1, "batch_size": 64}, interactions=small_planted.interactions, items=items, seed=2
    )
    scorer = trained.scorer
    assert "brand-new" in set(scorer.item_ids)
    assert scorer.score("u1", ["brand-new"])[0] is not None
    assert len(scorer.similar_items("brand-new", k=3)) == 3


def test_top_k_positions_handles_small_catalogues_and_exclusions():
    scores = np.array([0.1, -np.inf, 0.5, 0.3], dtype=np.float32)
    assert top_k_positions(scores, 10).tolist() == [2, 3, 0]
    assert top_k_positions(scores, 2, candidates=np.array([0, 1, 3])).tolist() == [3, 0]
    assert top_k_positions(scores, 0).tolist() == []


def test_pruned_ease_keeps_the_largest_weights_and_matches_dense_scores_when_nothing_is_pruned():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(30, 30)).astype(np.float32)
    np.fill_diagonal(weights, 0.0)
    ids = [f"i{n}" for n in range(30)]
    exact = ItemItemScorer("ease", ["u"], ids, [0, 3], [1, 2, 3], *keep_largest_per_row(weights, 30))
    assert np.allclose(exact._user_scores(0, np.array([1, 2, 3])), weights[[1, 2, 3]].sum(axis=0), atol=1e-5)

    indptr, indices, values = keep_largest_per_row(weights, 5)
    assert np.diff(indptr).max() == 5
    row = values[indptr[4] : indptr[5]]
    assert np.allclose(np.sort(np.abs(row)), np.sort(np.abs(weights[4]))[-5:])
    pruned = ItemItemScorer("ease", ["u"], ids, [0, 3], [1, 2, 3], indptr, indices, values)
    assert pruned.nbytes < exact.nbytes


def test_nbytes_is_positive(trained_ease, trained_classifier):
    assert trained_ease.scorer.nbytes >= trained_ease.scorer.weight_values.nbytes
    assert trained_classifier.scorer.nbytes > 0


def test_classifier_predict_shape(trained_classifier):
    results = trained_classifier.scorer.predict(
        [
            {"tenure_months": 2, "plan": "basic", "monthly_spend": None, "region": "north"},
            {"tenure_months": 30, "plan": "martian", "monthly_spend": "45.5", "region": None},
        ]
    )
    assert len(results) == 2
    for result in results:
        assert result["label"] in (True, False)
        assert set(result["probabilities"]) == {"False", "True"}
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_input_errors(trained_classifier, trained_regressor):
    good = {"tenure_months": 2, "plan": "basic", "monthly_spend": 10.0, "region": "north"}
    with pytest.raises(PredictionInputError) as caught:
        trained_classifier.scorer.predict([good, {k: v for k, v in good.items() if k != "plan"}])
    assert (caught.value.row, caught.value.column) == (1, "plan")
    assert "missing column" in str(caught.value)
    with pytest.raises(PredictionInputError) as caught:
        trained_classifier.scorer.predict([{**good, "tenure_months": "ten"}])
    assert (caught.value.row, caught.value.column) == (0, "tenure_months")
    assert "expected a number" in caught.value.reason
    with pytest.raises(PredictionInputError):
        trained_classifier.scorer.predict([{**good, "plan": {"nested": 1}}])
    value = trained_regressor.scorer.predict([{"x1": 0.5, "x2": -1.0, "group": "a"}])
    assert isinstance(value[0]["value"], float)
    with pytest.raises(UnsupportedOperation):
        trained_regressor.scorer.recommend("u1")


@pytest.mark.parametrize("n_items", [65_535, 70_000])
def test_item_item_scorer_reaches_the_last_items_of_large_catalogues(n_items):
    # Item positions are stored in the narrowest integer type that fits the
    # catalogue; the last items must stay reachable on both sides of the switch.
    ids = [f"i{position}" for position in range(n_items)]
    last, first = n_items - 1, 0
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    indptr[last + 1 :] = 2  # the last item's row holds two weights
    indices, values = np.array([first, last - 1]), np.array([0.5, 0.9], dtype=np.float32)
    scorer = ItemItemScorer("ease", ["u"], ids, [0, 1], [last], indptr, indices, values)

    assert scorer.recommend("u", k=2) == [(ids[last - 1], pytest.approx(0.9)), ("i0", 0.5)]
    assert scorer.similar_items(ids[last], k=1) == [(ids[last - 1], pytest.approx(0.9))]
    assert scorer.explain("u", ids[last - 1], None) == [(ids[last], pytest.approx(0.9))]
