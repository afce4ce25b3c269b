"""Monte Carlo gradients of an expectation, and a gradient check of ``Sampling``.

The VAE objective contains ``E_{z ~ N(mu, sigma^2)}[f(z)]`` and training needs
its gradient with respect to ``mu`` and ``sigma``. Mohamed et al. (2020) survey
three families of unbiased estimators: pathwise, score function and
measure-valued. This module implements the first two:

- the pathwise (reparameterization) estimator writes ``z = mu + sigma * eps``
  with ``eps ~ N(0, 1)`` and differentiates ``f`` along that path:
  ``d/dmu = f'(z)``, ``d/dsigma = f'(z) * eps``;
- the score-function (REINFORCE) estimator differentiates the density instead:
  ``d/dtheta = f(z) * d/dtheta log N(z; mu, sigma^2)``, which needs no
  derivative of ``f`` but has, in general, a much larger variance.

Both are written here in NumPy for a scalar Gaussian, on objectives whose exact
gradient is known, so their bias and variance can be measured. The last part
checks the package's :class:`snippets.layers.Sampling` layer against the same
formula and against finite differences of a loss computed through the layer
itself (a fresh layer with a fixed seed draws the same noise every time);
Keras 3 has no backend-neutral gradient call, so one helper,
:func:`sampling_loss_gradient`, asks the active backend's own autodiff
(TensorFlow, JAX or PyTorch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from snippets.layers import Sampling
from snippets.validation import check_positive_int

Estimator = Callable[["Objective", float, float, np.ndarray], np.ndarray]


def _square_derivative(z: np.ndarray) -> np.ndarray:
    return 2.0 * z


def _square_gradient(mu: float, sigma: float) -> np.ndarray:
    return np.array([2.0 * mu, 2.0 * sigma])


def _sine_gradient(mu: float, sigma: float) -> np.ndarray:
    damping = np.exp(-0.5 * sigma**2)
    return np.array([np.cos(mu) * damping, -sigma * np.sin(mu) * damping])


@dataclass(frozen=True)
class Objective:
    """A function ``f`` whose Gaussian expectation has a known gradient.

    ``value`` is ``f``, ``derivative`` is ``f'`` (both elementwise on arrays);
    ``exact_gradient(mu, sigma)`` is ``(d/dmu, d/dsigma) E_{N(mu, sigma^2)}[f(z)]``
    as an array of shape ``(2,)``.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    exact_gradient: Callable[[float, float], np.ndarray]


SQUARE = Objective("z^2", np.square, _square_derivative, _square_gradient)
"""``E[z^2] = mu^2 + sigma^2``, gradient ``(2 mu, 2 sigma)``."""

SINE = Objective("sin z", np.sin, np.cos, _sine_gradient)
"""``E[sin z] = sin(mu) exp(-sigma^2 / 2)``."""


def sine_objective(frequency: float) -> Objective:
    """``f(z) = sin(frequency * z)``:
    ``E[f] = sin(frequency * mu) exp(-(frequency * sigma)^2 / 2)``.

    For a high frequency the slope ``f'`` is large and changes sign quickly, so
    the pathwise estimator, which averages slopes, is the noisier of the two
    (Mohamed et al., 2020, discuss such cases).
    """
    if not 0.0 < frequency < np.inf:
        raise ValueError(f"frequency must be a finite number > 0, got {frequency}")

    def gradient(mu: float, sigma: float) -> np.ndarray:
        damping = np.exp(-0.5 * (frequency * sigma) ** 2)
        return np.array(
            [
                frequency * np.cos(frequency * mu) * damping,
                -(frequency**2) * sigma * np.sin(frequency * mu) * damping,
            ]
        )

    return Objective(
        f"sin {frequency:g}z",
        lambda z: np.sin(frequency * z),
        lambda z: frequency * np.cos(frequency * z),
        gradient,
    )


FAST_SINE = sine_objective(10.0)
"""``sin(10 z)``: a case where the score-function estimator has the smaller variance."""


def _check_parameters(mu: float, sigma: float, epsilon) -> np.ndarray:
    if not np.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu}")
    if not 0.0 < sigma < np.inf:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma}")
    epsilon = np.asarray(epsilon, dtype=np.float64)
    if epsilon.ndim != 1 or epsilon.size == 0:
        raise ValueError(
            f"epsilon must have shape (n,) with n >= 1, got {epsilon.shape}"
        )
    return epsilon


