"""Wall-clock time per training epoch, for the chapters that compare speeds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import keras


class EpochTimer(keras.callbacks.Callback):
    """Record the wall-clock seconds of every training epoch (``time.perf_counter``).

    The first epoch also pays for tracing (and, with ``jit_compile=True``, XLA
    compilation) of the training step, so :meth:`seconds_per_epoch` reports
    the median of the later epochs when there are any. Validation inside
    ``fit`` is counted in the epoch.

    Each epoch's seconds also go into the epoch's logs as ``"seconds"``, so the
    ``History`` that ``fit`` returns records them (Keras calls its own ``History``
    after the callbacks it is given): a model stored with its history keeps the time
    it took to train.
    """

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._start)
        if logs is not None:
            logs["seconds"] = self.epoch_seconds[-1]

    @property
    def first_epoch_seconds(self) -> float:
        """Seconds of the first epoch, tracing and compilation included."""
        if not self.epoch_seconds:
            raise ValueError(
                "no epoch has been timed yet; pass the timer to fit(callbacks=[...])"
            )
        return self.epoch_seconds[0]

    def seconds_per_epoch(self) -> float:
        """Median seconds of the epochs after the first (of the first if it is the only
        one)."""
        return seconds_per_epoch([self.first_epoch_seconds, *self.epoch_seconds[1:]])


def seconds_per_epoch(epoch_seconds: Sequence[float]) -> float:
    """Median of ``epoch_seconds`` after the first, which pays for tracing (the first
    alone if it is the only one); e.g. the ``"seconds"`` an :class:`EpochTimer` wrote
    into a ``History``."""
    if len(epoch_seconds) == 0:
        raise ValueError("epoch_seconds must hold at least one epoch's seconds")
    return float(statistics.median(epoch_seconds[1:] or epoch_seconds))
