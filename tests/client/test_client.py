"""The client's own behaviour, with the network replaced by httpx.MockTransport: retries, errors,
pagination, streamed uploads, batching, waiting, DataFrames and the recommendation id."""

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pandas as pd
import pytest
from recsys_client import (
    BadRequest,
    Client,
    Event,
    NotFound,
    QuotaExceeded,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    TrainingFailed,
    TransportError,
    WaitTimeout,
)


def _error(status, code, message="nope", details=None, headers=None):
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """A mock server: answers in turn from a list (the last repeats), recording every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []
        self.bodies = []
        self.sleeps = []

    def __call__(self, request):
        self.requests.append(request)
        self.bodies.append(request.read())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def client(self, **kwargs):
        return Client("http://api.test/", "secret-key", transport=httpx.MockTransport(self), sleep=self.sleeps.append,
                      **kwargs)  # fmt: skip


def test_requests_carry_the_key_and_go_under_api_v1_whatever_the_base_url_ends_with():
    for base in ("http://api.test", "http://api.test/", "http://api.test/api/v1/"):
        script = Script(httpx.Response(200, json={"tenant": {"name": "Acme", "plan": {"name": "free"}}}))
        with Client(base, "secret-key", transport=httpx.MockTransport(script)) as client:
            me = client.whoami()
        assert me.tenant.name == "Acme" and me.tenant.plan.name == "free"
        request = script.requests[0]
        assert str(request.url) == "http://api.test/api/v1/tenant"
        assert request.headers["Authorization"] == "Api-Key secret-key"
        assert request.headers["User-Agent"].startswith("recsys-client/")


def test_503_is_retried_with_growing_backoff_then_succeeds():
    script = Script(_error(503, "service_unavailable"), _error(503, "service_unavailable"),
                    httpx.Response(200, json={"id": 12, "status": "running"}))  # fmt: skip
    run = script.client(retry=RetryPolicy(backoff=1.0)).get_run(12)
    assert run.status == "running" and len(script.requests) == 3
    assert 0.5 <= script.sleeps[0] <= 1.0 and 1.0 <= script.sleeps[1] <= 2.0


def test_retry_after_is_honoured_in_seconds_and_as_a_date():
    later = format_datetime(datetime.now(UTC).replace(microsecond=0) + pd.Timedelta(seconds=30), usegmt=True)
    script = Script(
        _error(429, "throttled", headers={"Retry-After": "7"}),
        _error(503, "service_unavailable", headers={"Retry-After": later}),
        httpx.Response(200, json={"total": 3}),
    )
    assert script.client().usage().total == 3
    assert script.sleeps[0] == 7.0 and 25 <= script.sleeps[1] <= 30


def test_a_used_up_quota_is_not_retried():
    script = Script(_error(429, "quota_exceeded", "Your plan allows 2 runs a day.", headers={"Retry-After": "1"}))
    with pytest.raises(QuotaExceeded) as raised:
        script.client().train("recs")
    assert len(script.requests) == 1 and script.sleeps == []
    assert raised.value.code == "quota_exceeded" and raised.value.message == "Your plan allows 2 runs a day."


def test_errors_are_typed_and_carry_the_api_code_message_and_details():
    details = {"k": ["Ensure this value is less than or equal to 500."]}
    script = Script(_error(400, "invalid", "k: Ensure this value is less than or equal to 500.", details))
    with pytest.raises(BadRequest) as raised:
        script.client().recommend("recs", "u1", k=501)
    error = raised.value
    assert (error.status_code, error.code, error.details) == (400, "invalid", details)
    assert "k: Ensure" in str(error) and "GET http://api.test/api/v1/models/recs/recommendations" in str(error)

    with pytest.raises(NotFound):
        Script(_error(404, "not_found", "No model 'x'.")).client().get_model("x")


def test_a_server_that_keeps_failing_raises_after_the_retries_even_without_the_json_error_shape():
    script = Script(httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(ServerError) as raised:
        script.client(retry=RetryPolicy(max_retries=2)).get_run(1)
    assert len(script.requests) == 3 and raised.value.code == "http_502" and "Bad Gateway" in raised.value.message

    script = Script(_error(503, "service_unavailable"))
    with pytest.raises(ServiceUnavailable):
        script.client(retry=RetryPolicy(max_retries=1)).usage()
    assert len(script.requests) == 2


def test_a_refused_connection_is_retried_but_a_broken_post_is_not_repeated():
    ok = httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})
    script = Script(httpx.ConnectError("refused"), ok)
    assert script.client().send_events([{"user_id": "u1", "item_id": "i1"}]).accepted == 1
    assert len(script.requests) == 2

    script = Script(httpx.ReadError("connection reset"), ok)
    with pytest.raises(TransportError):
        script.client().send_events([{"user_id": "u1", "item_id": "i1"}])
    assert len(script.requests) == 1

    script = Script(httpx.ReadError("connection reset"), httpx.Response(200, json={"id": 1, "status": "queued"}))
    assert script.client().get_import(1).status == "queued"  # a GET is safe to repeat


def test_lists_are_fetched_page_by_page_and_become_dataframes():
    items = [{"item_id": f"i{n}", "title": f"Item {n}", "is_active": True} for n in range(250)]

    def page(request):
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json={"count": 250, "results": items[offset : offset + limit]})

    script = Script(page)
    listing = script.client().list_items()
    assert [item.item_id for item in listing] == [f"i{n}" for n in range(250)]
    assert [request.url.params["offset"] for request in script.requests] == ["0", "100", "200"]
    frame = listing.to_dataframe()
    assert frame.shape[0] == 250 and list(frame["item_id"][:2]) == ["i0", "i1"]


def _multipart_fields(request, body):
    """The parts of a multipart body: name → bytes."""
    boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
    fields = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, content = part.partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        fields[name] = content[: -len(b"\r\n")]
    return fields


def test_an_upload_streams_the_file_with_its_options_and_is_resent_whole_after_a_503(tmp_path):
    path = tmp_path / "history.csv"
    content = "userId,movieId\n" + "".join(f"u{n},i{n}\n" for n in range(5000))
    path.write_text(content)
    queued = httpx.Response(202, json={"id": 9, "dataset": 3, "status": "queued", "file_name": "history.csv"})
    script = Script(_error(503, "service_unavailable"), queued)
    job = script.client().import_file(
        3, path, column_mapping={"userId": "user_id", "movieId": "item_id"}, on_error="skip", delimiter=","
    )
    assert job.id == 9 and job.status == "queued" and len(script.requests) == 2
    for request, body in zip(script.requests, script.bodies, strict=False):
        assert request.url.path == "/api/v1/datasets/3/imports"
        assert int(request.headers["Content-Length"]) == len(body)  # the server refuses oversized bodies by it
        fields = _multipart_fields(request, body)
        assert fields["file"] == content.encode()
        assert json.loads(fields["column_mapping"]) == {"userId": "user_id", "movieId": "item_id"}
        assert fields["on_error"] == b"skip" and fields["delimiter"] == b","


def test_a_dataframe_is_uploaded_as_csv():
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "value": [1.5, 2.0]})
    script = Script(httpx.Response(202, json={"id": 1, "status": "queued"}))
    script.client().import_file(3, frame)
    fields = _multipart_fields(script.requests[0], script.bodies[0])
    assert fields["file"].decode().splitlines() == ["user_id,item_id,value", "u1,i1,1.5", "u2,i2,2.0"]
    assert fields["format"] == b"csv"


def test_many_events_are_sent_a_thousand_a_call_and_rejections_keep_their_overall_index():
    def answer(request):
        events = json.loads(request.content)["events"]
        rejected = [{"index": i, "field": "item_id", "reason": "is empty"} for i, e in enumerate(events)
                    if not e["item_id"]]  # fmt: skip
        accepted = len(events) - len(rejected)
        return httpx.Response(200, json={"accepted": accepted, "duplicates": 0, "rejected": rejected})

    events = [{"user_id": "u1", "item_id": "" if n == 2100 else f"i{n}", "timestamp": datetime(2026, 1, 1)}
              for n in range(2500)]  # fmt: skip
    script = Script(answer)
    result = script.client().send_events(events, dataset=7)
    assert [len(json.loads(body)["events"]) for body in script.bodies] == [1000, 1000, 500]
    assert json.loads(script.bodies[0])["dataset"] == 7
    assert json.loads(script.bodies[0])["events"][0]["timestamp"] == "2026-01-01T00:00:00"
    assert result.accepted == 2499 and [(r.index, r.field) for r in result.rejected] == [(2100, "item_id")]


def test_waiting_for_a_run_reports_each_state_and_raises_when_it_failed():
    states = [{"id": 5, "status": "queued"}, {"id": 5, "status": "running", "progress": 0.5, "stage": "fitting"},
              {"id": 5, "status": "succeeded", "progress": 1.0, "version": 2}]  # fmt: skip
    script = Script(*[httpx.Response(200, json=state) for state in states])
    seen = []
    run = script.client().wait_for_run(5, progress=lambda r: seen.append((r.status, r.progress)), poll_interval=2)
    assert run.version == 2 and seen == [("queued", 0.0), ("running", 0.5), ("succeeded", 1.0)]
    assert script.sleeps == [2, 2]

    script = Script(httpx.Response(200, json={"id": 5, "status": "failed", "error": "Out of memory."}))
    with pytest.raises(TrainingFailed) as raised:
        script.client().wait_for_run(5)
    assert raised.value.job.error == "Out of memory." and "Out of memory." in str(raised.value)


def test_waiting_gives_up_after_the_timeout_with_the_last_state():
    script = Script(httpx.Response(200, json={"id": 9, "status": "running", "rows_read": 10}))
    with pytest.raises(WaitTimeout) as raised:
        script.client().wait_for_import(9, timeout=3, poll_interval=1)
    assert raised.value.last.rows_read == 10 and len(script.requests) == 4


def test_a_progress_bar_shows_the_wait(capsys):
    states = [{"id": 9, "status": "running", "progress": 0.25}, {"id": 9, "status": "succeeded", "progress": 1.0}]
    script = Script(*[httpx.Response(200, json=state) for state in states])
    script.client().wait_for_import(9, progress=True)
    assert "import 9: 100%" in capsys.readouterr().err


def test_the_recommendation_id_is_kept_for_feedback_when_the_server_returns_one():
    answer = {"model": "recs", "version": 1, "user_id": "u1", "items": [{"item_id": "i1", "score": 0.9}],
              "fallback": None, "request_id": "r-1", "recommendation_id": "rec-77"}  # fmt: skip
    recs = Script(httpx.Response(200, json=answer)).client().recommend("recs", "u1")
    assert recs.recommendation_id == "rec-77" and recs.personalised
    assert recs.feedback("i1", event_id="e1").to_api() == {
        "user_id": "u1", "item_id": "i1", "event_type": "click", "event_id": "e1", "recommendation_id": "rec-77"
    }  # fmt: skip
    assert recs.to_dataframe().to_dict("records") == [{"rank": 1, "item_id": "i1", "score": 0.9}]

    without = {**answer, "recommendation_id": None}
    del without["recommendation_id"]
    recs = Script(httpx.Response(200, json=without)).client().recommend("recs", "u1")
    assert recs.recommendation_id is None and "recommendation_id" not in recs.feedback("i1").to_api()
    assert isinstance(recs.feedback("i1"), Event)


def test_ids_with_slashes_and_spaces_stay_one_path_segment():
    script = Script(httpx.Response(200, json={"interactions_deleted": 3, "features_deleted": 1}))
    assert script.client().erase_user("team/a b").interactions_deleted == 3
    assert script.requests[0].url.raw_path == b"/api/v1/users/team%2Fa%20b"


def test_unknown_fields_of_the_server_are_kept_and_timestamps_parsed():
    body = {"id": 3, "name": "history", "created_at": "2026-01-01T10:00:00Z", "added_later": {"x": 1}}
    dataset = Script(httpx.Response(200, json=body)).client().get_dataset(3)
    assert dataset.created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert dataset.raw["added_later"] == {"x": 1}
