"""Sending requests: authentication, retries with backoff that honour ``Retry-After``, typed errors."""

from __future__ import annotations

import dataclasses
import email.utils
import random
from collections.abc import Awaitable
from datetime import datetime, timezone
from typing import Any, Callable

import httpx

from ._version import __version__
from .errors import ApiError, TransportError, error_class

# Methods a broken connection may safely repeat (the request may have reached the server).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclasses.dataclass
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Retried: 503 and 502/504 (the platform briefly unavailable), 429 ``throttled`` (not
    ``quota_exceeded``: a plan quota does not come back in seconds), a connection that could
    not be made, and, for idempotent methods, one that broke. The wait is the server's
    ``Retry-After`` when it sends one (up to ``max_retry_after``), else exponential backoff
    with jitter: ``backoff * 2**attempt``, at most ``max_backoff`` seconds.
    """

    max_retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return min(self.max_backoff, self.backoff * 2.0**attempt) * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def api_error(response: httpx.Response) -> ApiError:
    """The typed exception for an error answer (also when the body is not the API's JSON)."""
    code, message = f"http_{response.status_code}", response.reason_phrase or "Error"
    details: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
    elif response.text:
        message = f"{message}: {response.text[:200]}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls = error_class(response.status_code, code)
    return cls(
        message,
        status_code=response.status_code,
        code=code,
        details=details,
        retry_after=retry_after,
        request_id=response.headers.get("X-Request-ID"),
        method=response.request.method,
        url=str(response.request.url),
    )


def normalise_base_url(base_url: str) -> str:
    """The server's root: a trailing ``/`` or ``/api/v1`` is accepted and dropped."""
    base = base_url.rstrip("/")
    if base.endswith("/api/v1"):
        base = base[: -len("/api/v1")]
    return base


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"recsys-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Api-Key {api_key}"
    return headers


class _Retrying:
    """The retry decisions, shared by the blocking and the asyncio sender."""

    retry: RetryPolicy

    def _delay_after_transport_error(self, method: str, path: str, exc: httpx.TransportError, attempt: int) -> float:
        """Seconds to wait before trying again; raises ``TransportError`` when it should not be tried again."""
        # A refused connection never reached the server; a broken one may have, so only
        # idempotent methods are repeated after it.
        repeatable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or method in IDEMPOTENT
        if repeatable and attempt < self.retry.max_retries:
            return self.retry.delay(attempt, None)
        raise TransportError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc

    def _delay_after_error(self, error: ApiError, attempt: int) -> float:
        """Seconds to wait before trying again; raises the error when it should not be tried again."""
        retryable = (
            attempt < self.retry.max_retries
            and error.status_code in self.retry.statuses
            and error.code != "quota_exceeded"
            and (error.retry_after is None or error.retry_after <= self.retry.max_retry_after)
        )
        if not retryable:
            raise error
        return self.retry.delay(attempt, error.retry_after)


def _answer(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


class Sender(_Retrying):
    """One ``httpx.Client`` with the key, the retry policy and error translation."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float,
        retry: RetryPolicy,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.http = httpx.Client(
            base_url=normalise_base_url(base_url) + "/api/v1/",
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self.retry = retry
        self.sleep = sleep

    def request(self, method: str, path: str, *, stream: bool = False, rewind: Any = None, **kwargs: Any) -> Any:
        """Send with retries; the JSON answer (``None`` for 204), or the response itself when ``stream``.

        ``rewind`` is called before each retry (to rewind an upload's file).
        """
        attempt = 0
        while True:
            if attempt and rewind is not None:
                rewind()
            try:
                response = self.http.send(self.http.build_request(method, path, **kwargs), stream=stream)
            except httpx.TransportError as exc:
                self.sleep(self._delay_after_transport_error(method, path, exc, attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response if stream else _answer(response)
            if stream:
                response.read()
                response.close()
            self.sleep(self._delay_after_error(api_error(response), attempt))
            attempt += 1

    def close(self) -> None:
        self.http.close()


class AsyncSender(_Retrying):
    """The same over ``httpx.AsyncClient``, waiting with ``asyncio.sleep``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=normalise_base_url(base_url) + "/api/v1/",
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self.retry = retry
        self.sleep = sleep

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send with retries; the JSON answer (``None`` for 204)."""
        attempt = 0
        while True:
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                await self.sleep(self._delay_after_transport_error(method, path, exc, attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return _answer(response)
            await self.sleep(self._delay_after_error(api_error(response), attempt))
            attempt += 1

    async def aclose(self) -> None:
        await self.http.aclose()
