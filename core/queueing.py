"""Sending work to the Celery queue once the request's transaction commits, and what happens when the
broker (Redis) cannot take it.

A job row (an import, a training run, a batch) is committed first and its task
sent after, so a worker never looks for a row that is not there yet. If the
broker is down at that moment, the row would stay "queued" forever with no
message behind it: instead it is marked failed with a reason, the outage is
logged, and the caller gets :class:`QueueUnavailable` (503 in the API's error
shape) and can simply retry. A message the broker took but then lost (Redis
keeps none across a restart) is sent again by :func:`resend_lost`.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from kombu.exceptions import OperationalError

from core.errors import Unavailable

logger = logging.getLogger(__name__)

NOT_QUEUED = "It could not be queued: the task queue was unavailable. Nothing was done; try again in a moment."


class QueueUnavailable(Unavailable):
    code = "queue_unavailable"
    default_message = "The task queue is briefly unavailable; nothing was started. Retry in a few seconds."


def send_on_commit(send: Callable[[], object], mark_not_queued: Callable[[], object]) -> None:
    """After the current transaction commits, call ``send()``; if the broker refuses, call
    ``mark_not_queued()`` (which records on the row that it will not run) and raise :class:`QueueUnavailable`."""

    def callback() -> None:
        try:
            send()
        except OperationalError as exc:
            logger.error("Task queue unavailable, work not queued (%s)", exc)
            mark_not_queued()
            raise QueueUnavailable() from exc

    transaction.on_commit(callback)


def send_best_effort_on_commit(send: Callable[[], object], what: str) -> None:
    """After commit, call ``send()`` for work that may be skipped (it is redone later); a refusal is logged."""

    def callback() -> None:
        try:
            send()
        except OperationalError as exc:
            logger.warning("Task queue unavailable, %s skipped (%s)", what, exc)

    transaction.on_commit(callback)


def resend_lost(queued: QuerySet[Any], lost: Q, send: Callable[[Any], object], what: str) -> list[Any]:
    """Send again the task of each row of ``queued`` that matches ``lost``; returns their primary keys.

    Each row is re-checked under its own row lock (rows another transaction
    holds are left for the next round), so two sweeps never send one row twice.
    ``send(row)`` queues the row's task on commit, with the same fallback as the
    first send: when the broker refuses, that row is marked failed, and the rest
    wait for the next round.
    """
    resent = []
    for pk in queued.filter(lost).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                row = queued.select_for_update(skip_locked=True, of=("self",)).filter(lost, pk=pk).first()
                if row is None:
                    continue
                logger.warning("%s %s is still queued long after its task was sent; sending it again", what, pk)
                send(row)
        except QueueUnavailable:
            break
        resent.append(pk)
    return resent
