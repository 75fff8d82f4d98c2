"""The simulated market of issue 16, through the public API: ``bench/loop.py --market``.

    .venv/bin/python bench/loop.py --market [--seeds 3] [--users 300] [--items 200] [--repetitions 1000]

A ground truth: users and items with hidden unit vectors in 8 dimensions around 12 clusters; a user likes an item with
``taste = sigmoid(10 cos - 6)``; items have a popularity skew (item r drawn in histories ∝ 1/(1+r)^0.8).
Shown an item at position p, a user clicks with ``0.15 × taste / (1 + 0.3 (p - 1))`` and buys 30% of
what they click. Users act only through the API (an in-process DRF client with an API key, a throwaway
PostgreSQL database, tasks run eagerly): they send their history as events, ask for recommendations,
click and buy, and send those events with the answer's recommendation_id; the periodic aggregation
runs after each round, as beat would.

Per seed (a full repetition through the API):
1. CTR: an A/B/n experiment on the traffic of model ``shop`` between its current version (EASE, the
   default recipe's choice here), a degraded version (EASE trained on an import that mixed up half the
   item ids) and the
   ``popular`` model; the online CTR of each arm from the results API, and each arm's per-impression
   click stream as the users saw it.
2. SRM: an A/A experiment where a client-side cache swallows half of one arm's users; the alert
   read from the API.
3. Exploration: five new catalogue items (one liked by most users, four by few) with a weight of 0.2 on
   ``shop`` for half the users and a twin model without exploration for the other half; per round, the
   share of the users who like the star that were shown it, and the CTR of both halves.
4. Learning: a model trained on two events per user, retrained after each of three rounds in which
   users click on its answers and browse a little on their own; its CTR per version.

Then, at the statistics level, ``--repetitions`` A/B and A/A replays drawn from the recorded streams:
each replay draws ``--replay-impressions`` per arm (a 14-day test's traffic) and looks daily
(the always-valid mSPRT p-value at each look, the z test once at the end); and SRM replays of a 50/50
split of the recorded users, fair and with a tenth of one arm dropped.
"""

import hashlib
import math
import os
import random
import statistics as stats
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import flush_redis, fresh_database  # noqa: E402

DB_NAME = "bench_loop_market"
DIM, K = 8, 10
CLICK, BUY, POSITION = 0.15, 0.3, 0.3
CLUSTERS, SPREAD = 12, 0.4


class World:
    """The hidden truth of one seed."""

    def __init__(self, seed, n_users, n_items):
        self.rng = np.random.default_rng(seed)
        self.random = random.Random(seed)
        centres = _unit(self.rng.normal(size=(CLUSTERS, DIM)))
        self.users = _unit(
            centres[self.rng.integers(0, CLUSTERS, n_users)] + SPREAD * self.rng.normal(size=(n_users, DIM))
        )
        self.items = _unit(
            centres[self.rng.integers(0, CLUSTERS, n_items)] + SPREAD * self.rng.normal(size=(n_items, DIM))
        )
        self.popularity = 1 / (1 + np.arange(n_items)) ** 0.8
        self.item_ids = [f"p{i}" for i in range(n_items)]
        self.vectors = dict(zip(self.item_ids, self.items, strict=True))
        self.user_ids = [f"m{u}" for u in range(n_users)]

    def taste(self, user, item_id):
        return 1 / (1 + math.exp(-(10 * float(self.users[user] @ self.vectors[item_id]) - 6)))

    def history(self, per_user):
        """Events drawn from each user's taste times the popularity skew."""
        events = []
        for user, user_id in enumerate(self.user_ids):
            taste = 1 / (1 + np.exp(-(10 * (self.items @ self.users[user]) - 6)))
            weights = taste * self.popularity
            picks = self.rng.choice(len(self.item_ids), size=per_user, replace=False, p=weights / weights.sum())
            events += [{"user_id": user_id, "item_id": self.item_ids[i], "event_type": "view"} for i in picks]
        return events

    def act(self, user, answer, user_id=None):
        """The user's clicks and purchases on one answer: ``(events, clicked at all)``."""
        events, clicked = [], False
        user_id = user_id or self.user_ids[user]
        for position, entry in enumerate(answer["items"], start=1):
            if self.random.random() < CLICK * self.taste(user, entry["item_id"]) / (1 + POSITION * (position - 1)):
                clicked = True
                base = {"user_id": user_id, "item_id": entry["item_id"],
                        "recommendation_id": answer["recommendation_id"]}  # fmt: skip
                events.append({**base, "event_type": "click"})
                if self.random.random() < BUY:
                    events.append({**base, "event_type": "purchase", "value": 10.0})
        return events, clicked


