"""The whole journey with the Python client: dataset → import → train → deploy → recommend → events → usage.

Against a running platform (``make run`` prints a key):

    RECSYS_BASE_URL=http://127.0.0.1:8000 RECSYS_API_KEY=<key> python clients/python/examples/journey.py

history.csv holds 600 ratings of 60 users in the file's own column names (MovieLens style).
"""

import time
from pathlib import Path

from recsys_client import Client

HERE = Path(__file__).resolve().parent


def main() -> None:
    # Names are suffixed with the time, so the example runs again without clashing.
    suffix = time.strftime("%Y%m%d-%H%M%S")
    with Client() as client:  # RECSYS_BASE_URL and RECSYS_API_KEY
        print("tenant:", client.whoami().tenant.name)

        dataset = client.create_dataset(f"example history {suffix}", "interactions")
        job = client.import_file(
            dataset,
            HERE / "history.csv",
            column_mapping={"userId": "user_id", "movieId": "item_id", "rating": "value"},
            wait=True,
            progress=True,
        )
        print(f"dataset {dataset.id}: imported {job.rows_loaded} rows")

        model = client.create_model(f"Example {suffix}", dataset, slug=f"example-{suffix}")
        run = client.train(model, wait=True, progress=True)
        scores = (run.metrics or {}).get("metrics", {})
        print(f"run {run.id}: {run.status}, version {run.version}, ndcg@10 {scores.get('ndcg@10', 0):.3f}")
        version = client.deploy(model, run.version)
        print(f"deployed version {version.number} of {model.slug}")

        answer = client.recommend(model, "u1", k=5)
        print("recommendations for u1:", ", ".join(f"{i.item_id} ({i.score:.3f})" for i in answer))
        clicked = answer.item_ids[:2]
        feedback = [answer.feedback(item_id, "click", event_id=f"{suffix}-{item_id}") for item_id in clicked]
        sent = client.send_events(feedback, dataset=dataset)
        print(f"events: {sent.accepted} accepted, {sent.duplicates} duplicates, {len(sent.rejected)} rejected")

        usage = client.usage()
        print(f"usage: {usage.total} requests in 30 days; by endpoint {usage.endpoints}")
        print("journey complete")


if __name__ == "__main__":
    main()
