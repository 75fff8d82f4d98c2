"""Approximate nearest-neighbour retrieval for embedding models of large catalogues.

A planted catalogue of 20,000 items in 200 taste clusters, with users near
their cluster's centre, stands in for a trained two-tower model; the
threshold is lowered so the index is built at this size.
"""

from pathlib import Path

import numpy as np
import pytest

from recommender.ml import ArtifactError, artifacts, load_scorer, save_artifact, scorers
from recommender.ml.errors import UnknownItem
from recommender.ml.recipes import get_recipe
from recommender.ml.scorers import EmbeddingScorer
from recommender.ml.training import TrainedModel

N_ITEMS, N_USERS, DIM, CLUSTERS = 20_000, 300, 32, 200


def _unit(rows):
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _planted_scorer() -> EmbeddingScorer:
    rng = np.random.default_rng(11)
    centres = _unit(rng.standard_normal((CLUSTERS, DIM)))
    item_cluster = rng.integers(0, CLUSTERS, N_ITEMS)
    items = _unit(centres[item_cluster] + 0.35 * rng.standard_normal((N_ITEMS, DIM)))
    user_cluster = rng.integers(0, CLUSTERS, N_USERS)
    users = _unit(centres[user_cluster] + 0.35 * rng.standard_normal((N_USERS, DIM)))
    # Each user has seen five items of their own cluster.
    histories = [rng.choice(np.flatnonzero(item_cluster == cluster), 5, replace=False) for cluster in user_cluster]
    indptr = np.arange(0, 5 * N_USERS + 1, 5)
    return EmbeddingScorer(
        "two_tower",
        [f"u{n}" for n in range(N_USERS)],
        [f"i{n}" for n in range(N_ITEMS)],
        indptr,
        np.concatenate(histories),
        users,
        items,
    )


@pytest.fixture(scope="module")
def exact():
    return _planted_scorer()