def _unit(matrix):
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


class Api:
    """The public API, in process: every call goes through the URL conf, the key and the serializers."""

    def __init__(self, key):
        from rest_framework.test import APIClient

        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    def __call__(self, method, path, body=None, expect=(200, 201, 202)):
        call = getattr(self.client, method)
        response = call(f"/api/v1/{path}", body, format="json") if method != "get" else call(f"/api/v1/{path}", body)
        if response.status_code not in expect:
            raise SystemExit(f"{method.upper()} {path}: {response.status_code} {response.content[:500]!r}")
        return response.json() if response.content else None

    def events(self, events):
        for start in range(0, len(events), 1000):
            self("post", "events", {"events": events[start : start + 1000]})

    def train(self, slug):
        run = self("post", f"models/{slug}/train", {})
        found = self("get", f"runs/{run['id']}") if "id" in run else run
        if found["status"] != "succeeded":
            raise SystemExit(f"training {slug} failed: {found.get('error')}")
        return found


def _settle():
    from recommender.feedback import impressions
    from recommender.feedback.services import aggregate_metrics

    impressions.flush()
    aggregate_metrics()


def _forget():
    from recommender.feedback import exploration
    from recommender.serving.loader import forget_all

    forget_all()
    exploration._candidates.clear()


def full_repetition(seed, args):
    """One seed through the API; returns its figures and the recorded per-arm click streams."""
    from tenants.audit import Actor
    from tenants.models import Plan
    from tenants.services import create_tenant, get_or_create_user, issue_api_key

    world = World(seed, args.users, args.items)
    plan = Plan.objects.create(name=f"market-{seed}", api_requests_per_minute=10_000_000,
                               max_training_runs_per_day=1000, max_models=100)  # fmt: skip
    owner = get_or_create_user(username=f"market{seed}")
    tenant = create_tenant(name=f"Market {seed}", owner=owner, plan=plan)
    api = Api(
        issue_api_key(
            actor=Actor(tenant=tenant, user=owner), name="market", scopes=["recommend", "ingest", "manage"]
        ).full_key
    )
    history = world.history(args.per_user)
    api.events(history)
    stream = next(d for d in api("get", "datasets")["results"] if d["is_event_stream"])["id"]
    figures = {}

    def model(slug, **body):
        api("post", "models", {"name": slug, "slug": slug, "dataset": stream, **body})

    # 1. Current, degraded and popularity on the traffic of 'shop'.
    # EASE: what the default recipe ("auto") keeps at this size, without its minutes of comparing candidates.
    model("shop", recipe="ease")
    api.train("shop")
    model("popular", recipe="popularity")
    api.train("popular")
    # The degraded version: the same model trained on an import that mixed up half of the item ids.
    api("post", "datasets", {"name": "mixed", "kind": "interactions"})
    tenth = next(d for d in api("get", "datasets")["results"] if d["name"] == "mixed")["id"]
    mixed = world.random.sample(world.item_ids, len(world.item_ids) // 2)
    mapping = dict(zip(mixed, world.random.sample(mixed, len(mixed)), strict=True))
    _import_events(tenant, tenth, [{**e, "item_id": mapping.get(e["item_id"], e["item_id"])} for e in history])
    api("patch", "models/shop", {"dataset": tenth})
    api.train("shop")
    api("patch", "models/shop", {"dataset": stream})
    arms = [{"name": "current", "version": 1, "split": 34, "control": True},
            {"name": "degraded", "version": 2, "split": 33},
            {"name": "popularity", "model": "popular", "version": 1, "split": 33}]  # fmt: skip
    experiment = api("post", "experiments", {"name": "ctr", "model": "shop", "arms": arms})
    streams = {"current": [], "degraded": [], "popularity": []}
    version_arm = {("shop", 1): "current", ("shop", 2): "degraded", ("popular", 1): "popularity"}
    for _ in range(args.rounds):
        events = []
        for user, user_id in enumerate(world.user_ids):
            answer = api("get", "models/shop/recommendations", {"user_id": user_id, "k": K})
            acted, clicked = world.act(user, answer)
            streams[version_arm[(answer["model"], answer["version"])]].append(int(clicked))
            events += acted
        api.events(events)
        _settle()
    results = api("get", f"experiments/{experiment['id']}/results")
    rates = {arm["name"]: arm["rate"] for arm in results["arms"]}
    figures["ctr"] = rates
    figures["ctr_ratio_personal_vs_popularity"] = rates["current"] / rates["popularity"]
    figures["decision"] = results["decision"]["winner"]
    api("post", f"experiments/{experiment['id']}/stop")

    # 2. SRM: an A/A test where a cache in front of the API answers half of arm b's users itself.
    experiment = api(
        "post",
        "experiments",
        {
            "name": "aa",
            "model": "shop",
            "arms": [
                {"name": "a", "version": 1, "split": 50, "control": True},
                {"name": "b", "version": 1, "split": 50},
            ],
        },
    )
    _forget()
    salt = experiment["salt"]
    for user, user_id in enumerate(world.user_ids):
        slot = int(hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:15], 16) % 100
        if slot >= 50 and user % 2 == 0:
            continue
        api("get", "models/shop/recommendations", {"user_id": user_id, "k": K})
    _settle()
    figures["srm_alert_when_tampered"] = api("get", f"experiments/{experiment['id']}")["srm_alert"]
    api("post", f"experiments/{experiment['id']}/stop")
    _forget()

    # 3. Exploration: a new widely liked item and four niche ones, 20% of the slots on 'shop'.
    star = _unit(world.users.mean(axis=0))
    niche = _unit(-star + 0.8 * world.rng.normal(size=(4, DIM)))
    new = {"new-star": star, **{f"new-niche-{n}": vector for n, vector in enumerate(niche)}}
    world.vectors.update(new)
    api("put", "items", {"items": [{"item_id": item_id} for item_id in new]})
    # Both halves get the same model, trained now on everything so far: 'shop' (v3, deployed) and 'twin'.
    model("twin", recipe="ease")
    api.train("twin")
    version = api.train("shop")["version"]
    api("post", f"models/shop/versions/{version}/deploy", {})
    api("put", "models/shop/exploration", {"weight": 0.2, "max_item_age_days": 7})
    _forget()
    lovers = {u for u in range(args.users) if world.taste(u, "new-star") >= 0.6}
    exploring = [u for u in range(args.users) if u % 2 == 0]
    reached, ctr, shown_to = [], {"shop": [0, 0], "twin": [0, 0]}, set()
    for _ in range(args.rounds):
        events = []
        for user, user_id in enumerate(world.user_ids):
            slug = "shop" if user in exploring else "twin"
            answer = api("get", f"models/{slug}/recommendations", {"user_id": user_id, "k": K})
            if slug == "shop" and any(entry["item_id"] == "new-star" for entry in answer["items"]):
                shown_to.add(user)
            acted, clicked = world.act(user, answer)
            ctr[slug][0] += clicked
            ctr[slug][1] += 1
            events += acted
        api.events(events)
        _settle()
        _forget()
        # Of the exploring half's users who like the star, the share shown it so far (in their top 10).
        fans = [u for u in exploring if u in lovers]
        reached.append(sum(1 for u in fans if u in shown_to) / max(len(fans), 1))
    figures["exploration_star_reach_per_round"] = reached
    figures["exploration_fans"] = len([u for u in exploring if u in lovers])
    figures["exploration_ctr"] = {slug: clicks / max(shown, 1) for slug, (clicks, shown) in ctr.items()}
    api("put", "models/shop/exploration", {"weight": 0.0, "max_item_age_days": 7})

    # 4. The loop learns: a model trained on two events per user, retrained after each of three rounds. Its
    # users ('l…') are new to the tenant, so their history is what this phase sent, nothing more.
    api("post", "datasets", {"name": "sparse", "kind": "interactions"})
    sparse = next(d for d in api("get", "datasets")["results"] if d["name"] == "sparse")["id"]
    by_user = {}
    for event in history:
        by_user.setdefault(event["user_id"], []).append(event)
    # Each user twice ('l…a', 'l…b': the same taste and history, their own clicks): twice the impressions.
    by_user = {f"l{user_id[1:]}{twin}": [{**e, "user_id": f"l{user_id[1:]}{twin}"} for e in events]
               for user_id, events in by_user.items() for twin in "ab"}  # fmt: skip
    _import_events(tenant, sparse, [event for events in by_user.values() for event in events[:2]])
    api("post", "models", {"name": "learner", "slug": "learner", "dataset": sparse, "recipe": "ease"})
    api.train("learner")
    learning = []
    for round_ in range(3):
        clicks = shown = 0
        new_events = []
        for user, learner in [(user, f"l{user_id[1:]}{twin}") for user, user_id in enumerate(world.user_ids)
                              for twin in "ab"]:  # fmt: skip
            answer = api("get", "models/learner/recommendations", {"user_id": learner, "k": K})
            acted, clicked = world.act(user, answer, user_id=learner)
            clicks, shown = clicks + clicked, shown + 1
            new_events += [{"user_id": e["user_id"], "item_id": e["item_id"], "event_type": "view"} for e in acted
                           if e["event_type"] == "click"]  # fmt: skip
        # Users also browse on their own between rounds (two more of their history's events each).
        new_events += [event for events in by_user.values() for event in events[2 + 2 * round_ : 4 + 2 * round_]]
        learning.append(clicks / shown)
        _import_events(tenant, sparse, new_events)
        version = api.train("learner")["version"]
        api("post", f"models/learner/versions/{version}/deploy", {})  # whatever the offline metric says
        _forget()
    figures["learning_ctr_per_version"] = learning
    return figures, streams


