"""Sending requests: authentication, retries with backoff that honour ``Retry-After``, typed errors."""

from __future__ import annotations

import dataclasses
import email.utils
import random
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
        return min(self.max_backoff, self.backoff * (2**attempt)) * (0.5 + random.random() / 2)


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
    code, message, details = f"http_{response.status_code}", response.reason_phrase or "Error", {}
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


class Sender:
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
        http_client: httpx.Client | None = None,
    ) -> None:
        headers = {"User-Agent": f"recsys-client/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Api-Key {api_key}"
        self.http = http_client or httpx.Client(
            base_url=normalise_base_url(base_url) + "/api/v1/", headers=headers, timeout=timeout, transport=transport
        )
        if http_client is not None:
            self.http.headers.update(headers)
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
                request = self.http.build_request(method, path, **kwargs)
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                # A refused connection never reached the server; a broken one may have, so only
                # idempotent methods are repeated after it.
                repeatable = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or method in IDEMPOTENT
                if repeatable and attempt < self.retry.max_retries:
                    self.sleep(self.retry.delay(attempt, None))
                    attempt += 1
                    continue
                raise TransportError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
            if response.status_code < 400:
                if stream:
                    return response
                if response.status_code == 204 or not response.content:
                    return None
                return response.json()
            if stream:
                response.read()
                response.close()
            error = api_error(response)
            if self._should_retry(error, attempt):
                self.sleep(self.retry.delay(attempt, error.retry_after))
                attempt += 1
                continue
            raise error

    def _should_retry(self, error: ApiError, attempt: int) -> bool:
        if attempt >= self.retry.max_retries or error.status_code not in self.retry.statuses:
            return False
        if error.code == "quota_exceeded":
            return False
        return error.retry_after is None or error.retry_after <= self.retry.max_retry_after

    def close(self) -> None:
        self.http.close()
