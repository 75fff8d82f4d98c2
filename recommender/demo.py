"""A realistic demo shop for ``make run``: a catalogue with categories and months of events.

Shoppers have a favourite category or two, browse in sessions, and now and then
add to cart and buy; a few items are bestsellers. Generated with a fixed seed,
so every demo looks the same.
"""

import random
from datetime import UTC, datetime, timedelta

CATEGORIES = ["shoes", "jackets", "shirts", "trousers", "bags", "hats", "socks", "watches", "sunglasses", "belts"]
ADJECTIVES = ["Classic", "Urban", "Trail", "Summer", "Winter", "Vintage", "Sport", "Slim", "Cosy", "Bold"]
COLOURS = ["black", "navy", "olive", "sand", "red", "grey", "white", "brown"]


def catalogue(n_items=400, seed=7):
    """Items as the catalogue API takes them: id, title, categories, a price feature."""
    rng = random.Random(seed)
    items = []
    for number in range(n_items):
        category = CATEGORIES[number % len(CATEGORIES)]
        title = (
            f"{rng.choice(ADJECTIVES)} {rng.choice(COLOURS)} {category[:-1] if category.endswith('s') else category}"
        )
        items.append(
            {
                "item_id": f"sku-{number:04d}",
                "title": title.capitalize(),
                "categories": [category],
                "features": {"price": round(rng.uniform(9, 180), 2)},
            }
        )
    return items


def events(items, n_users=800, days=90, seed=7, now=None):
    """Events as the events API takes them, oldest first, spread over the last ``days`` days."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    by_category = {category: [] for category in CATEGORIES}
    for item in items:
        by_category[item["categories"][0]].append(item["item_id"])
    # A long tail: within a category, earlier items are much more popular.
    weights = {category: [1 / (rank + 1) ** 0.8 for rank in range(len(ids))] for category, ids in by_category.items()}
    result = []
    for user in range(n_users):
        favourites = rng.sample(CATEGORIES, 2)
        for _ in range(rng.randint(1, 6)):  # sessions
            start = now - timedelta(days=rng.uniform(0, days))
            for step in range(rng.randint(2, 8)):
                category = (
                    favourites[0]
                    if rng.random() < 0.6
                    else favourites[1]
                    if rng.random() < 0.7
                    else rng.choice(CATEGORIES)
                )
                item_id = rng.choices(by_category[category], weights[category])[0]
                when = start + timedelta(minutes=3 * step)
                kind = "purchase" if rng.random() < 0.08 else "add_to_cart" if rng.random() < 0.15 else "view"
                result.append(
                    {
                        "user_id": f"shopper-{user:04d}",
                        "item_id": item_id,
                        "event_type": kind,
                        "timestamp": when.isoformat(),
                    }
                )
    result.sort(key=lambda event: event["timestamp"])
    return result
