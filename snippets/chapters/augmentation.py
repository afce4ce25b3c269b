"""Two uses of a trained VAE beyond generation: denoising, and data augmentation.

*Denoising.* Corrupt an image (additive Gaussian noise, or pixels masked to
zero) and ask a VAE for the clean one. A VAE trained on clean digits only
reconstructs what it is given; a *denoising* VAE (in the spirit of the
denoising autoencoder of Vincent et al., 2008, and the denoising VAE of Im et
al., 2017) is trained on pairs: the encoder sees the corrupted image
``x_tilde`` and the reconstruction term scores the clean one,

``loss = -E_q(z|x_tilde)[log p(x | z)] + beta * KL(q(z | x_tilde) || N(0, I))``.

*Augmentation.* With few labelled digits, add digits a conditional VAE
generates for each class to a classifier's training set, and measure whether
the classifier gets better on held-out digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from snippets.chapters.conditional import NUM_CLASSES, one_hot_labels, train_conditional_vae
from snippets.models import VAE
from snippets.validation import check_images, check_number, check_positive_int


def add_gaussian_noise(x: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """``clip(x + std * eps, 0, 1)`` with ``eps ~ N(0, I)``: same shape as ``x``, values in ``[0, 1]``.

    ``std = 0`` returns ``x`` unchanged.
    """
    x = check_images(x, "x").astype(np.float32)
    std = check_number(std, "std", low=0.0)
    noise = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    return np.clip(x + np.float32(std) * noise, 0.0, 1.0)


def mask_pixels(x: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Set each pixel to 0 independently with probability ``fraction``: same shape as ``x``.

    On average ``fraction`` of the pixels are masked; ``fraction = 0`` returns ``x``.
    """
    x = check_images(x, "x").astype(np.float32)
    fraction = check_number(fraction, "fraction", low=0.0, high=1.0)
    keep = np.random.default_rng(seed).random(x.shape) >= fraction
    return np.where(keep, x, np.float32(0.0))


def corrupt(x: np.ndarray, noise_std: float = 0.0, mask_fraction: float = 0.0, seed: int = 0) -> np.ndarray:
    """Mask ``mask_fraction`` of the pixels, then add clipped Gaussian noise of ``noise_std``."""
    return add_gaussian_noise(mask_pixels(x, mask_fraction, seed), noise_std, seed + 1)


def denoising_pairs(
    x: np.ndarray,
    noise_stds: Sequence[float] = (0.0, 0.25, 0.5),
    mask_fractions: Sequence[float] = (0.0, 0.25, 0.5),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs for a denoising VAE: one corrupted copy of ``x`` per corruption.

    Each noise level gives a copy with that Gaussian noise, each mask fraction a
    copy with that fraction of pixels masked; a level of 0 gives a clean copy.
    Returns ``(corrupted, clean)``, both ``(k * n, d)`` with
    ``k = len(noise_stds) + len(mask_fractions)``, row ``i`` of ``clean`` the
    original of row ``i`` of ``corrupted``.
    """
    x = check_images(x, "x").astype(np.float32)
    settings = [(s, 0.0) for s in noise_stds] + [(0.0, f) for f in mask_fractions]
    if not settings:
        raise ValueError("noise_stds and mask_fractions must name at least one corruption")
    corrupted = [corrupt(x, s, f, seed + 2 * i) for i, (s, f) in enumerate(settings)]
    return np.concatenate(corrupted), np.tile(x, (len(settings), 1))


@keras.saving.register_keras_serializable(package="snippets")
class DenoisingVAE(VAE):
    """A VAE trained to reconstruct clean images from corrupted ones.

    ``fit(x=corrupted, y=clean)``: the encoder sees ``corrupted`` and the
    reconstruction term is ``-log p(clean | z)``; the KL term is the VAE's.
    Without ``y`` the target is the input, so the model is then a plain VAE.
    Everything else (likelihoods, ``reconstruct``, saving) is the VAE's;
    ``reconstruct(corrupted)`` is the denoised image.
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x if y is None else y, None, y_pred, sample_weight, training)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``VAE.fit``, also checking that the clean targets ``y`` are images matching ``x``."""
        if isinstance(y, np.ndarray):
            self.check_examples(y, "y")
            if isinstance(x, np.ndarray) and len(x) != len(y):
                raise ValueError(f"x has {len(x)} images but y has {len(y)}; y must hold x's clean originals")
        return super().fit(x, y, *args, **kwargs)


def mse_per_noise_level(
    models: Mapping[str, VAE], x: np.ndarray, noise_stds: Sequence[float], seed: int = 0
) -> dict[str, np.ndarray]:
    """Mean squared error to the clean ``x`` after Gaussian noise of each level.

    Returns ``{"corrupted input": (m,), name: (m,) for each model}``, one value
    per entry of ``noise_stds``: the error of the noisy image itself and of each
    model's reconstruction of it, averaged over pixels and images.
    """
    x = check_images(x, "x").astype(np.float32)
    errors: dict[str, list[float]] = {"corrupted input": [], **{name: [] for name in models}}
    for std in noise_stds:
        noisy = add_gaussian_noise(x, std, seed)
        errors["corrupted input"].append(float(np.mean((noisy - x) ** 2)))
        for name, model in models.items():
            errors[name].append(float(np.mean((model.reconstruct(noisy) - x) ** 2)))
    return {name: np.array(values) for name, values in errors.items()}


def plot_mse_per_noise_level(noise_stds: Sequence[float], errors: Mapping[str, np.ndarray]) -> Figure:
    """One line per entry of :func:`mse_per_noise_level`'s result, against the noise level."""
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, values in errors.items():
        ax.plot(noise_stds, values, marker="o", label=name)
    ax.set_xlabel(r"noise standard deviation $\sigma$")
    ax.set_ylabel("mean squared error to the clean digit")
    ax.legend()
    return fig


