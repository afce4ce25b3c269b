"""Callbacks for real training runs: stop early, keep the best model, survive interruptions.

:func:`training_callbacks` is the list a reader copies into a long ``fit``.
"""

from __future__ import annotations

from pathlib import Path

import keras

from snippets.validation import check_positive_int

BEST_MODEL_NAME = "best.keras"
BACKUP_FOLDER_NAME = "backup"


def training_callbacks(
    folder: str | Path, *, patience: int = 5, monitor: str = "val_loss"
) -> list[keras.callbacks.Callback]:
    """Early stopping, a best-model checkpoint and an interruption backup, all in ``folder``.

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

    ``monitor`` names a quantity in the epoch logs, ``"val_loss"`` by default,
    so ``fit`` needs validation data. ``BackupAndRestore`` loads the backup
    before the first batch, so the model must already be built: call it once
    on a batch (``model(x[:1])``) before ``fit``. Returns the three callbacks
    in that order.
    """
    patience = check_positive_int(patience, "patience")
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must name a logged quantity such as 'val_loss', got {monitor!r}")
    folder = Path(folder)
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(folder / BEST_MODEL_NAME), monitor=monitor, save_best_only=True),
        keras.callbacks.BackupAndRestore(str(folder / BACKUP_FOLDER_NAME)),
    ]
