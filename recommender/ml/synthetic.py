"""Generated datasets with planted structure, for tests, demos and benchmarks.

The interaction generator gives each user a primary and a secondary taste
cluster and each item a cluster and a Zipf-like popularity: a share of each
user's items follows taste (so personalisation can win) and the rest follows
global popularity (so popularity is a real baseline).  Nothing here is
real-world data; results on it only show that recipes learn such structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86400.0
_EPOCH_2024 = 1_704_067_200.0


@dataclass
class SyntheticInteractions:
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


def generate_interactions(
    n_users: int = 1000,
    n_items: int = 500,
    n_clusters: int = 10,
    mean_items_per_user: int = 30,
    taste_strength: float = 0.7,
    popularity_exponent: float = 1.0,
    seed: int = 0,
) -> SyntheticInteractions:
    """Interactions (with timestamps) plus item and user feature tables."""
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    popularity = 1.0 / np.arange(1, n_items + 1) ** popularity_exponent
    popularity = rng.permutation(popularity)
    global_share = popularity / popularity.sum()
    cluster_share = np.zeros((n_clusters, n_items))
    for cluster in range(n_clusters):
        members = item_cluster == cluster
        cluster_share[cluster, members] = popularity[members] / popularity[members].sum()
    primary = rng.integers(0, n_clusters, n_users)
    secondary = (primary + rng.integers(1, n_clusters, n_users)) % n_clusters
    counts = np.clip(rng.poisson(mean_items_per_user, n_users), 3, n_items // 2)
    rows = []
    for user in range(n_users):
        taste = 0.75 * cluster_share[primary[user]] + 0.25 * cluster_share[secondary[user]]
        preference = taste_strength * taste + (1 - taste_strength) * global_share
        chosen = rng.choice(n_items, size=counts[user], replace=False, p=preference)
        start = _EPOCH_2024 + rng.uniform(0, 300) * SECONDS_PER_DAY
        times = start + np.cumsum(rng.exponential(SECONDS_PER_DAY, counts[user]))
        rows.append(
            pd.DataFrame(
                {
                    "user_id": f"u{user}",
                    "item_id": [f"i{item}" for item in chosen],
                    "timestamp": times,
                    "value": 1.0,
                    "event_type": "view",
                }
            )
        )
    interactions = pd.concat(rows, ignore_index=True)
    extra_genre = rng.integers(0, n_clusters, n_items)
    has_extra = rng.random(n_items) < 0.3
    items = pd.DataFrame(
        {
            "item_id": [f"i{item}" for item in range(n_items)],
            "title": [f"Item {item}" for item in range(n_items)],
            "categories": [
                f"genre{cluster}|genre{extra}" if both else f"genre{cluster}"
                for cluster, extra, both in zip(item_cluster, extra_genre, has_extra, strict=True)
            ],
            "year": rng.integers(1980, 2025, n_items),
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [f"u{user}" for user in range(n_users)],
            # A noisy view of the user's taste, as a sign-up survey might give.
            "segment": [f"s{cluster if rng.random() < 0.6 else rng.integers(n_clusters)}" for cluster in primary],
        }
    )
    return SyntheticInteractions(interactions=interactions, items=items, users=users)


def generate_churn_table(n_rows: int = 2000, noise: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Customers who churn when ``tenure_months < 6`` and ``plan == 'basic'`` (labels flipped at rate ``noise``)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 48, n_rows)
    plan = rng.choice(["basic", "pro", "enterprise"], n_rows, p=[0.5, 0.35, 0.15])
    spend = rng.normal(50, 15, n_rows).round(2)
    spend[rng.random(n_rows) < 0.1] = np.nan
    churned = (tenure < 6) & (plan == "basic")
    churned ^= rng.random(n_rows) < noise
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "plan": plan,
            "monthly_spend": spend,
            "region": rng.choice(np.array(["north", "south", "east", "west", None], dtype=object), n_rows),
            "churned": churned,
        }
    )


def generate_regression_table(n_rows: int = 2000, noise: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """A target that is a non-linear function of two numbers and a category, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n_rows), rng.uniform(-2, 2, n_rows)
    group = rng.choice(["a", "b", "c"], n_rows)
    offset = np.select([group == "a", group == "b"], [0.0, 2.0], -1.5)
    target = 3 * x1 - 2 * x2**2 + offset + rng.normal(0, noise, n_rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "group": group, "target": target})


