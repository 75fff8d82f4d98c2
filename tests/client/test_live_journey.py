"""The client and the `recsys` command against a live platform: gunicorn, a real Celery worker, PostgreSQL, Redis.

The journey a data team makes: dataset → import → train → deploy → recommend → events → usage,
then the same from the command line, then the example script the README's quick start runs.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from recsys_client import Client, Event, ImportFailed, NotFound

from ..factories import make_api_key, make_tenant

pytestmark = pytest.mark.worker


def _history_csv(path: Path, n_users=40, n_items=60, per_user=8, seed=0):
    """Interactions with planted taste (users of group g mostly pick items of group g), in the file's own names."""
    rng = random.Random(seed)
    lines = ["userId,movieId,ts"]
    for user in range(n_users):
        liked = [item for item in range(n_items) if item % 4 == user % 4]
        for step, item in enumerate(rng.sample(liked, per_user - 1) + [rng.randrange(n_items)]):
            lines.append(f"u{user},i{item},{1_767_225_600 + user * 3600 + step}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def test_the_client_and_the_command_line_drive_the_whole_journey(live_platform, celery_worker, tmp_path):
    # One test for both, so the platform and the worker start once.
    tenant = make_tenant(name="Client Co")
    _, key = make_api_key(tenant)
    with Client(live_platform, key) as client:
        _python_journey(client, tmp_path)
    _command_line_journey(live_platform, key, tmp_path)
    _example_from_the_readme(live_platform, key)


def _python_journey(client, tmp_path):
    assert client.whoami().tenant.name == "Client Co"

    # Dataset and a streamed upload, mapped from the file's column names, waited for with a progress callback.
    dataset = client.create_dataset("history", "interactions")
    rows = _history_csv(tmp_path / "history.csv")
    seen = []
    job = client.import_file(
        dataset,
        tmp_path / "history.csv",
        column_mapping={"userId": "user_id", "movieId": "item_id", "ts": "timestamp"},
        wait=True,
        progress=seen.append,
        timeout=90,
    )
    assert job.status == "succeeded" and job.rows_loaded == rows
    assert seen[-1].status == "succeeded"
    assert [j.id for j in client.list_imports(dataset)] == [job.id]
    assert client.get_dataset(dataset.id).row_count == rows

    # A bad file fails with the bad row named, and loads nothing.
    (tmp_path / "bad.csv").write_text("user_id,item_id,timestamp\nu1,i1,2026-01-01T00:00:00Z\nu2,,not a time\n")
    with pytest.raises(ImportFailed) as failed:
        client.import_file(dataset, tmp_path / "bad.csv", wait=True, timeout=90)
    assert failed.value.job.errors and failed.value.job.errors[0]["line"] == 3
    assert client.get_dataset(dataset.id).row_count == rows

    # Train with the platform's default recipe, follow the run, and deploy its version.
    model = client.create_model("Shop recs", dataset, slug="shop-recs")
    run = client.train(model, wait=True, timeout=120)
    assert run.status == "succeeded" and run.version == 1, run.error
    versions = client.list_versions("shop-recs").to_list()
    assert [v.number for v in versions] == [1]
    assert client.deploy("shop-recs", 1).is_deployed

    # Recommendations for a known user come from the model, personalised to their group's taste.
    answer = client.recommend("shop-recs", "u1", k=5)
    assert answer.personalised and len(answer) == 5 and answer.version == 1
    assert sum(int(item_id[1:]) % 4 == 1 for item_id in answer.item_ids) >= 4
    assert not client.recommend("shop-recs", "nobody", k=3).personalised

    # Feedback events about what was shown: stored once, even when sent twice.
    events = [answer.feedback(item_id, "click", event_id=f"fb-{item_id}") for item_id in answer.item_ids[:2]]
    events.append(Event(user_id="u1", item_id="", event_id="fb-bad"))
    result = client.send_events(events)
    assert (result.accepted, result.duplicates) == (2, 0)
    assert [(r.index, r.field) for r in result.rejected] == [(2, "item_id")]
    assert client.send_events(events[:2]).duplicates == 2
    # They are seen at once: clicked items are no longer recommended to that user.
    assert not set(answer.item_ids[:2]) & set(client.recommend("shop-recs", "u1", k=5).item_ids)

    # Batch recommendations for two users, as a DataFrame.
    batch = client.wait(client.start_batch("shop-recs", user_ids=["u1", "u2"], k=3), timeout=90)
    frame = client.batch_dataframe(batch)
    assert sorted(set(frame["user_id"])) == ["u1", "u2"] and len(frame) == 6

    # Usage counts the calls just made, by endpoint.
    usage = client.usage()
    assert usage.endpoints.get("recommendations", 0) >= 3 and usage.total > 0

    with pytest.raises(NotFound) as missing:
        client.get_run(999_999)
    assert missing.value.code == "not_found"


def _example_from_the_readme(base_url, key):
    """The example script the README's quick start runs, as it runs it."""
    env = {**os.environ, "RECSYS_BASE_URL": base_url, "RECSYS_API_KEY": key}
    script = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples" / "journey.py"
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "imported 600 rows" in result.stdout and "deployed version 1" in result.stdout
    assert "events: 2 accepted" in result.stdout and result.stdout.rstrip().endswith("journey complete")


def _recsys(*args, base_url, key, tmp_path):
    env = {**os.environ, "RECSYS_BASE_URL": base_url, "RECSYS_API_KEY": key, "RECSYS_CONFIG": str(tmp_path / "none")}
    # The `recsys` script the package installs beside this Python, run by this Python (its first line
    # names the interpreter of whoever installed it, which in a shared venv may be another checkout's).
    command = [sys.executable, str(Path(sys.executable).parent / "recsys")]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=180)


def _command_line_journey(base_url, key, tmp_path):
    run = lambda *args: _recsys(*args, base_url=base_url, key=key, tmp_path=tmp_path)  # noqa: E731

    created = run("datasets", "create", "history from a file", "--json")
    assert created.returncode == 0, created.stderr
    dataset_id = json.loads(created.stdout)["id"]
    rows = _history_csv(tmp_path / "history.csv")
    imported = run("import", str(dataset_id), str(tmp_path / "history.csv"),
                   "--map", "userId=user_id", "--map", "movieId=item_id", "--map", "ts=timestamp")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert ["rows_loaded", str(rows)] in [line.split() for line in imported.stdout.splitlines()]
    assert "upload history.csv" in imported.stderr  # the progress bars

    assert run("models", "create", "Recs", "--dataset", str(dataset_id), "--slug", "recs").returncode == 0
    trained = run("train", "recs", "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["status"] == "succeeded"
    listed = run("versions", "recs")
    assert listed.stdout.splitlines()[0].split()[:3] == ["NUMBER", "RECIPE", "IS_DEPLOYED"]
    assert listed.stdout.splitlines()[1].split()[0] == "1"

    recommended = run("recommend", "recs", "u2", "-k", "3", "--json")
    items = [item["item_id"] for item in json.loads(recommended.stdout)["items"]]
    assert len(items) == 3

    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps({"user_id": "u2", "item_id": item, "event_type": "purchase"}) + "\n" for item in items)
    )
    sent = run("events", "send", str(tmp_path / "events.jsonl"))
    assert sent.returncode == 0 and "accepted 3" in sent.stdout, sent.stderr

    shown = run("usage")
    assert shown.returncode == 0 and "recommendations" in shown.stdout, shown.stderr

    refused = run("runs", "show", "999999")
    assert refused.returncode == 1 and "not_found" in refused.stderr