def pathwise_gradient(
    objective: Objective, mu: float, sigma: float, epsilon
) -> np.ndarray:
    """Per-sample pathwise gradients ``f'(z) * (1, eps)`` at ``z = mu + sigma * eps``.

    Args:
        epsilon: standard normal draws, shape ``(n,)``.

    Returns:
        ``(n, 2)``: column 0 estimates ``d/dmu``, column 1 ``d/dsigma``; their
        mean is an unbiased estimate of ``objective.exact_gradient(mu, sigma)``.
    """
    epsilon = _check_parameters(mu, sigma, epsilon)
    slope = objective.derivative(mu + sigma * epsilon)
    return np.stack([slope, slope * epsilon], axis=1)


def score_function_gradient(
    objective: Objective, mu: float, sigma: float, epsilon
) -> np.ndarray:
    """Per-sample score-function (REINFORCE) gradients
    ``f(z) * grad log N(z; mu, sigma^2)``.

    With ``z = mu + sigma * eps`` the score is ``(eps / sigma, (eps^2 - 1) / sigma)``.

    Args:
        epsilon: standard normal draws, shape ``(n,)``.

    Returns:
        ``(n, 2)``, as for :func:`pathwise_gradient`.
    """
    epsilon = _check_parameters(mu, sigma, epsilon)
    value = objective.value(mu + sigma * epsilon)
    return np.stack(
        [value * epsilon / sigma, value * (epsilon**2 - 1.0) / sigma], axis=1
    )


@dataclass(frozen=True)
class GradientSummary:
    """Mean, per-sample variance and standard error of ``n`` gradient samples, each
    ``(2,)``."""

    mean: np.ndarray
    variance: np.ndarray
    standard_error: np.ndarray
    n: int


def summarize_gradient(
    estimator: Estimator,
    objective: Objective,
    mu: float,
    sigma: float,
    n: int,
    seed: int = 0,
) -> GradientSummary:
    """Draw ``n`` per-sample gradients with ``estimator`` and summarise them."""
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 to give a variance, got {n}")
    samples = estimator(
        objective, mu, sigma, np.random.default_rng(seed).standard_normal(n)
    )
    variance = samples.var(axis=0, ddof=1)
    return GradientSummary(
        mean=samples.mean(axis=0),
        variance=variance,
        standard_error=np.sqrt(variance / n),
        n=n,
    )


def estimate_variance_by_sample_size(
    estimator: Estimator,
    objective: Objective,
    mu: float,
    sigma: float,
    sample_sizes: Sequence[int],
    repeats: int,
    seed: int = 0,
) -> np.ndarray:
    """Empirical variance of the ``n``-sample gradient estimate, for each ``n``.

    For each ``n`` in ``sample_sizes`` the estimator is averaged over ``n``
    draws, ``repeats`` times independently; the variance across repeats is
    returned. It falls like ``1 / n`` for any unbiased average.

    Returns:
        ``(len(sample_sizes), 2)``: columns ``d/dmu`` and ``d/dsigma``.
    """
    repeats = check_positive_int(repeats, "repeats")
    if repeats < 2:
        raise ValueError(f"repeats must be >= 2 to give a variance, got {repeats}")
    rng = np.random.default_rng(seed)
    result = []
    for index, n in enumerate(sample_sizes):
        n = check_positive_int(n, f"sample_sizes[{index}]")
        epsilon = rng.standard_normal((repeats, n))
        averages = np.stack(
            [estimator(objective, mu, sigma, row).mean(axis=0) for row in epsilon]
        )
        result.append(averages.var(axis=0, ddof=1))
    return np.array(result)


# --------------------------------------------------------------------------
# The Sampling layer
# --------------------------------------------------------------------------


def _check_latent_pair(
    z_mean, z_log_var, dtype: str = "float32"
) -> tuple[np.ndarray, np.ndarray]:
    z_mean = np.asarray(z_mean, dtype=dtype)
    z_log_var = np.asarray(z_log_var, dtype=dtype)
    if z_mean.ndim != 2 or z_mean.shape != z_log_var.shape:
        raise ValueError(
            "z_mean and z_log_var must share a shape (batch, latent_dim), "
            f"got {z_mean.shape} and {z_log_var.shape}"
        )
    if not (np.all(np.isfinite(z_mean)) and np.all(np.isfinite(z_log_var))):
        raise ValueError("z_mean and z_log_var must be finite")
    return z_mean, z_log_var