@pytest.fixture(scope="module")
def saved(exact, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ann")
    trained = TrainedModel(recipe=get_recipe("two_tower"), params={}, history=[], snapshot={}, scorer=exact)
    save_artifact(trained, directory, ann_min_items=10_000)
    return directory


@pytest.fixture
def indexed(saved):
    return load_scorer(saved)


def _ids(answer):
    return [item_id for item_id, _ in answer]


def _recall(approximate, exact_answers):
    hits = sum(len(set(_ids(a)) & set(_ids(e))) for a, e in zip(approximate, exact_answers, strict=True))
    return hits / sum(len(e) for e in exact_answers)


def test_index_is_built_above_the_threshold_only(exact, saved, tmp_path):
    assert (saved / "items.faiss").is_file()
    described = artifacts.read_manifest(saved)["ann_index"]
    assert described["kind"] == "ivf_flat_ip" and described["recall_at_10"] >= 0.95
    small = TrainedModel(recipe=get_recipe("two_tower"), params={}, history=[], snapshot={}, scorer=exact)
    save_artifact(small, tmp_path, ann_min_items=N_ITEMS + 1)
    assert not (tmp_path / "items.faiss").exists()
    assert load_scorer(tmp_path).item_index is None


def test_recommendations_through_the_index_agree_with_exact_search(exact, indexed):
    users = [f"u{n}" for n in range(N_USERS)]
    approximate = [indexed.recommend(user, 10) for user in users]
    assert indexed.retrieval_counts["ann"] == N_USERS
    assert _recall(approximate, [exact.recommend(user, 10) for user in users]) >= 0.95
    # The index's inner products are exact: a found item's score is its exact score, and so is rank's.
    item_id, score = approximate[0][0]
    assert score == pytest.approx(exact.score("u0", [item_id])[0], abs=1e-5)
    named = [item_id, "nope", "i7"]
    assert indexed.score("u0", named) == pytest.approx(exact.score("u0", named), abs=1e-5)
    assert indexed.score("u0", named)[1] is None


def test_exclusions_hold_on_the_index_path(exact, indexed):
    for n in range(20):
        user = f"u{n}"
        best = _ids(exact.recommend(user, 5))
        seen = set(indexed.item_ids[indexed.seen_positions(n)].tolist())
        answer = _ids(indexed.recommend(user, 10, exclude_item_ids=best))
        assert len(answer) == 10 and not (set(answer) & (set(best) | seen))
    assert indexed.retrieval_counts["ann"] == 20


def test_filters_that_leave_too_few_candidates_fall_back_to_exact_search(exact, indexed):
    # Items of other tastes: the index's candidates for u0 hold none of them.
    far = [f"i{position}" for position in np.argsort(exact.item_vectors @ exact.user_vectors[0])[:30]]
    answer = indexed.recommend("u0", 10, allowed_item_ids=far, exclude_item_ids=far[:3])
    assert indexed.retrieval_counts["exact_fallback"] == 1
    expected = exact.recommend("u0", 10, allowed_item_ids=far, exclude_item_ids=far[:3])
    assert _ids(answer) == _ids(expected)
    assert [score for _, score in answer] == pytest.approx([score for _, score in expected], abs=1e-5)
    assert set(_ids(answer)) <= set(far[3:])


def test_a_filter_the_candidates_satisfy_stays_on_the_index(exact, indexed):
    near = _ids(exact.recommend("u1", 40))
    answer = indexed.recommend("u1", 10, allowed_item_ids=near[::2])
    assert indexed.retrieval_counts == {"ann": 1, "exact_fallback": 0}
    assert set(_ids(answer)) <= set(near[::2]) and len(answer) == 10


def test_similar_items_use_the_same_index(exact, indexed):
    items = [f"i{n}" for n in range(0, N_ITEMS, 100)]
    approximate = [indexed.similar_items(item, 10) for item in items]
    assert indexed.retrieval_counts["ann"] == len(items)
    assert _recall(approximate, [exact.similar_items(item, 10) for item in items]) >= 0.95
    assert all(item not in _ids(answer) for item, answer in zip(items, approximate, strict=True))


def test_unknown_users_and_sessions_are_served_from_history_through_the_index(exact, indexed):
    history = ["i1", "i2", "i3"]
    assert _recall([indexed.recommend("stranger", 10, history_item_ids=history)],
                   [exact.recommend("stranger", 10, history_item_ids=history)]) >= 0.9  # fmt: skip
    session = indexed.recommend_session(history, 10)
    assert session.used == 3 and not set(_ids(session.items)) & set(history)
    assert indexed.retrieval_counts["ann"] == 2


def test_round_trip_maps_the_index_and_large_arrays(exact, monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "MAP_MIN_BYTES", 1_000_000)
    trained = TrainedModel(recipe=get_recipe("two_tower"), params={}, history=[], snapshot={}, scorer=exact)
    save_artifact(trained, tmp_path, ann_min_items=10_000)
    assert (tmp_path / "scorer.item_vectors.npy").is_file()
    loaded = load_scorer(tmp_path)
    # Read-only maps of the files: every process that loads the model shares their pages.
    mapped = Path("/proc/self/maps").read_text()
    assert str(tmp_path / "items.faiss") in mapped and str(tmp_path / "scorer.item_vectors.npy") in mapped
    assert not loaded.item_vectors.flags.writeable
    np.testing.assert_array_equal(loaded.item_vectors, exact.item_vectors)
    assert loaded.recommend("u3", 10) == load_scorer(tmp_path).recommend("u3", 10)


def test_a_changed_index_file_is_refused(saved, tmp_path):
    for path in saved.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    index = tmp_path / "items.faiss"
    index.write_bytes(index.read_bytes()[:-16])
    with pytest.raises(ArtifactError, match="items.faiss"):
        load_scorer(tmp_path)


def test_large_id_sets_are_looked_up_without_a_dict_and_answer_alike(exact, monkeypatch):
    monkeypatch.setattr(scorers, "DICT_MAX_IDS", 100)
    lean = _planted_scorer()
    assert isinstance(lean._item_position, scorers.SortedIds) and isinstance(lean._user_position, scorers.SortedIds)
    for user in ("u0", "u7", "u299"):
        assert lean.recommend(user, 10, exclude_item_ids=["i5", "nope"]) == exact.recommend(
            user, 10, exclude_item_ids=["i5", "nope"]
        )
    assert lean.similar_items("i19999", 5) == exact.similar_items("i19999", 5)
    assert lean.score("u1", ["i0", "i10000", "i99999"]) == exact.score("u1", ["i0", "i10000", "i99999"])
    assert not lean.knows_user("u300") and lean.knows_user("u30")
    with pytest.raises(UnknownItem):
        lean.similar_items("i20000", 5)
    assert all(type(item_id) is str for item_id, _ in lean.recommend("u0", 3))
