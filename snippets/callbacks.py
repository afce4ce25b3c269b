"""Callbacks for training VAEs: a NaN guard and KL warm-up."""

from __future__ import annotations

import keras
import numpy as np

from snippets.validation import check_number, check_positive_int


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stop training with an error as soon as a loss is NaN or infinite.

    ``keras.callbacks.TerminateOnNaN`` ends training quietly and leaves the
    broken weights in place; raising makes the failure impossible to miss. The
    batch losses are checked as they come, and every logged value at the end of
    an epoch (validation included).
    """

    def _check(self, logs: dict | None, where: str) -> None:
        for key, value in (logs or {}).items():
            if not np.isfinite(float(value)):
                raise FloatingPointError(
                    f"training produced a non-finite {key} ({value}) in {where}; "
                    f"lower the learning rate or check the inputs"
                )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check({"loss": (logs or {}).get("loss", 0.0)}, f"batch {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check(logs, f"epoch {epoch + 1}")


def warmup_beta(epoch: int, warmup_epochs: int, final_beta: float = 1.0) -> float:
    """Linear KL warm-up: ``beta = final_beta * min(1, (epoch + 1) / warmup_epochs)``.

    ``epoch`` counts from 0, so the first epoch already has a small positive
    weight and epoch ``warmup_epochs - 1`` reaches ``final_beta``.
    """
    warmup_epochs = check_positive_int(warmup_epochs, "warmup_epochs")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    return final_beta * min(1.0, (epoch + 1) / warmup_epochs)


class KLWarmup(keras.callbacks.Callback):
    """Raise a VAE's KL weight ``beta`` linearly to ``final_beta``, by epoch or step.

    ``KLWarmup(warmup_epochs)``: in epoch ``e`` (from 0)
    ``beta = final_beta * min(1, (e + 1) / warmup_epochs)``; it starts at
    ``final_beta / warmup_epochs``, near 0 only for a long warm-up.

    ``KLWarmup(warmup_steps=n)``: at gradient step ``t`` (from 0, counted over the
    epochs of one ``fit``, ``initial_epoch`` included)
    ``beta = final_beta * min(1, t / n)``: exactly 0 at the first step and a little
    higher at every step after it; Bowman et al. (2016) also raise ``beta`` at every
    step, along an S-shaped curve rather than a line. The callback needs the
    number of steps per epoch, which ``fit`` knows for arrays, sized datasets, or
    ``steps_per_epoch``.

    Down-weighting the KL term early lets the decoder learn to use the code
    before the KL pulls every posterior onto the prior, a common remedy for
    posterior collapse. The weight is recorded in the logs as ``beta`` at the end
    of each epoch.
    """

    logged_names = ("beta",)

    def __init__(
        self,
        warmup_epochs: int | None = None,
        *,
        warmup_steps: int | None = None,
        final_beta: float = 1.0,
    ):
        super().__init__()
        if (warmup_epochs is None) == (warmup_steps is None):
            raise ValueError(
                "give exactly one of warmup_epochs (beta rises once per epoch) and "
                f"warmup_steps (once per step), got warmup_epochs={warmup_epochs!r} "
                f"and warmup_steps={warmup_steps!r}"
            )
        self.warmup_epochs = (
            None
            if warmup_epochs is None
            else check_positive_int(warmup_epochs, "warmup_epochs")
        )
        self.warmup_steps = (
            None
            if warmup_steps is None
            else check_positive_int(warmup_steps, "warmup_steps")
        )
        self.final_beta = check_number(final_beta, "final_beta", low=0.0)
        self._first_step_of_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not isinstance(getattr(self.model, "beta", None), keras.Variable):
            raise TypeError(
                "KLWarmup needs a model with a KL weight `beta` (a keras.Variable), "
                f"such as snippets.VAE; got {type(self.model).__name__}"
            )
        if self.warmup_steps is not None and not self.params.get("steps"):
            raise ValueError(
                "KLWarmup(warmup_steps=...) needs the number of steps per epoch, "
                "which fit does not know for this data; pass steps_per_epoch to fit, "
                "or use KLWarmup(warmup_epochs)"
            )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.warmup_epochs is not None:
            self.model.beta.assign(
                warmup_beta(epoch, self.warmup_epochs, self.final_beta)
            )
        else:
            self._first_step_of_epoch = epoch * self.params["steps"]

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.warmup_steps is not None:
            step = self._first_step_of_epoch + batch
            self.model.beta.assign(self.final_beta * min(1.0, step / self.warmup_steps))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["beta"] = float(keras.ops.convert_to_numpy(self.model.beta))