def sampling_noise(
    shape: tuple[int, int], seed: int, dtype: str = "float32"
) -> np.ndarray:
    """The ``eps`` a fresh ``Sampling(seed=seed, dtype=dtype)`` layer draws on its first
    call.

    Read off the layer itself: with ``z_mean = 0`` and ``z_log_var = 0`` its
    output is ``eps``. Shape ``(batch, latent_dim)``. The draws depend on the
    dtype: a float64 layer with the same seed draws other numbers.
    """
    zeros = np.zeros(shape, dtype=dtype)
    return keras.ops.convert_to_numpy(Sampling(seed=seed, dtype=dtype)([zeros, zeros]))


def sampling_output(z_mean, z_log_var, seed: int) -> np.ndarray:
    """The first output of a fresh ``Sampling(seed=seed)`` layer:
    ``(batch, latent_dim)``."""
    z_mean, z_log_var = _check_latent_pair(z_mean, z_log_var)
    return keras.ops.convert_to_numpy(Sampling(seed=seed)([z_mean, z_log_var]))


def reparameterized_loss(z_mean, z_log_var, epsilon) -> float:
    """The check's loss ``L = 1/2 sum z^2`` at
    ``z = z_mean + exp(z_log_var / 2) * epsilon``, in float64."""
    z = (
        np.asarray(z_mean, np.float64)
        + np.exp(0.5 * np.asarray(z_log_var, np.float64)) * epsilon
    )
    return float(0.5 * np.sum(z**2))