def _import_events(tenant, dataset_id, events):
    """Events into a named dataset (the events API writes the stream): what an import of a file does."""
    import pandas as pd

    from bench.common import store_interactions
    from recommender.data.models import Dataset

    dataset = Dataset.objects.get(tenant=tenant, pk=dataset_id)
    now = pd.Timestamp.now(tz="UTC").timestamp()
    frame = pd.DataFrame([{"user_id": e["user_id"], "item_id": e["item_id"], "timestamp": now} for e in events])
    store_interactions(tenant, dataset, frame)


def replay_ab(streams, better, worse, repetitions, rng, impressions, looks=14, alpha=0.05):
    """Share of A/B replays whose sequential test (daily looks) and z test pick ``better`` over ``worse``,
    and of A/A replays (both arms drawn from ``better``) that declare no winner. Each replay draws
    ``impressions`` per arm from the recorded stream (a 14-day test at that traffic)."""
    from recommender.feedback import statistics

    def one(a, b):
        n_a, n_b = impressions, impressions
        draw_a, draw_b = rng.choice(a, n_a), rng.choice(b, n_b)
        cuts_a = np.linspace(0, n_a, looks + 1).astype(int)[1:]
        cuts_b = np.linspace(0, n_b, looks + 1).astype(int)[1:]
        sequence = [(int(draw_a[:i].sum()), i, int(draw_b[:j].sum()), j) for i, j in zip(cuts_a, cuts_b, strict=True)]
        p_sequential = statistics.always_valid_p(sequence)
        z = statistics.two_proportion_z_test(*sequence[-1])
        return p_sequential < alpha, z.p_value < alpha, z.difference

    a, b = np.asarray(streams[better]), np.asarray(streams[worse])
    picks = {"sequential": 0, "z": 0}
    quiet = {"sequential": 0, "z": 0}
    for _ in range(repetitions):
        sequential, fixed, difference = one(b, a)  # control: the worse; the challenger should win
        picks["sequential"] += sequential and difference > 0
        picks["z"] += fixed and difference > 0
        sequential, fixed, _ = one(a, a)
        quiet["sequential"] += not sequential
        quiet["z"] += not fixed
    return {name: count / repetitions for name, count in picks.items()}, {
        name: count / repetitions for name, count in quiet.items()
    }


