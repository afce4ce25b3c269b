"""Callbacks for real training runs: stop early, keep the best model, survive
interruptions.

:func:`training_callbacks` is the list a reader copies into a long ``fit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras

from snippets.validation import check_positive_int

BEST_MODEL_NAME = "best.keras"
BACKUP_FOLDER_NAME = "backup"


def check_monitor(
    monitor: str, logged: Iterable[str], owner: str = "a callback"
) -> None:
    """Raise ``ValueError`` unless ``monitor`` is among the ``logged`` quantities,
    listing them.

    A ``val_`` quantity whose training counterpart is logged means the run
    has no validation data: the message says to pass ``validation_data``.
    """
    logged = sorted(logged)
    if monitor in logged:
        return
    if monitor.startswith("val_") and not any(
        name.startswith("val_") for name in logged
    ):
        raise ValueError(
            f"{owner} monitors {monitor!r}, which needs validation data: pass "
            f"validation_data (or validation_split) to fit, or monitor one of {logged}"
        )
    raise ValueError(
        f"{owner} monitors {monitor!r}, which is not logged; known quantities: {logged}"
    )


def check_monitors(
    callbacks: Iterable[keras.callbacks.Callback],
    logged: Iterable[str] | None,
    *,
    has_validation: bool,
) -> None:
    """Before training: every callback's ``monitor`` must be a quantity ``fit`` logs.

    ``logged`` lists them (``None``: not known before training, then only a
    ``val_`` quantity without validation data is refused).
    """
    for callback in callbacks:
        monitor = getattr(callback, "monitor", None)
        if not isinstance(monitor, str):
            continue
        owner = type(callback).__name__
        if logged is not None:
            check_monitor(monitor, logged, owner)
        elif monitor.startswith("val_") and not has_validation:
            check_monitor(monitor, (), owner)


class _EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping, which raises when its quantity is missing from the logs
    instead of warning."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        check_monitor(self.monitor, logs or {}, "EarlyStopping")
        super().on_epoch_end(epoch, logs)


def training_callbacks(
    folder: str | Path, *, patience: int = 5, monitor: str = "val_loss"
) -> list[keras.callbacks.Callback]:
    """Early stopping, a best-model checkpoint and an interruption backup in ``folder``.

    - ``EarlyStopping(monitor, patience, restore_best_weights=True)``: stop
      once ``monitor`` has not improved for ``patience`` epochs, and leave the
      model with the weights of its best epoch, not its last one (Prechelt, 1998).
    - ``ModelCheckpoint(folder / "best.keras", save_best_only=True)``: save the
      whole model (architecture, weights, optimizer state) every time
      ``monitor`` reaches a new best, so the best model survives the Python
      session; it reloads with ``keras.saving.load_model(..., safe_mode=True)``.
    - ``BackupAndRestore(folder / "backup")``: save the weights, the optimizer
      state and the epoch count after every epoch. If ``fit`` is interrupted
      (a crash, a killed job, a pre-empted machine), calling ``fit`` again with
      the same arguments and a callback on the same folder resumes from the last
      finished epoch instead of starting over; a run that finishes deletes the
      backup. It restores the model, not the other callbacks: after a resume,
      early stopping's patience count and the checkpoint's best value start afresh.

    ``monitor`` names a quantity to minimise in the epoch logs (every quantity a
    VAE logs is a loss or one of its terms), ``"val_loss"`` by default,
    so ``fit`` needs validation data. Without it, or with a name that is not
    logged, early stopping raises ``ValueError`` listing the logged quantities
    (a :class:`snippets.VAE`'s ``fit`` does so before the first step; any
    other model's at the end of the first epoch, before a checkpoint is
    written) rather than silently never stopping. ``BackupAndRestore`` loads the backup
    before the first batch, so the model must already be built: call it once
    on a batch (``model(x[:1])``) before ``fit``. Returns the three callbacks
    in that order.
    """
    patience = check_positive_int(patience, "patience")
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            f"monitor must name a logged quantity such as 'val_loss', got {monitor!r}"
        )
    folder = Path(folder)
    return [
        _EarlyStopping(
            monitor=monitor, patience=patience, mode="min", restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(folder / BEST_MODEL_NAME),
            monitor=monitor,
            mode="min",
            save_best_only=True,
        ),
        keras.callbacks.BackupAndRestore(str(folder / BACKUP_FOLDER_NAME)),
    ]
