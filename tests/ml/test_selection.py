"""The automatic recipe choice (``auto``) and the large-catalogue recipe it falls back on (``sparse_ease``)."""

import numpy as np
import pytest

from recommender.ml import (
    Budget,
    DataShape,
    TrainingCallbacks,
    TrainingCancelled,
    choose_recipe,
    evaluate,
    fits,
    get_recipe,
    recipes_that_fit,
    train,
)
from recommender.ml.scorers import RecommendationScorer
from recommender.ml.selection import RELIABLE, noise_margin

# The default budget: ample time, so tuning always runs (the neural recipes sit out: too few interactions).
AMPLE = Budget()


@pytest.fixture(scope="module")
def choice(planted):
    return choose_recipe(interactions=planted.interactions, budget=AMPLE, validation_users=300)


def test_auto_compares_every_fitting_candidate_and_picks_the_best_validation_score(choice):
    summary = choice.to_dict()
    compared = {c["recipe"]: c for c in summary["candidates"] if c["score"] is not None}
    assert {"popularity", "ease", "sparse_ease"} <= set(compared)
    best = max(compared.values(), key=lambda c: c["score"])
    assert summary["chosen"] == choice.recipe
    if choice.recipe != best["recipe"]:
        # Only the most reliable recipe may be kept over a better score, and only within the noise.
        assert choice.recipe in RELIABLE and "within the validation's noise" in summary["reason"]
        assert best["score"] - compared[choice.recipe]["score"] <= noise_margin(choice.report.n_test)
    assert compared[choice.recipe]["status"] == "chosen"
    assert choice.recipe in summary["reason"] and "ndcg@10" in summary["reason"]
    # Recipes left out say why; the neural ones have too little data here.
    skipped = {c["recipe"]: c["reason"] for c in summary["candidates"] if c["status"] == "skipped"}
    assert "interactions" in skipped["neumf"] and "interactions" in skipped["two_tower"]
    assert "interactions" in skipped["sasrec"]
    # The sequence recipes compete like any other; on order-free data they must not win.
    assert "session_knn" in compared and choice.recipe != "session_knn"
    assert summary["data"]["items"] == 200 and summary["data"]["users"] == 500
    assert summary["protocol"] == "leave_last_out"


def test_on_planted_order_auto_chooses_a_sequence_recipe():
    from recommender.ml.synthetic import generate_sequential_interactions

    ordered = generate_sequential_interactions(
        n_users=500, n_items=200, n_clusters=10, mean_items_per_user=20, order_strength=0.9, seed=7
    )
    choice = choose_recipe(interactions=ordered.interactions, budget=AMPLE, validation_users=500, tune=False)
    scores = {c["recipe"]: c["score"] for c in choice.to_dict()["candidates"] if c["score"] is not None}
    # The latest item tells the next one's cluster: the order-aware vote beats EASE by more than the noise.
    assert choice.recipe == "session_knn"
    assert scores["session_knn"] - scores["ease"] > noise_margin(choice.report.n_test)


def test_without_timestamps_auto_validates_on_a_random_share_of_each_users_items(planted):
    # Row order need not be time order (files sorted by id), so "the last item" would be arbitrary.
    unordered = planted.interactions.drop(columns=["timestamp"])
    result = choose_recipe(interactions=unordered, budget=AMPLE, validation_users=200, tune=False)
    assert result.to_dict()["protocol"] == "random_holdout" == result.report.protocol


def test_auto_tunes_the_winners_main_hyperparameter(choice):
    main = get_recipe(choice.recipe).main_param
    tried = [trial["params"][main] for trial in choice.tuning]
    assert len(set(tried)) >= 2
    best = max(choice.tuning, key=lambda trial: trial["score"])
    assert choice.params[main] == best["params"][main]
    assert choice.report.metrics["ndcg@10"] == pytest.approx(best["score"])


def test_a_catalogue_too_large_for_ease_is_refused_with_the_reason_and_sparse_ease_fits():
    shape = DataShape(users=20_000, items=60_000, interactions=200_000)
    ok, estimate, why_not = fits(get_recipe("ease"), shape, get_recipe("ease").validate({}), Budget())
    assert not ok and "60,000 items" in why_not and "memory" in why_not
    assert estimate.memory_bytes > 60_000**2 * 8
    assert "sparse_ease" in [name for name, _ in recipes_that_fit(shape, Budget())]
    # And a time limit rules out what would not finish in it.
    ok, _, why_not = fits(get_recipe("neumf"), shape, get_recipe("neumf").validate({}), Budget(seconds=60))
    assert not ok and "60 s" in why_not


