"""Early stopping as a setting: train until the loss on held-back examples stops
improving, and say where training ended.

A :class:`StoppingRule` is a frozen dataclass of numbers rather than a callback
object, so a training function that takes one is keyed by the model cache
(:mod:`snippets.chapters.cache`) and its model loaded the next time.
:func:`fit_until_stopped` trains with the rule and writes where the rule stopped into
the ``History``'s ``params``, which the cache stores with the model, so
:func:`training_record` reads the same record from a history that was just trained and
from one that was loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
from matplotlib.figure import Figure

from snippets.callbacks import NonFiniteLossGuard
from snippets.chapters.plotting import page_figure
from snippets.validation import check_array, check_number, check_positive_int

# The key in History.params under which fit_until_stopped records the rule's outcome.
STOPPING_PARAM = "early_stopping"


@dataclasses.dataclass(frozen=True)
class StoppingRule:
    """When a network stops training: early stopping on held-back examples.

    A share ``held_back`` of the training examples is kept out of fitting
    (:func:`hold_back`); training stops once the loss on them has not fallen by more
    than ``min_delta`` below its best for ``patience`` epochs, or after ``max_epochs``,
    and the weights of the best epoch are kept. The first ``start_from_epoch`` epochs
    are not watched: during a KL warm-up the loss is not yet the objective the model is
    judged by, and its best epoch must come after. The best epoch is Keras's: the last
    one whose loss fell below the best before it by more than ``min_delta``, which
    with ``min_delta > 0`` need not be the one with the lowest loss.
    """

    max_epochs: int
    patience: int = 2
    min_delta: float = 1.0
    held_back: float = 0.1
    start_from_epoch: int = 0

    def __post_init__(self) -> None:
        check_positive_int(self.max_epochs, "max_epochs")
        start = self.start_from_epoch
        if (
            isinstance(start, bool)
            or not isinstance(start, (int, np.integer))
            or not 0 <= start < self.max_epochs
        ):
            raise ValueError(
                "start_from_epoch must be an integer from 0 to max_epochs - 1 = "
                f"{self.max_epochs - 1}, so that some epoch is watched; got {start!r}"
            )
        check_positive_int(self.patience, "patience")
        check_number(self.min_delta, "min_delta", low=0.0)
        check_number(
            self.held_back,
            "held_back",
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
        )

    def callback(self) -> keras.callbacks.EarlyStopping:
        """A fresh ``keras.callbacks.EarlyStopping`` on ``val_loss`` with this rule."""
        return keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=self.patience,
            min_delta=self.min_delta,
            mode="min",
            restore_best_weights=True,
            start_from_epoch=self.start_from_epoch,
        )


class TrainingRecord(NamedTuple):
    """Where one network's training ended.

    ``epochs`` is how many it ran, ``best_epoch`` (from 1) the epoch whose weights it
    kept, and ``capped`` is true when it ran its ``max_epochs`` without meeting the
    stopping rule. ``val_loss`` ``(epochs,)`` is its loss per epoch on the held-back
    examples (the model's loss: nats per example for a VAE's ``-ELBO``).
    """

    epochs: int
    best_epoch: int
    capped: bool
    val_loss: tuple[float, ...]


def hold_back(
    x_train: np.ndarray, share: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``x_train`` ``(n, d)`` at random (seeded by ``seed``) into the examples
    fitted ``(n - m, d)`` and ``m = round(share * n)`` held back ``(m, d)``.

    Raises:
        ValueError: either part would be empty.
    """
    x_train = check_array(x_train, "x_train", (None,))
    share = check_number(share, "share", low=0.0, high=1.0)
    held = round(share * len(x_train))
    if not 0 < held < len(x_train):
        raise ValueError(
            f"share={share} of {len(x_train)} examples leaves {held} held back and "
            f"{len(x_train) - held} to fit; both must be at least one"
        )
    order = np.random.default_rng(seed).permutation(len(x_train))
    return x_train[order[held:]], x_train[order[:held]]


