"""Sequence-aware recipes (sasrec, session_knn): numpy parity with Keras, order, sessions, artifacts."""

import keras
import numpy as np
import pytest

from recommender.ml import InvalidParams, evaluate, get_recipe, list_recipes, load_scorer, save_artifact, train
from recommender.ml.sequence import time_gap_buckets
from recommender.ml.synthetic import generate_sequential_interactions

TOLERANCE = 1e-4
TINY_SASREC = {"epochs": 1, "max_history": 12, "embedding_dim": 16, "heads": 2, "batch_size": 32}


@pytest.fixture(scope="module")
def ordered():
    # 40 items in 4 clusters chained 0 -> chain[0] -> ...: the latest item tells the next cluster.
    return generate_sequential_interactions(
        n_users=120, n_items=40, n_clusters=4, mean_items_per_user=15, order_strength=0.9, seed=5
    )


@pytest.fixture(scope="module")
def trained_sasrec(ordered):
    return train("sasrec", TINY_SASREC, interactions=ordered.interactions, seed=1)


@pytest.fixture(scope="module")
def trained_sasrec_sampled(ordered):
    """Sampled softmax, one head, and item text (titles and categories) in the item vectors."""
    params = {**TINY_SASREC, "loss": "sampled_softmax", "negatives": 1000, "heads": 1, "blocks": 1}
    return train("sasrec", params, interactions=ordered.interactions, items=ordered.items, seed=2)


@pytest.fixture(scope="module")
def trained_sasrec_context(ordered):
    """Event types (view, cart, purchase) and time gaps read beside the items."""
    rng = np.random.default_rng(4)
    kinds = rng.choice(["view", "cart", "purchase"], len(ordered.interactions), p=[0.7, 0.2, 0.1])
    interactions = ordered.interactions.assign(event_type=kinds)
    params = {**TINY_SASREC, "event_types": True, "time_gaps": True}
    return train("sasrec", params, interactions=interactions, seed=3)


@pytest.fixture(scope="module")
def trained_session_knn(ordered):
    return train("session_knn", {"neighbors": 30}, interactions=ordered.interactions)


def keras_scores(trained, user_position):
    """Keras's next-item logits after the user's training sequence, left-padded as in training."""
    scorer = trained.scorer
    start, end = scorer.sequence_indptr[user_position], scorer.sequence_indptr[user_position + 1]
    events = None if scorer.sequence_events is None else scorer.sequence_events[start:end]
    gaps = None if scorer.sequence_gaps is None else scorer.sequence_gaps[start:end]
    return keras_session_scores(trained, scorer.sequence_indices[start:end].astype(np.int32), events, gaps)


def keras_session_scores(trained, positions, events=None, gaps=None):
    """Keras's next-item logits after item ``positions`` (with their event-type and gap rows), left-padded."""
    length = trained.scorer.max_history

    def padded(values, shift=0):
        row = np.zeros((1, length), np.int32)
        row[0, length - len(values) :] = np.asarray(values, np.int32) + shift
        return row

    model = trained.keras_model
    hidden = model.encode(
        padded(positions, 1),
        training=False,
        events=None if events is None else padded(events),
        gaps=None if gaps is None else padded(gaps),
    )
    hidden = keras.ops.convert_to_numpy(hidden)[0, -1]
    return keras.ops.convert_to_numpy(model.item_table(training=False))[1:] @ hidden


@pytest.mark.parametrize("fixture", ["trained_sasrec", "trained_sasrec_sampled", "trained_sasrec_context"])
def test_sasrec_numpy_matches_keras(request, fixture):
    trained = request.getfixturevalue(fixture)
    scorer = trained.scorer
    lengths = np.diff(scorer.sequence_indptr)
    # Both a padded (short) and a full-length history.
    users = [int(np.argmin(lengths)), int(np.argmax(lengths)), 0]
    assert lengths[users[0]] < scorer.max_history == lengths[users[1]]
    for user in users:
        actual = np.asarray(scorer.score(scorer.user_ids[user], scorer.item_ids))
        assert np.max(np.abs(actual - keras_scores(trained, user))) < TOLERANCE


