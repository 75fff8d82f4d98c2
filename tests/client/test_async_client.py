"""The asyncio client, with the network replaced by httpx.MockTransport: the serving calls, retries and errors."""

import asyncio
import json

import httpx
import pytest
from recsys_client import AsyncClient, Event, NotFound, RetryPolicy, TransportError

ANSWER = {"model": "recs", "version": 3, "user_id": "u1", "fallback": None, "request_id": "r1",
          "items": [{"item_id": "sku-1", "score": 0.91}, {"item_id": "sku-7", "score": 0.5}]}  # fmt: skip


def _run(handler, call, **kwargs):
    """Run ``call(client)`` on an AsyncClient over ``handler``; the requests it made and the waits."""
    requests, sleeps = [], []

    async def sleep(seconds):
        sleeps.append(seconds)

    def record(request):
        requests.append(request)
        return handler(request, len(requests))

    async def main():
        transport = httpx.MockTransport(record)
        async with AsyncClient("http://api.test", "secret-key", transport=transport, sleep=sleep, **kwargs) as client:
            return await call(client)

    return asyncio.run(main()), requests, sleeps


def test_recommend_sends_the_options_and_returns_the_answer():
    answer, requests, _ = _run(
        lambda request, n: httpx.Response(200, json=ANSWER),
        lambda client: client.recommend("recs", "u1", k=2, exclude=["a", "b"], exclude_seen=False),
    )
    assert answer.item_ids == ["sku-1", "sku-7"] and answer.version == 3
    request = requests[0]
    assert request.url.path == "/api/v1/models/recs/recommendations"
    assert dict(request.url.params) == {"user_id": "u1", "k": "2", "exclude": "a,b", "exclude_seen": "false"}
    assert request.headers["Authorization"] == "Api-Key secret-key"


def test_a_503_then_a_throttle_are_waited_out_as_the_server_asks():
    def handler(request, n):
        if n == 1:
            return httpx.Response(503, json={"error": {"code": "service_unavailable", "message": "", "details": {}}})
        if n == 2:
            body = {"error": {"code": "throttled", "message": "slow down", "details": {}}}
            return httpx.Response(429, json=body, headers={"Retry-After": "3"})
        return httpx.Response(200, json=ANSWER)

    answer, requests, sleeps = _run(handler, lambda c: c.rank("recs", "u1", ["sku-7", "sku-1"]),
                                    retry=RetryPolicy(backoff=1.0))  # fmt: skip
    assert answer.item_ids == ["sku-1", "sku-7"] and len(requests) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and sleeps[1] == 3.0
    assert json.loads(requests[-1].content) == {"user_id": "u1", "item_ids": ["sku-7", "sku-1"]}


def test_errors_are_the_same_typed_exceptions():
    not_found = {"error": {"code": "not_found", "message": "No model 'x'.", "details": {}}}
    with pytest.raises(NotFound) as raised:
        _run(lambda request, n: httpx.Response(404, json=not_found), lambda c: c.similar_items("x", "sku-1"))
    assert raised.value.message == "No model 'x'."

    def broken(request, n):
        raise httpx.ReadError("connection reset")

    with pytest.raises(TransportError):
        _run(broken, lambda c: c.send_events([{"user_id": "u1", "item_id": "i1"}]))


def test_events_go_a_thousand_a_call_with_rejections_indexed_from_the_first_event():
    def handler(request, n):
        events = json.loads(request.content)["events"]
        rejected = [{"index": i, "field": "item_id", "reason": "is empty"} for i, e in enumerate(events)
                    if not e["item_id"]]  # fmt: skip
        accepted = len(events) - len(rejected)
        return httpx.Response(200, json={"accepted": accepted, "duplicates": 0, "rejected": rejected})

    events = [Event(user_id="u1", item_id="" if n == 1500 else f"i{n}", event_id=f"e{n}") for n in range(1600)]
    result, requests, _ = _run(handler, lambda c: c.send_events(events))
    assert len(requests) == 2 and result.accepted == 1599
    assert [(r.index, r.field) for r in result.rejected] == [(1500, "item_id")]
