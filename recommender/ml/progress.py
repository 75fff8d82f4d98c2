"""Progress reporting and cooperative cancellation for training loops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import TrainingCancelled


@dataclass
class TrainingCallbacks:
    """Hooks a caller (a background job, a CLI) passes to ``train``.

    ``on_epoch(epoch, total_epochs, logs)`` runs after every epoch with 1-based
    ``epoch`` and ``logs`` holding ``loss`` (None for closed-form recipes) and,
    when the recipe keeps a validation split, validation metrics.
    ``should_cancel()`` is polled before training and between epochs.
    """

    on_epoch: Callable[[int, int, dict], None] | None = None
    should_cancel: Callable[[], bool] | None = None


class EpochReporter:
    """Records per-epoch logs, forwards them to the callbacks and enforces cancellation."""

    def __init__(self, callbacks: TrainingCallbacks | None, total_epochs: int):
        self.callbacks = callbacks or TrainingCallbacks()
        self.total_epochs = total_epochs
        self.history: list[dict] = []

    def check_cancel(self, completed_epochs: int = 0) -> None:
        if self.callbacks.should_cancel is not None and self.callbacks.should_cancel():
            raise TrainingCancelled(completed_epochs, self.total_epochs)

    def epoch_done(self, epoch: int, logs: dict, *, last: bool = False) -> None:
        """Report 1-based ``epoch``; unless it is the ``last``, honour a cancel request."""
        entry = {"epoch": epoch, **logs}
        self.history.append(entry)
        if self.callbacks.on_epoch is not None:
            self.callbacks.on_epoch(epoch, self.total_epochs, dict(logs))
        if not last and epoch < self.total_epochs:
            self.check_cancel(epoch)
