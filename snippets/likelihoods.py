"""Observation models ``p(x | z)``: what the numbers a decoder outputs mean.

A decoder returns one tensor of *logits*; a likelihood turns them into a
distribution over the data. Each likelihood is a small registered Keras layer
with two methods,

- ``log_prob(x, logits)``: ``log p(x | z)`` per example, summed over every
  non-batch axis, in nats: shape ``(batch,)``;
- ``mean(logits)``: the distribution's mean, the image (or item
  probabilities, or token probabilities) a decoder "draws";

and ``check(x, name)``, which rejects data outside the distribution's support
with a message naming the argument. Being a layer, a likelihood serialises with
the model and may own weights (the learned variance of :class:`Gaussian`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from snippets.validation import check_array, check_images, check_number

LOG_2PI = math.log(2.0 * math.pi)


def _sum_over_example(values):
    """Sum a ``(batch, ...)`` tensor over everything but the batch axis:
    ``(batch,)``."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


class Likelihood(keras.layers.Layer):
    """The interface every likelihood implements: ``log_prob``, ``mean`` and ``check``.

    A likelihood is a layer so that it is saved with the model and can own
    weights, but it is never called on inputs: its weights, if any, are
    created in ``__init__``, so it is built from the start.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def log_prob(self, x, logits):
        """``log p(x | z)`` per example, from the decoder's ``logits`` for ``z``:
        ``(batch,)`` nats."""
        raise NotImplementedError

    def mean(self, logits):
        """The mean of ``p(x | z)``, of the shape of ``x``."""
        raise NotImplementedError

    def logits_shape(self, x_shape: tuple) -> tuple:
        """The per-example shape of the logits that score data of per-example shape
        ``x_shape``.

        One logit per value by default; ``None`` entries match any size.
        """
        return tuple(x_shape)

    def check(
        self, x, name: str = "x", *, logits_shape: tuple | None = None
    ) -> np.ndarray:
        """``x`` as an array, after checking it lies in the support; raises
        ``ValueError`` naming ``name``.

        ``logits_shape`` is the decoder's output shape per example, where the
        support depends on it (the number of classes of :class:`Categorical`).
        """
        return check_array(x, name)


@keras.saving.register_keras_serializable(package="snippets")
class Bernoulli(Likelihood):
    """Independent binary pixels: ``p(x_i = 1 | z) = sigmoid(logit_i)``.

    ``log p(x|z) = sum_i x_i l_i - softplus(l_i)``, which equals
    ``sum_i x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))`` but never
    evaluates ``log 0``. It is a log-probability only for binary ``x``; on grey
    levels the same formula is the cross-entropy of most Keras examples, which
    lacks a normaliser (see :class:`ContinuousBernoulli`).
    """

    def log_prob(self, x, logits):
        logits = ops.convert_to_tensor(logits)
        x = ops.cast(x, logits.dtype)
        return _sum_over_example(x * logits - ops.softplus(logits))

    def mean(self, logits):
        return ops.sigmoid(logits)

    def check(
        self, x, name: str = "x", *, logits_shape: tuple | None = None
    ) -> np.ndarray:
        return check_images(x, name)


def _continuous_bernoulli_log_norm(logits):
    """``log C`` with ``C = l / tanh(l / 2)``; near ``l = 0`` the Taylor form
    ``2 + l^2 / 6`` avoids 0/0."""
    small = ops.abs(logits) < 1e-3
    safe = ops.where(small, ops.ones_like(logits), logits)
    return ops.where(
        small,
        ops.log(2.0 + ops.square(logits) / 6.0),
        ops.log(safe / ops.tanh(0.5 * safe)),
    )


@keras.saving.register_keras_serializable(package="snippets")
class ContinuousBernoulli(Bernoulli):
    """The Bernoulli formula made a proper density on ``[0, 1]`` (Loaiza-Ganem &
    Cunningham, 2019).

    ``p(x | lambda) = C(lambda) lambda^x (1 - lambda)^(1 - x)`` with
    ``lambda = sigmoid(l)`` and ``C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda)
    = l / tanh(l / 2)``. For grey levels this is a normalised density, so
    ``-log p(x|z)`` in nats can be compared across models. Its mean is not
    ``lambda``: ``sigmoid(l) / tanh(l / 2) - 1 / l`` (1/2 at ``l = 0``).
    """

    def log_prob(self, x, logits):
        logits = ops.convert_to_tensor(logits)
        return super().log_prob(x, logits) + _sum_over_example(
            _continuous_bernoulli_log_norm(logits)
        )

    def mean(self, logits):
        logits = ops.convert_to_tensor(logits)
        small = ops.abs(logits) < 1e-3
        safe = ops.where(small, ops.ones_like(logits), logits)
        exact = ops.sigmoid(safe) / ops.tanh(0.5 * safe) - 1.0 / safe
        return ops.where(small, 0.5 + logits / 12.0, exact)


@keras.saving.register_keras_serializable(package="snippets")
class Gaussian(Likelihood):
    """Independent Gaussian pixels ``N(x_i | sigmoid(l_i), sigma^2)`` with one variance
    for all.

    ``variance`` chooses ``sigma^2``:

    - a number: fixed. Then ``-log p(x|z) = ||x - mean||^2 / (2 sigma^2)``
      plus a constant, so "MSE" is this likelihood with a chosen ``sigma``;
    - ``"learned"``: a trainable log-variance, fitted with the networks;
    - ``None``: the batch's mean squared error, the maximum-likelihood choice
      for a shared variance (Rybkin et al., 2021); the numbers then depend on
      the batch, so fix or learn the variance to report a density.

    The mean is ``sigmoid(logits)``, so the data must lie in ``[0, 1]``. A
    density, not a probability: with a small variance ``log p`` is positive, and
    it is not comparable with a Bernoulli.
    """

    def __init__(self, variance: float | str | None = None, **kwargs):
        super().__init__(**kwargs)
        if variance is not None and variance != "learned":
            try:
                variance = check_number(variance, "variance", low=0.0, low_open=True)
            except (TypeError, ValueError):
                raise ValueError(
                    "variance must be a number > 0, 'learned' or None, got "
                    f"{variance!r}"
                ) from None
        self.variance = variance
        if variance == "learned":
            self.log_variance = self.add_weight(
                shape=(), initializer="zeros", name="log_variance"
            )

    def log_variance_for(self, x, mean):
        """``log sigma^2`` as a scalar tensor, for targets ``x`` and means ``mean``."""
        if self.variance == "learned":
            return ops.cast(self.log_variance, mean.dtype)
        if self.variance is None:
            return ops.log(ops.stop_gradient(ops.mean(ops.square(x - mean))) + 1e-6)
        return ops.cast(math.log(self.variance), mean.dtype)

    def log_prob(self, x, logits):
        mean = self.mean(ops.convert_to_tensor(logits))
        x = ops.cast(x, mean.dtype)
        log_var = self.log_variance_for(x, mean)
        return _sum_over_example(
            -0.5 * (LOG_2PI + log_var + ops.square(x - mean) / ops.exp(log_var))
        )

    def mean(self, logits):
        return ops.sigmoid(logits)

    def check(
        self, x, name: str = "x", *, logits_shape: tuple | None = None
    ) -> np.ndarray:
        # The mean is a sigmoid of the logits: data outside [0, 1] could never be
        # fitted.
        return check_images(x, name)

    def get_config(self) -> dict:
        return {**super().get_config(), "variance": self.variance}


@keras.saving.register_keras_serializable(package="snippets")
class Multinomial(Likelihood):
    """Counts: ``log p(x|z) = sum_i x_i log softmax(l)_i`` (Liang et al., 2018).

    The multinomial coefficient ``log(N! / prod_i x_i!)`` does not depend on the
    model and is left out. ``x`` and ``logits`` are ``(batch, n_items)``; the
    mean is the item probabilities ``softmax(l)``.
    """

    def log_prob(self, x, logits):
        logits = ops.convert_to_tensor(logits)
        return ops.sum(
            ops.cast(x, logits.dtype) * ops.log_softmax(logits, axis=-1), axis=-1
        )

    def mean(self, logits):
        return ops.softmax(logits, axis=-1)

    def check(
        self, x, name: str = "x", *, logits_shape: tuple | None = None
    ) -> np.ndarray:
        return check_array(x, name, low=0.0)


@keras.saving.register_keras_serializable(package="snippets")
class Categorical(Likelihood):
    """One class per position: ``log p(x|z) = sum_t log softmax(l_t)[x_t]``, e.g. the
    characters of a word.

    ``x`` holds integer classes ``(batch, length)`` and ``logits`` are
    ``(batch, length, n_classes)``; positions whose target is ``ignore_class``
    (padding) do not count. The mean is the class probabilities per position.
    """

    def __init__(self, *, ignore_class: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ignore_class = ignore_class

    def log_prob(self, x, logits):
        log_probs = ops.log_softmax(ops.convert_to_tensor(logits), axis=-1)
        x = ops.cast(x, "int32")
        picked = ops.sum(
            ops.one_hot(x, ops.shape(log_probs)[-1], dtype=log_probs.dtype) * log_probs,
            axis=-1,
        )
        if self.ignore_class is not None:
            picked = picked * ops.cast(x != self.ignore_class, picked.dtype)
        return _sum_over_example(picked)

    def mean(self, logits):
        return ops.softmax(logits, axis=-1)

    def logits_shape(self, x_shape: tuple) -> tuple:
        """A vector of class logits per position: ``(*x_shape, n_classes)``, any number
        of classes."""
        return (*x_shape, None)

    def check(
        self, x, name: str = "x", *, logits_shape: tuple | None = None
    ) -> np.ndarray:
        # one_hot would silently score an index past the last class as probability 0.
        n_classes = (
            None
            if not logits_shape or logits_shape[-1] is None
            else int(logits_shape[-1])
        )
        high = None if n_classes is None else n_classes - 1
        return check_array(x, name, low=0, high=high, integer=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_class": self.ignore_class}