def test_train_auto_gives_a_working_model(small_planted):
    trained = train("auto", {"validation_users": 100, "tune": False}, interactions=small_planted.interactions)
    assert trained.scorer.recipe in {"popularity", "ease", "sparse_ease"}
    assert len(trained.scorer.recommend("u1", k=5)) == 5


def test_a_cancel_request_stops_auto_between_candidates(small_planted):
    # It raised TypeError (TrainingCancelled needed epoch numbers), so the run failed instead of being cancelled.
    with pytest.raises(TrainingCancelled):
        choose_recipe(
            interactions=small_planted.interactions, tune=False, callbacks=TrainingCallbacks(should_cancel=lambda: True)
        )


def test_auto_takes_callbacks_that_only_report_epochs(small_planted):
    # should_cancel is optional: auto used to call it unconditionally ('NoneType' object is not callable).
    epochs = []
    callbacks = TrainingCallbacks(on_epoch=lambda epoch, total, logs: epochs.append(epoch))
    choice = choose_recipe(
        interactions=small_planted.interactions, validation_users=100, tune=False, callbacks=callbacks
    )
    assert choice.recipe in {"popularity", "ease", "sparse_ease"} and epochs


def test_sparse_ease_is_close_to_ease_and_beats_popularity(planted):
    sparse = evaluate("sparse_ease", {}, interactions=planted.interactions, protocol="random_holdout")
    exact = evaluate("ease", {"l2": 200.0}, interactions=planted.interactions, protocol="random_holdout")
    assert sparse.metrics["ndcg@10"] > sparse.baseline["ndcg@10"] * 1.2
    assert sparse.metrics["ndcg@10"] > exact.metrics["ndcg@10"] - 0.02


def test_sparse_ease_keeps_at_most_the_serving_neighbours_per_item(planted):
    scorer = train("sparse_ease", {"neighbors": 20, "serving_neighbors": 10}, interactions=planted.interactions).scorer
    assert np.diff(scorer.weight_indptr).max() <= 10


def test_item_item_recommendations_from_the_reached_items_match_the_full_catalogue_scan(planted):
    scorer = train("sparse_ease", {"serving_neighbors": 30}, interactions=planted.interactions).scorer
    allowed = [f"i{n}" for n in range(0, 200, 3)]
    for user in scorer.user_ids[:60]:
        for options in ({}, {"exclude_item_ids": ["i1", "i2"]}, {"allowed_item_ids": allowed}):
            fast = scorer.recommend(user, 10, **options)
            full = RecommendationScorer.recommend(scorer, user, 10, **options)
            assert [item for item, _ in fast] == [item for item, _ in full]
            assert [s for _, s in fast] == pytest.approx([s for _, s in full])
    # Too few reached items pass the filter: the full scan fills the list.
    few = scorer.recommend(scorer.user_ids[0], 10, allowed_item_ids=["i0", "i1", "i199", "i150", "i3"])
    assert len(few) == 5


def test_a_challenger_within_the_validation_noise_does_not_displace_the_reliable_recipe():
    from recommender.ml.selection import keep_reliable_unless_clearly_beaten, noise_margin

    scores = {"ease": 0.30, "session_knn": 0.34, "popularity": 0.20}
    # 40 validation users: two standard errors are 0.158, so +0.04 is chance.
    chosen, note = keep_reliable_unless_clearly_beaten(scores, "session_knn", n_test=40)
    assert chosen == "ease" and "within the validation's noise" in note and "session_knn" in note
    # 10,000 users: the margin is 0.01, so +0.04 is a real win.
    assert noise_margin(10_000) == pytest.approx(0.01)
    assert keep_reliable_unless_clearly_beaten(scores, "session_knn", n_test=10_000) == ("session_knn", "")
    # Without EASE (too large), sparse_ease is the one kept; the reliable recipe winning outright needs no note.
    assert keep_reliable_unless_clearly_beaten({"sparse_ease": 0.2, "popularity": 0.21}, "popularity", n_test=50)[
        0
    ] == ("sparse_ease")
    assert keep_reliable_unless_clearly_beaten(scores | {"ease": 0.5}, "ease", n_test=40) == ("ease", "")
