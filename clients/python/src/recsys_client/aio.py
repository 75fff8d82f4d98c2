"""An asyncio client for the calls an application makes while serving: recommendations, similar
items, ranking, predictions and events (with the same retries and errors as ``Client``).

    async with AsyncClient("http://127.0.0.1:8000", "<key>") as client:
        answer = await client.recommend("shop-recs", "u42", k=5)

Data, training and deployment work stays with the blocking ``Client``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, Callable

import httpx

from ._http import AsyncSender, RetryPolicy
from .client import (
    ROWS_PER_PREDICT,
    _chunks,
    _id,
    _records,
    _segment,
    add_events_result,
    events_bodies,
    recommend_params,
    similar_params,
)
from .models import Dataset, Event, EventsResult, ModelConfig, Predictions, Recommendations, WhoAmI


class AsyncClient:
    """``AsyncClient(base_url, api_key)``; both default to ``RECSYS_BASE_URL`` and ``RECSYS_API_KEY``.

    A short ``timeout`` (10 s) suits a request path; ``transport`` and ``sleep`` are for tests.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        base_url = base_url or os.environ.get("RECSYS_BASE_URL")
        api_key = api_key or os.environ.get("RECSYS_API_KEY")
        if not base_url:
            raise ValueError("No base URL: pass base_url= or set RECSYS_BASE_URL (e.g. http://127.0.0.1:8000).")
        self._sender = AsyncSender(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            transport=transport,
            sleep=sleep,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sender.aclose()

    async def whoami(self) -> WhoAmI:
        return WhoAmI.from_api(await self._sender.request("GET", "tenant"))

    async def recommend(
        self,
        slug: str | ModelConfig,
        user_id: str,
        *,
        k: int = 10,
        exclude_seen: bool | None = None,
        exclude: Sequence[str] = (),
        categories: Sequence[str] = (),
        explain: bool = False,
    ) -> Recommendations:
        """As ``Client.recommend``."""
        params = recommend_params(user_id, k, exclude_seen, exclude, categories, explain)
        answer = await self._sender.request("GET", f"models/{_segment(_id(slug))}/recommendations", params=params)
        return Recommendations.from_api(answer)

    async def similar_items(
        self,
        slug: str | ModelConfig,
        item_id: str,
        *,
        k: int = 10,
        exclude: Sequence[str] = (),
        categories: Sequence[str] = (),
    ) -> Recommendations:
        """As ``Client.similar_items``."""
        params = similar_params(item_id, k, exclude, categories)
        answer = await self._sender.request("GET", f"models/{_segment(_id(slug))}/similar-items", params=params)
        return Recommendations.from_api(answer)

    async def rank(self, slug: str | ModelConfig, user_id: str, item_ids: Sequence[str]) -> Recommendations:
        """As ``Client.rank``."""
        body = {"user_id": user_id, "item_ids": list(item_ids)}
        return Recommendations.from_api(
            await self._sender.request("POST", f"models/{_segment(_id(slug))}/rank", json=body)
        )

    async def predict(self, slug: str | ModelConfig, rows: Any) -> Predictions:
        """As ``Client.predict``."""
        merged: Predictions | None = None
        for chunk in _chunks(_records(rows), ROWS_PER_PREDICT):
            path = f"models/{_segment(_id(slug))}/predict"
            answer = Predictions.from_api(await self._sender.request("POST", path, json={"rows": list(chunk)}))
            if merged is None:
                merged = answer
            else:
                merged.predictions.extend(answer.predictions)
        if merged is None:
            raise ValueError("No rows to predict.")
        return merged

    async def send_events(
        self, events: Iterable[Event | Mapping[str, Any]], *, dataset: int | Dataset | None = None
    ) -> EventsResult:
        """As ``Client.send_events``."""
        total = EventsResult()
        for offset, body in events_bodies(events, dataset):
            answer = await self._sender.request("POST", "events", json=body)
            add_events_result(total, EventsResult.from_api(answer), offset)
        return total