def analytic_sampling_gradient(
    z_mean, z_log_var, epsilon
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient of :func:`reparameterized_loss` for fixed ``epsilon``.

    ``dL/dz_mean = z`` and ``dL/dz_log_var = z * exp(z_log_var / 2) * epsilon / 2``.
    """
    sigma = np.exp(0.5 * np.asarray(z_log_var, np.float64))
    z = np.asarray(z_mean, np.float64) + sigma * epsilon
    return z, 0.5 * z * sigma * epsilon


def layer_loss(z_mean, z_log_var, seed: int, dtype: str = "float32") -> float:
    """``L = 1/2 sum z^2`` with ``z`` the output of a fresh
    ``Sampling(seed=seed, dtype=dtype)``.

    A fresh layer with the same seed draws the same ``eps`` on every call, so
    ``L`` is a deterministic function of ``z_mean`` and ``z_log_var`` computed
    by the layer itself, which finite differences can differentiate.
    """
    z_mean, z_log_var = _check_latent_pair(z_mean, z_log_var, dtype)
    z = Sampling(seed=seed, dtype=dtype)([z_mean, z_log_var])
    return float(keras.ops.convert_to_numpy(0.5 * keras.ops.sum(keras.ops.square(z))))


def layer_dtype(dtype: str) -> str:
    """The dtype a ``Sampling(dtype=dtype)`` layer really computes in on this backend.

    JAX without ``jax_enable_x64`` computes float64 layers in float32.
    """
    zeros = np.zeros((1, 1), dtype=dtype)
    return str(
        keras.ops.convert_to_numpy(Sampling(seed=0, dtype=dtype)([zeros, zeros])).dtype
    )


def finite_difference_sampling_gradient(
    z_mean, z_log_var, seed: int, dtype: str = "float64", step: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Central finite differences of :func:`layer_loss`, one entry at a time, through
    the layer.

    Every evaluation runs a fresh ``Sampling(seed=seed, dtype=dtype)`` layer, so
    the noise is the same in all of them and the derivative is the layer's own.
    ``step`` defaults to ``1e-6`` where the layer computes in float64 and to
    ``1e-2`` where it computes in float32.
    """
    z_mean, z_log_var = _check_latent_pair(z_mean, z_log_var, "float64")
    if step is None:
        step = 1e-6 if layer_dtype(dtype) == "float64" else 1e-2
    params = [z_mean, z_log_var]
    gradients = [np.zeros_like(p) for p in params]
    for which, (param, gradient) in enumerate(zip(params, gradients)):
        for index in np.ndindex(param.shape):
            shifted = [[p.copy() for p in params] for _ in range(2)]
            shifted[0][which][index] += step
            shifted[1][which][index] -= step
            up, down = (layer_loss(*p, seed=seed, dtype=dtype) for p in shifted)
            gradient[index] = (up - down) / (2.0 * step)
    return gradients[0], gradients[1]


@dataclass(frozen=True)
class LayerGradientCheck:
    """Three gradients of :func:`layer_loss` through one seeded ``Sampling`` layer.

    ``autodiff`` is the backend's automatic differentiation through the layer,
    ``finite_difference`` central differences of the layer's loss and
    ``analytic`` the formula of :func:`analytic_sampling_gradient` at the noise
    the layer drew, all in ``dtype``, the dtype the layer computed in.
    ``tolerance`` is what agreement means in that dtype.
    """

    dtype: str
    autodiff: tuple[np.ndarray, np.ndarray]
    finite_difference: tuple[np.ndarray, np.ndarray]
    analytic: tuple[np.ndarray, np.ndarray]
    tolerance: float

    @property
    def finite_difference_error(self) -> float:
        """Largest difference between the finite-difference and the autodiff
        gradient."""
        return max(
            float(np.abs(a - b).max())
            for a, b in zip(self.finite_difference, self.autodiff)
        )

    @property
    def analytic_error(self) -> float:
        """Largest difference between the analytic and the autodiff gradient."""
        return max(
            float(np.abs(a - b).max()) for a, b in zip(self.analytic, self.autodiff)
        )

    @property
    def passed(self) -> bool:
        return max(self.finite_difference_error, self.analytic_error) < self.tolerance


def check_sampling_gradient(
    z_mean, z_log_var, seed: int, dtype: str = "float64"
) -> LayerGradientCheck:
    """Differentiate a loss through ``Sampling(seed=seed)`` three ways and compare them.

    In float64 the three agree to about ``1e-8``; where the backend computes in
    float32 (JAX without x64) the tolerance is ``1e-3``.
    """
    realized = layer_dtype(dtype)
    epsilon = sampling_noise(np.shape(z_mean), seed=seed, dtype=dtype)
    return LayerGradientCheck(
        dtype=realized,
        autodiff=sampling_loss_gradient(z_mean, z_log_var, seed=seed, dtype=dtype),
        finite_difference=finite_difference_sampling_gradient(
            z_mean, z_log_var, seed=seed, dtype=dtype
        ),
        analytic=analytic_sampling_gradient(z_mean, z_log_var, epsilon),
        tolerance=1e-6 if realized == "float64" else 1e-3,
    )


def sampling_loss_gradient(
    z_mean, z_log_var, seed: int, dtype: str = "float32"
) -> tuple[np.ndarray, np.ndarray]:
    """Autodiff gradient of ``L = 1/2 sum z^2`` through a fresh
    ``Sampling(seed=seed, dtype=dtype)``.

    Returns ``(dL/dz_mean, dL/dz_log_var)``, each ``(batch, latent_dim)``.
    Keras 3 has no backend-neutral gradient call, so this helper uses the
    active backend's autodiff: ``tf.GradientTape`` on TensorFlow,
    ``jax.grad`` on JAX and ``torch.autograd.grad`` on PyTorch. The loss itself
    is written with ``keras.ops`` and is the same on all three.
    """
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise RuntimeError(
            "sampling_loss_gradient needs the tensorflow, jax or torch backend, got "
            f"{backend!r}"
        )
    z_mean, z_log_var = _check_latent_pair(z_mean, z_log_var, dtype)
    sampling = Sampling(seed=seed, dtype=dtype)

    def loss_of(mean, log_var):
        z = sampling([mean, log_var])
        return 0.5 * keras.ops.sum(keras.ops.square(z))

    if backend == "tensorflow":
        import tensorflow as tf

        mean, log_var = tf.Variable(z_mean), tf.Variable(z_log_var)
        with tf.GradientTape() as tape:
            loss = loss_of(mean, log_var)
        gradients = tape.gradient(loss, [mean, log_var])
    elif backend == "jax":
        import jax

        gradients = jax.grad(loss_of, argnums=(0, 1))(z_mean, z_log_var)
    else:
        import torch

        mean, log_var = (
            keras.ops.convert_to_tensor(a).requires_grad_() for a in (z_mean, z_log_var)
        )
        gradients = torch.autograd.grad(loss_of(mean, log_var), [mean, log_var])
    return tuple(keras.ops.convert_to_numpy(g) for g in gradients)
