"""The impression buffer: what serving showed, kept in memory and sent to Redis in batches.

Recording an impression on a request costs a random id and one append to an
in-process queue (a few microseconds, no I/O). A daemon thread in each process
sends the queue to the Redis list ``feedback:impressions`` every
``FEEDBACK_FLUSH_SECONDS`` (1 s); the periodic aggregation task moves the list
into the database (``drain``). Without Redis (the embedded set-up) the thread
writes the batch to the database itself.

Bounded loss, by design: a process that dies loses what it has not sent yet,
at most one flush interval of its impressions; if Redis is down the queue keeps
at most ``FEEDBACK_BUFFER_LIMIT`` entries and drops the oldest beyond (logged).
Lost impressions only make metrics slightly low; serving never waits for them.
"""

import atexit
import json
import logging
import os
import threading
import time
from collections import deque

from django.conf import settings

from core.redis_client import get_redis

logger = logging.getLogger(__name__)

REDIS_LIST = "feedback:impressions"
ID_PREFIX = "rec_"

_queue = deque()
_flusher = {"pid": None, "thread": None}
_start_lock = threading.Lock()
# One flush at a time per process: a flush that returns has seen every earlier one finish sending.
_flush_lock = threading.Lock()


def new_recommendation_id() -> str:
    """An opaque, unguessable id (128 bits from the OS's CSPRNG); its impression row binds it to the tenant."""
    return ID_PREFIX + os.urandom(16).hex()


def record(
    *, tenant_id, config_id, version_number, experiment_id, arm, user_id, item_ids, latency_ms=None, error=False
) -> str:
    """Queue one impression and return its recommendation_id. Never does I/O on the caller's thread.

    ``error`` marks a request that failed after routing (no answer shown): the guardrails count those.
    """
    recommendation_id = new_recommendation_id()
    _queue.append(
        (tenant_id, recommendation_id, time.time(), config_id, version_number, experiment_id, arm, user_id, item_ids,
         latency_ms, error)
    )  # fmt: skip
    if _flusher["thread"] is None:
        _start_flusher()
    return recommendation_id


def _forget_flusher_after_fork():
    # After a fork (gunicorn, Celery prefork) the parent's thread is gone: each process starts its own,
    # and what the parent had queued is the parent's to send.
    _flusher.update(pid=None, thread=None)
    _queue.clear()


os.register_at_fork(after_in_child=_forget_flusher_after_fork)


def _start_flusher():
    with _start_lock:
        if _flusher["thread"] is not None:
            return
        thread = threading.Thread(target=_flush_forever, name="impression-flusher", daemon=True)
        _flusher.update(pid=os.getpid(), thread=thread)
        thread.start()


def _flush_forever():
    while True:
        time.sleep(settings.FEEDBACK["FLUSH_SECONDS"])
        try:
            flush()
        except Exception:  # the thread must outlive any one failure
            logger.exception("Impressions could not be flushed; they stay queued")


def _take_queued():
    taken = []
    for _ in range(len(_queue)):
        try:
            taken.append(_queue.popleft())
        except IndexError:
            break
    return taken


def flush() -> int:
    """Send what this process has queued; returns the number of impressions sent (or stored)."""
    with _flush_lock:
        return _send(_take_queued())


def _send(entries):
    if not entries:
        return 0
    client = get_redis()
    try:
        if client is None:
            from .services import store_impressions

            store_impressions(entries)
        else:
            # One JSON array per 500 impressions: a single encode call is about twice as fast as one per entry.
            client.rpush(REDIS_LIST, *[json.dumps(entries[i : i + 500]) for i in range(0, len(entries), 500)])
    except Exception as exc:  # Redis or (embedded) the database is away: keep them for the next flush
        _queue.extendleft(reversed(entries))
        overflow = len(_queue) - settings.FEEDBACK["BUFFER_LIMIT"]
        for _ in range(max(overflow, 0)):
            _queue.popleft()
        logger.warning("Impressions kept in memory (%s queued, %s dropped): %s", len(_queue), max(overflow, 0), exc)
        return 0
    return len(entries)


def discard_queued():
    """Forget what this process has queued (tests)."""
    _queue.clear()


def drain(store, batch=20, limit=1_000_000) -> int:
    """Move impressions from the Redis list into the database with ``store(entries)``; returns how many.

    Each list element holds up to 500 impressions; ``batch`` elements are stored at a time.

    Read, stored, then trimmed: a crash in between stores a batch twice at worst, and the
    unique recommendation_id makes the second copy a no-op.
    """
    client = get_redis()
    if client is None:
        return 0
    moved = 0
    while moved < limit:
        raw = client.lrange(REDIS_LIST, 0, batch - 1)
        if not raw:
            break
        entries = [tuple(entry) for payload in raw for entry in json.loads(payload)]
        store(entries)
        client.ltrim(REDIS_LIST, len(raw), -1)
        moved += len(entries)
    return moved


def _flush_at_exit():
    try:
        flush()
    except Exception:  # the interpreter is going away; what is lost is within the documented bound
        logger.warning("Impressions queued at exit could not be sent", exc_info=True)


atexit.register(_flush_at_exit)