def replay_srm(n_users, repetitions, rng, drop=0.1):
    """Share of fair 50/50 splits that raise the alert, and of splits losing ``drop`` of one arm that do."""
    from recommender.feedback.statistics import sample_ratio_mismatch

    fair = tampered = 0
    for _ in range(repetitions):
        a = int(rng.binomial(n_users, 0.5))
        fair += sample_ratio_mismatch([a, n_users - a], [50, 50]).mismatch
        b = int(rng.binomial(n_users - a, 1 - drop))
        tampered += sample_ratio_mismatch([a, b], [50, 50]).mismatch
    return fair / repetitions, tampered / repetitions


def main(args):
    fresh_database(DB_NAME)
    redis_db = os.environ.get("BENCH_REDIS_DB", "12")
    flush_redis(int(redis_db))
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        OPENBLAS_NUM_THREADS="1",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="ERROR",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_platform.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(2026)
    rows = []
    for seed in range(args.seeds):
        figures, streams = full_repetition(seed, args)
        ab, aa = replay_ab(streams, "current", "degraded", args.repetitions, rng, args.replay_impressions)
        srm_fair, srm_tampered = replay_srm(args.users, args.repetitions, rng)
        rows.append((figures, ab, aa, srm_fair, srm_tampered, {k: len(v) for k, v in streams.items()}))
        print(f"seed {seed}: {figures}", flush=True)
        print(f"  replays of the recorded streams {rows[-1][5]}: A/B picks the better {ab}; A/A quiet {aa}; "
              f"SRM alert fair {srm_fair:.3f}, one arm -10% {srm_tampered:.3f}", flush=True)  # fmt: skip
    _report(args, rows)