def generate_sequential_interactions(
    n_users: int = 1000,
    n_items: int = 500,
    n_clusters: int = 10,
    mean_items_per_user: int = 20,
    order_strength: float = 0.8,
    popularity_exponent: float = 1.0,
    seed: int = 0,
    typed: bool = False,
) -> SyntheticInteractions:
    """Interactions with planted *order*: each event's cluster follows from the previous one's.

    Clusters form a fixed random chain; after an item of cluster ``c`` the
    next item comes from ``chain[c]`` with probability ``order_strength``
    (else from a random cluster), chosen within the cluster by Zipf
    popularity, never repeating an item.  Over a long history every user
    visits most clusters, so the set of items says little about what comes
    next, but the latest item says much: sequence-aware recipes can win.

    With ``typed`` the event type carries the order too: 30% of events are a
    ``purchase``, after which the chain moves on as above, while after a
    ``view`` the next item stays in the same cluster (with the same
    probability); events come in sessions (about an hour apart within one,
    about ten days between them). Only a model that reads event types can
    tell the two transitions apart.
    """
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    popularity = rng.permutation(1.0 / np.arange(1, n_items + 1) ** popularity_exponent)
    members = [np.flatnonzero(item_cluster == cluster) for cluster in range(n_clusters)]
    shares = [popularity[items] / popularity[items].sum() for items in members]
    chain = rng.permutation(n_clusters)
    counts = np.clip(rng.poisson(mean_items_per_user, n_users), 3, n_items // 2)
    rows = []
    for user in range(n_users):
        cluster, chosen, kinds = int(rng.integers(n_clusters)), list[int](), list[str]()
        taken = set()
        while len(chosen) < counts[user]:
            candidates = members[cluster]
            for _ in range(10):  # redraw an item the user already has
                item = int(rng.choice(candidates, p=shares[cluster]))
                if item not in taken:
                    chosen.append(item)
                    taken.add(item)
                    break
            kind = "purchase" if typed and rng.random() < 0.3 else "view"
            if len(kinds) < len(chosen):
                kinds.append(kind)
            following = cluster if typed and kind == "view" else int(chain[cluster])
            cluster = following if rng.random() < order_strength else int(rng.integers(n_clusters))
        start = _EPOCH_2024 + rng.uniform(0, 300) * SECONDS_PER_DAY
        if typed:
            session_break = rng.random(len(chosen)) < 0.15
            gaps = np.where(session_break, rng.exponential(10 * SECONDS_PER_DAY, len(chosen)),
                            rng.exponential(3600.0, len(chosen)))  # fmt: skip
        else:
            gaps = rng.exponential(SECONDS_PER_DAY, len(chosen))
        times = start + np.cumsum(gaps)
        rows.append(
            pd.DataFrame(
                {
                    "user_id": f"u{user}",
                    "item_id": [f"i{item}" for item in chosen],
                    "timestamp": times,
                    "value": 1.0,
                    "event_type": kinds,
                }
            )
        )
    items = pd.DataFrame(
        {
            "item_id": [f"i{item}" for item in range(n_items)],
            "title": [f"Item {item}" for item in range(n_items)],
            "categories": [f"genre{cluster}" for cluster in item_cluster],
        }
    )
    users = pd.DataFrame({"user_id": [f"u{user}" for user in range(n_users)]})
    return SyntheticInteractions(interactions=pd.concat(rows, ignore_index=True), items=items, users=users)


def with_taste_text(synthetic: SyntheticInteractions, words_per_cluster: int = 8, seed: int = 0) -> pd.DataFrame:
    """Items whose titles and descriptions carry their taste cluster in words, and no categories column.

    Each cluster (the first ``genre`` of ``generate_interactions``'s categories)
    gets its own pool of made-up words; an item's title takes three of them and
    two from a shared pool, so only the text tells an item's taste.
    """
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ru", "te", "zo", "pa", "ne", "vi", "su", "do", "ga"]

    def word() -> str:
        return "".join(rng.choice(syllables, 3))

    clusters = [int(str(value).split("|")[0].removeprefix("genre")) for value in synthetic.items["categories"]]
    pools = {cluster: [word() for _ in range(words_per_cluster)] for cluster in sorted(set(clusters))}
    shared = [word() for _ in range(words_per_cluster * 2)]
    titles, descriptions = [], []
    for cluster in clusters:
        titles.append(" ".join([*rng.choice(pools[cluster], 3, replace=False), *rng.choice(shared, 2)]).title())
        descriptions.append(" ".join(rng.choice(pools[cluster] + shared, 6)))
    return pd.DataFrame({"item_id": synthetic.items["item_id"], "title": titles, "description": descriptions})