def few_labelled(x: np.ndarray, y: np.ndarray, n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` examples of every class, drawn without replacement with ``seed``.

    Returns ``(x_few, y_few)`` sorted by class: ``(NUM_CLASSES * n_per_class, d)``.
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    one_hot_labels(y, NUM_CLASSES, n=len(x))
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(NUM_CLASSES):
        candidates = np.flatnonzero(y == label)
        if len(candidates) < n_per_class:
            raise ValueError(f"class {label} has {len(candidates)} examples, fewer than n_per_class={n_per_class}")
        rows.append(rng.choice(candidates, size=n_per_class, replace=False))
    rows = np.concatenate(rows)
    return x[rows], y[rows]


def generate_per_class(model: VAE, n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` generated images of every class and their labels.

    Returns ``(images, labels)``: ``(num_classes * n_per_class, d)`` mean
    images of prior draws and the ``(num_classes * n_per_class,)`` labels they
    were generated for, class by class.
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    num_classes = int(model.encoder.inputs[1].shape[-1])
    labels = np.repeat(np.arange(num_classes), n_per_class)
    return model.generate(len(labels), condition=one_hot_labels(labels, num_classes), seed=seed), labels


def classifier_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of a multinomial logistic regression (scikit-learn defaults, L2 with C = 1).

    The problem is small (hundreds of images), so BLAS runs on one thread:
    more threads only contend, and on a busy machine slow the fit tenfold.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        classifier = LogisticRegression(max_iter=1000).fit(x_train, y_train)
        return float(classifier.score(x_test, y_test))


class AugmentationTrial(NamedTuple):
    """One trial's test accuracies, ``{"real only": ..., "real + generated": ...}``,
    and the training digits of the augmented arm: the labelled ones
    ``(n_labelled, d)`` and the generated ones ``(n_generated, d)``, with labels."""

    accuracy: dict[str, float]
    x_labelled: np.ndarray
    y_labelled: np.ndarray
    x_generated: np.ndarray
    y_generated: np.ndarray


def augmentation_trial(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    n_per_class: int = 10,
    n_generated_per_class: int = 50,
    repeats: int = 20,
    seed: int = 0,
    **cvae_kwargs,
) -> AugmentationTrial:
    """One trial: few labelled digits, with and without CVAE-generated digits.

    Draws ``n_per_class`` labelled digits per class from ``(x, y)`` with
    ``seed``; trains a CVAE on those digits only (``cvae_kwargs`` go to
    :func:`train_conditional_vae`), so nothing outside the labelled set reaches
    either arm; adds ``n_generated_per_class`` generated digits per class, and
    measures a logistic regression's accuracy on ``(x_test, y_test)`` without
    (``"real only"``) and with (``"real + generated"``) them. The CVAE sees
    the labelled digits ``repeats`` times per epoch: on a hundred digits an
    epoch is a handful of steps, and Keras's per-epoch overhead would dominate
    the training time.
    """
    repeats = check_positive_int(repeats, "repeats")
    x_few, y_few = few_labelled(x, y, n_per_class, seed)
    model, _ = train_conditional_vae(np.tile(x_few, (repeats, 1)), np.tile(y_few, repeats), seed=seed, **cvae_kwargs)
    x_gen, y_gen = generate_per_class(model, n_generated_per_class, seed=seed)
    accuracy = {
        "real only": classifier_accuracy(x_few, y_few, x_test, y_test),
        "real + generated": classifier_accuracy(
            np.concatenate([x_few, x_gen]), np.concatenate([y_few, y_gen]), x_test, y_test
        ),
    }
    return AugmentationTrial(accuracy, x_few, y_few, x_gen, y_gen)


def plot_accuracy_per_seed(seeds: Sequence[int], results: Mapping[str, Sequence[float]]) -> Figure:
    """Test accuracy per seed, one marker per arm, with each arm's mean as a dashed line."""
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    for (name, values), marker in zip(results.items(), "os^"):
        line = ax.plot(seeds, values, marker=marker, linestyle="none", label=name)[0]
        ax.axhline(np.mean(values), color=line.get_color(), linestyle="--", linewidth=1)
    ax.set_xticks(list(seeds))
    ax.set_xlabel("seed (which labelled digits, and the CVAE's initialisation)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    return fig