def _report(args, rows):
    ratios = [figures["ctr_ratio_personal_vs_popularity"] for figures, *_ in rows]
    decisions = [figures["decision"] for figures, *_ in rows]
    srm = [figures["srm_alert_when_tampered"] for figures, *_ in rows]
    reach = [figures["exploration_star_reach_per_round"] for figures, *_ in rows]
    cost = [1 - figures["exploration_ctr"]["shop"] / figures["exploration_ctr"]["twin"] for figures, *_ in rows]
    pooled = 1 - stats.mean(f["exploration_ctr"]["shop"] for f, *_ in rows) / stats.mean(
        f["exploration_ctr"]["twin"] for f, *_ in rows
    )
    learning = [figures["learning_ctr_per_version"] for figures, *_ in rows]
    means = [stats.mean(ctrs[i] for ctrs in learning) for i in range(3)]
    ab_seq = min(ab["sequential"] for _, ab, *_ in rows)
    ab_z = min(ab["z"] for _, ab, *_ in rows)
    aa_seq = min(aa["sequential"] for _, _, aa, *_ in rows)
    aa_z = min(aa["z"] for _, _, aa, *_ in rows)
    rounds_to_half = [next((r + 1 for r, share in enumerate(shares) if share >= 0.5), None) for shares in reach]
    print()
    print(f"{args.seeds} seeds × ({args.users} users, {args.items} items, {args.rounds} rounds) through the API; "
          f"{args.repetitions} statistical replays per seed")  # fmt: skip
    checks = [
        (f"personalised CTR / popularity's: {', '.join(f'{r:.2f}' for r in ratios)}", min(ratios) >= 2),
        (f"the API's decision after {args.rounds} rounds (too few impressions to decide; see the replays): "
         f"{decisions}", all(d in (None, "current") for d in decisions)),
        (f"A/B current vs degraded, {args.replay_impressions} impressions an arm, better picked (worst seed): "
         f"sequential (the decision) {ab_seq:.3f}; z once at the end {ab_z:.3f}", ab_seq >= 0.95),
        (f"A/A, no winner (worst seed): sequential with 14 daily looks (the decision) {aa_seq:.3f}; z once at "
         f"the end {aa_z:.3f} (0.95 by construction)", aa_seq >= 0.95),
        (f"SRM alert when half of one arm's users is swallowed: {srm}", all(srm)),
        (f"exploration: share of the star's fans shown it so far, by round: "
         f"{[[round(s, 2) for s in shares] for shares in reach]}; rounds to half: {rounds_to_half}",
         all(rounds is not None for rounds in rounds_to_half)),
        (f"exploration's CTR cost (weight 0.2: two of ten slots, a fifth of the position-weighted attention; "
         f"budget 0.2): per seed {', '.join(f'{c:+.3f}' for c in cost)}, all seeds {pooled:+.3f}", pooled <= 0.2),
        (f"CTR per retraining round (v1, v2, v3): {[[round(c, 3) for c in ctrs] for ctrs in learning]}; "
         f"mean {[round(m, 3) for m in means]}",
         all(ctrs[0] < min(ctrs[1:]) for ctrs in learning)),
    ]  # fmt: skip
    for text, met in checks:
        print(f"{'met   ' if met else 'MISSED'} {text}")