def test_event_types_and_time_gaps_of_a_session_match_keras_and_change_the_answer(trained_sasrec_context):
    trained = trained_sasrec_context
    scorer = trained.scorer
    assert set(scorer.event_vocabulary) == {"view", "cart", "purchase"}
    assert scorer.default_event == scorer.event_vocabulary["view"]  # the most common type
    items = list(scorer.item_ids[:4])
    kinds = ["view", "purchase", "brand-new-kind", "cart"]
    times = [0.0, 30.0, 4000.0, 4001.0]
    positions = np.array([scorer._item_position[item] for item in items])
    events = np.array([scorer.event_vocabulary.get(kind, 1) for kind in kinds])  # 1: a type training never saw
    gaps = np.array([1, 2 + 4, 2 + 11, 2 + 1])  # first unknown, then 2 + floor(log2(1 + seconds))
    assert list(time_gap_buckets(times)) == list(gaps)
    expected = keras_session_scores(trained, positions, events, gaps)
    answer = scorer.recommend_session(items, scorer.n_items, exclude_seen=False, event_types=kinds, timestamps=times)
    actual = dict(answer.items)
    assert max(abs(actual[item] - expected[n]) for n, item in enumerate(scorer.item_ids)) < TOLERANCE
    # Without types and times, every event counts as a view with an unknown gap: another answer.
    plain = dict(scorer.recommend_session(items, scorer.n_items, exclude_seen=False).items)
    reference = keras_session_scores(trained, positions, np.full(4, scorer.default_event), np.ones(4, np.int32))
    assert max(abs(plain[item] - reference[n]) for n, item in enumerate(scorer.item_ids)) < TOLERANCE
    assert max(abs(plain[item] - actual[item]) for item in scorer.item_ids) > 1e-3
    # Unknown ids drop out with their type and time.
    with_unknown = scorer.recommend_session(
        ["ghost", *items], 5, event_types=["purchase", *kinds], timestamps=[-1.0, *times]
    )
    assert (
        with_unknown.unknown == 1
        and with_unknown.items == scorer.recommend_session(items, 5, event_types=kinds, timestamps=times).items
    )


def test_sequence_recipes_are_registered_with_their_params():
    names = {recipe.name for recipe in list_recipes()}
    assert {"sasrec", "session_knn"} <= names
    described = {param["name"] for param in get_recipe("sasrec").to_dict()["params"]}
    assert {"max_history", "blocks", "heads", "embedding_dim", "dropout", "loss", "negatives"} <= described
    with pytest.raises(InvalidParams) as raised:
        get_recipe("sasrec").validate({"embedding_dim": 30, "heads": 4})
    assert "heads" in raised.value.errors
    with pytest.raises(InvalidParams) as raised:
        get_recipe("sasrec").validate({"negatives": 100})
    assert "negatives" in raised.value.errors


@pytest.mark.parametrize("fixture", ["trained_sasrec", "trained_session_knn"])
def test_order_of_a_session_changes_the_answer(request, fixture, ordered):
    scorer = request.getfixturevalue(fixture).scorer
    clusters = dict(zip(ordered.items.item_id, ordered.items.categories, strict=True))
    first = next(item for item in scorer.item_ids if clusters[item] == "genre0")
    second = next(item for item in scorer.item_ids if clusters[item] == "genre1")
    forward = scorer.recommend_session([first, second], 5)
    backward = scorer.recommend_session([second, first], 5)
    assert forward.used == backward.used == 2
    assert [item for item, _ in forward.items] != [item for item, _ in backward.items]


def test_order_does_not_matter_to_ease(ordered):
    scorer = train("ease", {"l2": 10.0}, interactions=ordered.interactions).scorer
    items = list(scorer.item_ids[:3])
    assert scorer.recommend_session(items, 5).items == scorer.recommend_session(items[::-1], 5).items


