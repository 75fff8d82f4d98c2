"""A short simulated market: users with hidden tastes act only through the public API.

Each of 120 users belongs to one of four hidden taste groups; each item to one group, with a
popularity skew (low ids are popular). A user clicks an item shown at position p with probability
``taste × 1 / (1 + 0.3 (p - 1))`` (0.15 for their own group, 0.01 otherwise) and buys 30% of what
they click. The tenant sends the history as events, trains a personalised model (the default
recipe) and a popularity model, and runs an experiment between them on the personalised model's
traffic. Users then ask for five recommendations a round (three rounds), click and buy, and send their events
with the answer's recommendation_id; the periodic aggregation runs after each round.
"""

import random

from ..serving.conftest import train_model
from .conftest import settle

USERS, ITEMS, GROUPS = 120, 80, 4
OWN, OTHER, BUY = 0.15, 0.01, 0.3
ROUNDS = 3


def _group(index):
    return index % GROUPS


def _history(rng):
    """Eight items per user, mostly from their own group, weighted by popularity."""
    popularity = [1 / (1 + item) ** 0.8 for item in range(ITEMS)]
    events = []
    for user in range(USERS):
        liked = [item for item in range(ITEMS) if _group(item) == _group(user)]
        picks = set(rng.choices(liked, weights=[popularity[item] for item in liked], k=7))
        picks.add(rng.choices(range(ITEMS), weights=popularity, k=1)[0])
        events += [{"user_id": f"m{user}", "item_id": f"p{item}", "event_type": "view"} for item in picks]
    return events


def _act(rng, user, answer):
    """The user's clicks and purchases on one answer, as events naming it."""
    events = []
    for position, entry in enumerate(answer["items"], start=1):
        item = int(entry["item_id"][1:])
        taste = OWN if _group(item) == _group(user) else OTHER
        if rng.random() < taste / (1 + 0.3 * (position - 1)):
            base = {
                "user_id": f"m{user}",
                "item_id": entry["item_id"],
                "recommendation_id": answer["recommendation_id"],
            }
            events.append({**base, "event_type": "click"})
            if rng.random() < BUY:
                events.append({**base, "event_type": "purchase", "value": 10.0})
    return events


def test_the_personalised_model_doubles_popularitys_online_ctr_and_wins_the_experiment(
    tenant_a, django_capture_on_commit_callbacks
):
    rng = random.Random(2026)
    client = tenant_a.client
    assert client.post("/api/v1/events", {"events": _history(rng)}, format="json").json()["accepted"] > 600
    stream = next(d for d in client.get("/api/v1/datasets").json()["results"] if d["is_event_stream"])
    dataset = type("Ref", (), {"pk": stream["id"]})
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="personal", dataset=dataset)
    train_model(tenant_a, django_capture_on_commit_callbacks, slug="popular", recipe="popularity", dataset=dataset)
    arms = [
        {"name": "popularity", "model": "popular", "version": 1, "split": 50, "control": True},
        {"name": "personal", "model": "personal", "version": 1, "split": 50},
    ]
    experiment = client.post(
        "/api/v1/experiments", {"name": "market", "model": "personal", "arms": arms}, format="json"
    )
    assert experiment.status_code == 201, experiment.content
    experiment_id = experiment.json()["id"]

    for _ in range(ROUNDS):
        events = []
        for user in range(USERS):
            answer = client.get("/api/v1/models/personal/recommendations", {"user_id": f"m{user}", "k": 5}).json()
            events += _act(rng, user, answer)
        if events:
            assert client.post("/api/v1/events", {"events": events}, format="json").status_code == 200
        settle()

    results = client.get(f"/api/v1/experiments/{experiment_id}/results").json()
    by_arm = {arm["name"]: arm for arm in results["arms"]}
    assert by_arm["personal"]["impressions"] + by_arm["popularity"]["impressions"] == USERS * ROUNDS
    assert by_arm["personal"]["rate"] >= 2 * by_arm["popularity"]["rate"], by_arm
    assert results["decision"]["winner"] == "personal", results["decision"]
    assert results["sample_ratio"]["alert"] is False
    metrics = client.get("/api/v1/metrics", {"bucket": "1h", "experiment": experiment_id}).json()["series"]
    revenue = {entry["arm"]: entry["totals"]["revenue_per_mille"] for entry in metrics}
    assert revenue["personal"] > revenue["popularity"] and revenue["personal"] > 0
