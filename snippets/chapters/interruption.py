"""A deliberate interruption, to show what ``keras.callbacks.BackupAndRestore`` does
when a run really dies."""

from __future__ import annotations

import keras

from snippets.validation import check_positive_int


class TrainingInterrupted(RuntimeError):
    """Raised by :class:`InterruptAfter`: a stand-in for a crash during ``fit``."""


class InterruptAfter(keras.callbacks.Callback):
    """Abort ``fit`` with :class:`TrainingInterrupted` once ``epochs`` epochs have run.

    A stand-in for a real interruption, to demonstrate resuming. The exception
    is raised at the *start* of the next epoch, after every callback has
    handled the end of the last finished one, so a ``BackupAndRestore`` in the
    same list has saved it whatever the order of the list. Epochs are counted
    within one ``fit`` call; ``finished_epochs`` lists their indices as Keras
    numbers them (from 0, continuing after a resume). A run that ends after
    ``epochs`` epochs or fewer is not interrupted.
    """

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = check_positive_int(epochs, "epochs")
        self.finished_epochs: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.finished_epochs = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.finished_epochs.append(epoch)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if len(self.finished_epochs) >= self.epochs:
            raise TrainingInterrupted(
                f"training interrupted on purpose after {self.epochs} epochs "
                f"(before epoch {epoch + 1})"
            )