def fit_until_stopped(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    stopping: StoppingRule | None,
    epochs: int,
    validation_data: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    **fit_options: Any,
) -> keras.callbacks.History:
    """``model.fit`` for ``epochs`` epochs, stopped early by ``stopping`` if one is
    given, and guarded against a non-finite loss (:class:`snippets.NonFiniteLossGuard`).

    With ``stopping``, ``epochs`` must be its ``max_epochs``, ``validation_data`` is
    required (the rule watches its loss) and the returned ``History``'s
    ``params[STOPPING_PARAM]`` holds the rule's outcome, ``{"best_epoch": b,
    "stopped_epoch": s}`` (both from 0; ``s = 0`` when the rule never stopped), for
    :func:`training_record`.
    """
    epochs = check_positive_int(epochs, "epochs")
    if stopping is not None and not isinstance(stopping, StoppingRule):
        raise TypeError(
            f"stopping must be a StoppingRule or None, got {type(stopping).__name__}"
        )
    if stopping is not None and epochs != stopping.max_epochs:
        raise ValueError(
            f"epochs={epochs} differs from stopping.max_epochs={stopping.max_epochs}: "
            "with a stopping rule, its max_epochs is the cap"
        )
    if stopping is not None and validation_data is None:
        raise ValueError(
            "stopping needs validation_data: the rule watches the loss on held-back "
            "examples"
        )
    stopper = [stopping.callback()] if stopping is not None else []
    history = model.fit(
        x,
        y,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=[*callbacks, *stopper, NonFiniteLossGuard()],
        verbose=0,
        **fit_options,
    )
    if stopper:
        history.params[STOPPING_PARAM] = {
            "best_epoch": int(stopper[0].best_epoch),
            "stopped_epoch": int(stopper[0].stopped_epoch),
        }
    return history


def training_record(history: keras.callbacks.History) -> TrainingRecord:
    """Where a :func:`fit_until_stopped` with a rule ended: a :class:`TrainingRecord`.

    Raises:
        ValueError: ``history`` was not trained with a stopping rule.
    """
    outcome = history.params.get(STOPPING_PARAM)
    if outcome is None:
        raise ValueError(
            "history holds no early-stopping outcome: train with "
            "fit_until_stopped(..., stopping=StoppingRule(...))"
        )
    val_loss = tuple(float(value) for value in history.history["val_loss"])
    return TrainingRecord(
        epochs=len(val_loss),
        best_epoch=outcome["best_epoch"] + 1,
        capped=outcome["stopped_epoch"] == 0,
        val_loss=val_loss,
    )


def stopping_summary(
    records: Mapping[str, Sequence[TrainingRecord]],
) -> dict[str, dict[str, float | int]]:
    """How each model's training ended over its runs (seeds), from ``{model: its
    runs' records}`` (:class:`TrainingRecord`, or anything with its ``epochs``,
    ``best_epoch`` and ``capped``): ``median``, ``low`` and ``high`` of the epochs it
    ran, ``median_best`` of the epochs whose weights it kept, ``capped`` (how many runs
    met no stopping rule before their cap) and ``runs``."""
    if not records or not all(records.values()):
        raise ValueError(
            "records must hold at least one TrainingRecord for every model"
        )
    summary = {}
    for model, runs in records.items():
        epochs = np.array([record.epochs for record in runs])
        summary[model] = {
            "median": float(np.median(epochs)),
            "low": int(epochs.min()),
            "high": int(epochs.max()),
            "median_best": float(np.median([record.best_epoch for record in runs])),
            "capped": sum(record.capped for record in runs),
            "runs": len(runs),
        }
    return summary


def stopping_statement(
    summary: Mapping[str, Mapping[str, float | int]],
    max_epochs: int,
    stopped_because: str = (
        "its held-back loss stopped improving by more than the stopping margin"
    ),
) -> str:
    """Markdown: how many runs of :func:`stopping_summary`'s ``summary`` reached the
    cap of ``max_epochs`` before the stopping rule ended them, and what that means;
    ``stopped_because`` says what ends a run that the rule stops."""
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    capped = sum(int(entry["capped"]) for entry in summary.values())
    runs = sum(int(entry["runs"]) for entry in summary.values())
    if capped == 0:
        return (
            f"none of the {runs} runs reached the cap of {max_epochs} epochs: each "
            f"stopped because {stopped_because}"
        )
    return (
        f"{capped} of the {runs} runs reached the cap of {max_epochs} epochs before "
        "the rule stopped them: those networks were still improving, and their "
        "numbers are those of a training budget, not of a converged model"
    )


def plot_validation_loss(
    training: Mapping[str, TrainingRecord], unit: str = "digit"
) -> Figure:
    """Each model's loss on its held-back examples per epoch, the epoch whose weights
    it kept circled; ``unit`` names what the loss is per."""
    fig = page_figure(3.4)
    ax = fig.subplots()
    for name, record in training.items():
        epochs = np.arange(1, record.epochs + 1)
        line = ax.plot(epochs, record.val_loss, marker=".", label=name)[0]
        ax.plot(
            record.best_epoch,
            record.val_loss[record.best_epoch - 1],
            marker="o",
            markersize=10,
            fillstyle="none",
            color=line.get_color(),
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"held-back loss (nats per {unit})")
    ax.legend()
    return fig