@pytest.mark.parametrize("fixture", ["trained_sasrec", "trained_session_knn"])
def test_session_bad_input_is_counted(request, fixture):
    scorer = request.getfixturevalue(fixture).scorer
    known = list(scorer.item_ids)
    answer = scorer.recommend_session(["nope", known[0], "also-nope", known[1]], 5)
    assert (answer.used, answer.unknown, answer.left_out) == (2, 2, 0)
    assert len(answer.items) == 5 and not {known[0], known[1]} & {item for item, _ in answer.items}
    empty = scorer.recommend_session(["nope"], 5)
    assert (empty.used, empty.unknown, empty.items) == (0, 1, [])
    long_session = (known * 20)[: scorer.max_history + 7]
    answer = scorer.recommend_session(long_session, 5)
    assert (answer.used, answer.left_out) == (scorer.max_history, 7)
    # Only the latest max_history events count: older ones change nothing.
    latest = scorer.recommend_session(long_session[7:], 5)
    assert latest.items == answer.items


def test_session_honours_exclusions_and_allowed_items(trained_sasrec):
    scorer = trained_sasrec.scorer
    items = list(scorer.item_ids)
    allowed = items[10:20]
    answer = scorer.recommend_session(items[:3], 5, exclude_item_ids=[items[10]], allowed_item_ids=allowed)
    chosen = [item for item, _ in answer.items]
    assert len(chosen) == 5 and set(chosen) <= set(allowed) - {items[10]}


@pytest.mark.parametrize(
    "fixture", ["trained_sasrec", "trained_sasrec_sampled", "trained_sasrec_context", "trained_session_knn"]
)
def test_sequence_scorers_round_trip(request, fixture, tmp_path):
    trained = request.getfixturevalue(fixture)
    save_artifact(trained, tmp_path)
    loaded = load_scorer(tmp_path)
    assert type(loaded) is type(trained.scorer)
    for user in trained.scorer.user_ids[:3]:
        assert loaded.recommend(user, 5) == trained.scorer.recommend(user, 5)
    session = list(trained.scorer.item_ids[:4])
    assert loaded.recommend_session(session, 5) == trained.scorer.recommend_session(session, 5)
    assert loaded.similar_items(trained.scorer.item_ids[0], 3) == trained.scorer.similar_items(
        trained.scorer.item_ids[0], 3
    )


def test_session_knn_learns_planted_order(ordered):
    report = evaluate("session_knn", {}, interactions=ordered.interactions, seed=3)
    ease = evaluate("ease", {"l2": 10.0}, interactions=ordered.interactions, seed=3)
    assert report.protocol == "leave_last_out"
    assert report.metrics["hr@10"] > 1.3 * report.baseline["hr@10"]
    assert report.metrics["hr@10"] > ease.metrics["hr@10"]
    # Sampled ranking (100 negatives) is reported beside full ranking, and is the easier of the two.
    sampled = report.to_dict()["sampled"]
    assert sampled["negatives"] == 100
    assert sampled["metrics"]["hr@10"] >= report.metrics["hr@10"]
    assert sampled["baseline"]["hr@10"] >= report.baseline["hr@10"]


def test_sasrec_serves_through_an_item_index_like_exact_search(trained_sasrec, tmp_path):
    # A 40-item index has one cell, so its candidates hold every item: the answers must be exact search's.
    save_artifact(trained_sasrec, tmp_path, ann_min_items=40)
    indexed, exact = load_scorer(tmp_path), trained_sasrec.scorer
    assert indexed.item_index is not None
    user = str(exact.user_ids[0])
    seen = exact.item_ids[exact.seen_positions(0)].tolist()
    assert _ids(indexed.recommend(user, 5)) == _ids(exact.recommend(user, 5))
    assert _ids(indexed.recommend_session(seen, 5).items) == _ids(exact.recommend_session(seen, 5).items)
    assert _ids(indexed.similar_items("i3", 5)) == _ids(exact.similar_items("i3", 5))
    assert indexed.retrieval_counts["ann"] == 3


def _ids(answer):
    return [item_id for item_id, _ in answer]
