"""Two uses of a trained VAE beyond generation: denoising, and data augmentation.

*Denoising.* Corrupt an image (additive Gaussian noise, or pixels masked to
zero) and ask a VAE for the clean one. A VAE trained on clean digits only
reconstructs what it is given; a *denoising* VAE (in the spirit of the
denoising autoencoder of Vincent et al., 2008, and the denoising VAE of Im et
al., 2017) is trained on pairs, ``fit(corrupted, clean)``: the encoder sees the
corrupted image ``x_tilde`` and the reconstruction term scores the clean one,

``loss = -E_q(z|x_tilde)[log p(x | z)] + beta * KL(q(z | x_tilde) || N(0, I))``.

The baselines a denoiser must beat are the deterministic denoising autoencoder
of the same size and three classical filters, a median, a Gaussian and
non-local means (Buades et al., 2005), each with its parameters chosen on
validation digits. Every network trains until its loss on held-back digits
stops improving (:class:`snippets.chapters.stopping.StoppingRule`), through the
model cache (:mod:`snippets.chapters.cache`).

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
from scipy.ndimage import gaussian_filter, median_filter
from skimage.restoration import denoise_nl_means
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from snippets.chapters.cache import cached_training
from snippets.chapters.conditional import (
    NUM_CLASSES,
    one_hot_labels,
    train_conditional_vae,
)
from snippets.chapters.plotting import page_figure
from snippets.chapters.stopping import (
    StoppingRule,
    TrainingRecord,
    fit_until_stopped,
    hold_back,
    training_record,
)
from snippets.data import binarize
from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.models import (
    VAE,
    Autoencoder,
    LatentVariableModel,
    build_dense_decoder,
    build_dense_encoder,
)
from snippets.validation import check_images, check_number, check_positive_int

IMAGE_SIDES = (28, 28)
# The learned denoisers, in the order they are trained and shown.
DENOISERS = ("plain VAE", "denoising VAE", "denoising autoencoder")
# Test corruptions are drawn with seeds from here on, which no training corruption uses
# (denoising_pairs draws with seed + 0, 1, 2, ... for small seeds), so no test digit
# carries a noise field a model was trained on.
TEST_SEED = 10_000
# Validation corruptions (early stopping, the filters' parameters) are drawn with seeds
# from here on: apart from the training ones and below TEST_SEED.
VALIDATION_SEED = 5_000
CORRUPTIONS = ("noise", "mask")


def add_gaussian_noise(x: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """``clip(x + std * eps, 0, 1)``, ``eps ~ N(0, I)``: ``x``'s shape, in ``[0, 1]``.

    ``std = 0`` returns ``x`` unchanged.
    """
    x = check_images(x, "x").astype(np.float32)
    std = check_number(std, "std", low=0.0)
    noise = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    return np.clip(x + np.float32(std) * noise, 0.0, 1.0)


def mask_pixels(x: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Set each pixel to 0 independently with probability ``fraction``: ``x``'s shape.

    On average ``fraction`` of the pixels are masked; ``fraction = 0`` returns ``x``.
    """
    x = check_images(x, "x").astype(np.float32)
    fraction = check_number(fraction, "fraction", low=0.0, high=1.0)
    keep = np.random.default_rng(seed).random(x.shape) >= fraction
    return np.where(keep, x, np.float32(0.0))


def corrupt(
    x: np.ndarray, noise_std: float = 0.0, mask_fraction: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Mask ``mask_fraction`` of the pixels, then add clipped Gaussian noise of
    ``noise_std``."""
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
        raise ValueError(
            "noise_stds and mask_fractions must name at least one corruption"
        )
    corrupted = [corrupt(x, s, f, seed + 2 * i) for i, (s, f) in enumerate(settings)]
    return np.concatenate(corrupted), np.tile(x, (len(settings), 1))


def median_filter_images(x: np.ndarray, size: int = 3) -> np.ndarray:
    """Each image's ``size x size`` median (:func:`scipy.ndimage.median_filter`).

    ``x`` holds flat ``(n, 784)`` digits or ``(n, 28, 28[, 1])`` images; the
    filter runs within each image, never across images. The classical denoiser:
    no training, and no notion of what a digit looks like.
    """
    x = check_images(x, "x").astype(np.float32)
    size = check_positive_int(size, "size")
    images = x.reshape(len(x), *IMAGE_SIDES)
    return median_filter(images, size=(1, size, size), mode="nearest").reshape(x.shape)


def gaussian_filter_images(x: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Each image blurred by :func:`scipy.ndimage.gaussian_filter` of ``sigma`` pixels.

    ``x`` holds flat ``(n, 784)`` digits or ``(n, 28, 28[, 1])`` images; the
    filter runs within each image. Each pixel becomes a weighted mean of its
    neighbours, the classical answer to independent noise of zero mean: it
    averages the noise away and blurs the strokes with it.
    """
    x = check_images(x, "x").astype(np.float32)
    sigma = check_number(sigma, "sigma", low=0.0, low_open=True)
    images = x.reshape(len(x), *IMAGE_SIDES)
    return gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="nearest").reshape(
        x.shape
    )


def nl_means_images(
    x: np.ndarray, h: float = 0.2, patch_size: int = 5, patch_distance: int = 5
) -> np.ndarray:
    """Each image denoised by non-local means
    (:func:`skimage.restoration.denoise_nl_means`, fast mode).

    ``x`` holds flat ``(n, 784)`` digits or ``(n, 28, 28[, 1])`` images, each
    filtered alone. Pixel ``i`` becomes a weighted mean of the pixels ``j`` within
    ``patch_distance`` of it, weighted by ``exp(-d_ij^2 / h^2)`` where ``d_ij`` is
    the distance between the ``patch_size x patch_size`` patches around ``i``
    and ``j``: it averages over pixels that *look* alike, not only over
    neighbours, so strokes blur less than under a Gaussian filter.
    """
    x = check_images(x, "x").astype(np.float32)
    h = check_number(h, "h", low=0.0, low_open=True)
    patch_size = check_positive_int(patch_size, "patch_size")
    patch_distance = check_positive_int(patch_distance, "patch_distance")
    images = x.reshape(len(x), *IMAGE_SIDES)
    denoised = [
        denoise_nl_means(
            image, patch_size=patch_size, patch_distance=patch_distance, h=h
        )
        for image in images
    ]
    return np.asarray(denoised, dtype=np.float32).reshape(x.shape)


# The classical denoisers by name, and the parameters each may be given: the
# candidates that choose_filter_parameters tries on validation digits.
FILTERS = {
    "median filter": median_filter_images,
    "Gaussian filter": gaussian_filter_images,
    "non-local means": nl_means_images,
}
FILTER_CANDIDATES: dict[str, tuple[dict[str, float], ...]] = {
    "median filter": tuple({"size": size} for size in (2, 3, 4, 5)),
    "Gaussian filter": tuple({"sigma": sigma} for sigma in (0.5, 0.75, 1.0, 1.5, 2.0)),
    "non-local means": tuple(
        {"patch_size": size, "h": h} for size in (3, 5) for h in (0.1, 0.2, 0.3, 0.45)
    ),
}


def damaged_copies(
    x: np.ndarray, noise_std: float, mask_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """``{"noise": x with Gaussian noise of noise_std, "mask": x with mask_fraction
    of its pixels masked}``, both drawn with ``seed``, each ``x``'s shape."""
    return {
        "noise": add_gaussian_noise(x, noise_std, seed),
        "mask": mask_pixels(x, mask_fraction, seed),
    }


def choose_filter_parameters(
    x_valid: np.ndarray,
    *,
    noise_std: float = 0.5,
    mask_fraction: float = 0.5,
    seed: int = VALIDATION_SEED,
    candidates: Mapping[str, Sequence[Mapping[str, float]]] = FILTER_CANDIDATES,
) -> dict[str, dict[str, dict[str, float]]]:
    """Each filter's parameters with the lowest error on damaged validation digits.

    ``x_valid`` ``(n, 784)`` is damaged as :func:`damaged_copies` does (``seed``);
    for each corruption and each filter of ``candidates`` (names of
    :data:`FILTERS`, each with a sequence of keyword sets) the keyword set whose
    output has the lowest mean squared error to ``x_valid`` is kept. Returns
    ``chosen[corruption][filter] = keywords``, for :func:`denoising_trial`.
    """
    x_valid = check_images(x_valid, "x_valid").astype(np.float32)
    unknown = set(candidates) - set(FILTERS)
    if unknown or any(not options for options in candidates.values()):
        raise ValueError(
            f"candidates must map names of {tuple(FILTERS)} to non-empty sequences "
            f"of keyword sets, got {dict(candidates)!r}"
        )
    chosen: dict[str, dict[str, dict[str, float]]] = {}
    for corruption, x_tilde in damaged_copies(
        x_valid, noise_std, mask_fraction, seed
    ).items():
        chosen[corruption] = {
            name: dict(
                min(
                    options,
                    key=lambda kw, name=name: np.mean(
                        (FILTERS[name](x_tilde, **kw) - x_valid) ** 2
                    ),
                )
            )
            for name, options in candidates.items()
        }
    return chosen


def build_denoiser(
    name: str, hidden_units: Sequence[int], latent_dim: int, seed: int
) -> LatentVariableModel:
    """One of :data:`DENOISERS`, compiled with Adam: a dense VAE (``"plain VAE"``,
    ``"denoising VAE"``) or Vincent et al.'s (2008) deterministic denoising
    autoencoder of the same size.

    ``keras.utils.set_random_seed(seed)`` runs before it is built, so the two VAEs
    start from the same weights; the autoencoder's encoder has one head instead of
    two and so ``latent_dim * (hidden + 1)`` weights fewer.
    """
    if name not in DENOISERS:
        raise ValueError(f"name must be one of {DENOISERS}, got {name!r}")
    keras.utils.set_random_seed(seed)
    variational = name != "denoising autoencoder"
    encoder = build_dense_encoder(
        latent_dim, hidden_units=hidden_units, variational=variational
    )
    decoder = build_dense_decoder(latent_dim, hidden_units=hidden_units)
    model = (
        VAE(encoder, decoder, seed=seed)
        if variational
        else Autoencoder(encoder, decoder)
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


@cached_training
def fit_denoiser(
    name: str,
    x_input: np.ndarray,
    x_target: np.ndarray,
    validation_data: tuple[np.ndarray, np.ndarray],
    *,
    hidden_units: Sequence[int],
    latent_dim: int,
    batch_size: int,
    seed: int,
    stopping: StoppingRule,
) -> tuple[LatentVariableModel, keras.callbacks.History]:
    """:func:`build_denoiser` ``name`` trained on ``fit(x_input, x_target)``, both
    ``(n, 784)``, until ``stopping`` ends it on ``validation_data`` (a pair of
    ``(m, 784)`` arrays); the model cache (:mod:`snippets.chapters.cache`) loads an
    unchanged call's model.
    """
    model = build_denoiser(name, hidden_units, latent_dim, seed)
    history = fit_until_stopped(
        model,
        x_input,
        x_target,
        stopping=stopping,
        epochs=stopping.max_epochs,
        validation_data=validation_data,
        batch_size=check_positive_int(batch_size, "batch_size"),
    )
    return model, history


class DenoisingTrial(NamedTuple):
    """One seed's trained models, their mean squared errors to the clean test digits
    and where their training stopped.

    ``errors[corruption][method]`` is a float for the corruptions ``"noise"`` and
    ``"mask"`` and the methods ``"corrupted input"``, each filter of
    :data:`FILTERS` and each of :data:`DENOISERS`;
    ``training[model]`` is that model's :class:`TrainingRecord`.
    """

    models: dict[str, LatentVariableModel]
    errors: dict[str, dict[str, float]]
    training: dict[str, TrainingRecord]


def denoising_trial(
    x_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seed: int,
    stopping: StoppingRule,
    filters: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 8,
    batch_size: int = 100,
    noise_std: float = 0.5,
    mask_fraction: float = 0.5,
    corruptions: Mapping[str, Sequence[float]] | None = None,
) -> DenoisingTrial:
    """Train the three models of :data:`DENOISERS` to ``stopping`` and score
    every denoiser once.

    A share ``stopping.held_back`` of ``x_train`` is held back (:func:`hold_back`,
    ``seed``); the denoising models train on :func:`denoising_pairs` of the rest
    (``fit(corrupted, clean)``: the clean digit is the reconstruction target),
    the plain VAE on the clean halves of the same pairs, so an epoch is the same
    number of steps for all three. Each stops when its loss on the held-back
    digits (their own pairs, drawn with ``VALIDATION_SEED + seed``; clean ones
    for the plain VAE) stops improving, keeping its best weights. Each method
    then denoises ``x_test`` under Gaussian noise of ``noise_std`` and under
    masking of ``mask_fraction`` (both drawn with ``TEST_SEED + seed``); the
    filters run with ``filters[corruption][name]`` (from
    :func:`choose_filter_parameters`; their defaults without it), and an error is
    the mean over pixels and digits of ``(x_hat - x)^2``.
    """
    corruptions = dict(
        corruptions or {"noise_stds": (0.0, 0.25, 0.5), "mask_fractions": (0.5,)}
    )
    x_train = check_images(x_train, "x_train").astype(np.float32)
    x_fit, x_held = hold_back(x_train, stopping.held_back, seed=seed)
    corrupted, clean = denoising_pairs(x_fit, **corruptions, seed=seed)
    held_corrupted, held_clean = denoising_pairs(
        x_held, **corruptions, seed=VALIDATION_SEED + seed
    )
    models, training = {}, {}
    for name in DENOISERS:
        plain = name == "plain VAE"
        models[name], history = fit_denoiser(
            name,
            clean if plain else corrupted,
            clean,
            (x_held, x_held) if plain else (held_corrupted, held_clean),
            hidden_units=hidden_units,
            latent_dim=latent_dim,
            batch_size=batch_size,
            seed=seed,
            stopping=stopping,
        )
        training[name] = training_record(history)
    x_test = check_images(x_test, "x_test").astype(np.float32)
    errors = {}
    for corruption, x_tilde in damaged_copies(
        x_test, noise_std, mask_fraction, TEST_SEED + seed
    ).items():
        chosen = (filters or {}).get(corruption, {})
        estimates = {"corrupted input": x_tilde}
        estimates.update(
            {
                name: denoise(x_tilde, **chosen.get(name, {}))
                for name, denoise in FILTERS.items()
            }
        )
        estimates.update(
            {name: model.reconstruct(x_tilde) for name, model in models.items()}
        )
        errors[corruption] = {
            name: float(np.mean((x_hat - x_test) ** 2))
            for name, x_hat in estimates.items()
        }
    return DenoisingTrial(models, errors, training)


def error_summary(
    trials: Sequence[DenoisingTrial],
) -> dict[str, dict[str, MeanWithError]]:
    """Each method's error under each corruption, averaged over the trials (seeds), with
    its standard error."""
    if not trials:
        raise ValueError("trials must hold at least one DenoisingTrial")
    return {
        corruption: {
            method: mean_and_standard_error(
                [t.errors[corruption][method] for t in trials]
            )
            for method in errors
        }
        for corruption, errors in trials[0].errors.items()
    }


def mse_per_noise_level(
    models: Mapping[str, LatentVariableModel],
    x: np.ndarray,
    noise_stds: Sequence[float],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Mean squared error to the clean ``x`` after Gaussian noise of each level.

    Returns ``{"corrupted input": (m,), name: (m,) for each model}``, one value
    per entry of ``noise_stds``: the error of the noisy image itself and of each
    model's reconstruction of it, averaged over pixels and images.
    """
    x = check_images(x, "x").astype(np.float32)
    errors: dict[str, list[float]] = {
        "corrupted input": [],
        **{name: [] for name in models},
    }
    for std in noise_stds:
        noisy = add_gaussian_noise(x, std, seed)
        errors["corrupted input"].append(float(np.mean((noisy - x) ** 2)))
        for name, model in models.items():
            errors[name].append(float(np.mean((model.reconstruct(noisy) - x) ** 2)))
    return {name: np.array(values) for name, values in errors.items()}


def plot_mse_per_noise_level(
    noise_stds: Sequence[float], errors: Mapping[str, np.ndarray]
) -> Figure:
    """One line per entry of :func:`mse_per_noise_level`'s result, against the noise
    level."""
    fig = page_figure(3.6)
    ax = fig.subplots()
    for name, values in errors.items():
        ax.plot(noise_stds, values, marker="o", label=name)
    ax.set_xlabel(r"noise standard deviation $\sigma$")
    ax.set_ylabel("mean squared error to the clean digit")
    ax.legend()
    return fig


def few_labelled(
    x: np.ndarray, y: np.ndarray, n_per_class: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
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
            raise ValueError(
                f"class {label} has {len(candidates)} examples, fewer than "
                f"n_per_class={n_per_class}"
            )
        rows.append(rng.choice(candidates, size=n_per_class, replace=False))
    rows = np.concatenate(rows)
    return x[rows], y[rows]


def generate_per_class(
    model: VAE, n_per_class: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` generated images of every class and their labels.

    Returns ``(images, labels)``: ``(num_classes * n_per_class, d)`` mean
    images of prior draws and the ``(num_classes * n_per_class,)`` labels they
    were generated for, class by class.
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    num_classes = int(model.encoder.inputs[1].shape[-1])
    labels = np.repeat(np.arange(num_classes), n_per_class)
    return model.generate(
        len(labels), condition=one_hot_labels(labels, num_classes), seed=seed
    ), labels


REGULARIZATION_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
"""The inverse L2 strengths ``C`` of a logistic regression that :func:`fit_classifier`
chooses from on validation digits: from a thousandfold stronger penalty than
scikit-learn's default, ``C = 1``, to a tenfold weaker one."""

Labelled = tuple[np.ndarray, np.ndarray]


def _check_labelled(pair: object, name: str) -> None:
    """Raise unless ``pair`` is ``(images, labels)`` with as many images as labels."""
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(
            f"{name} must be a pair (images, labels), got {type(pair).__name__}"
        )
    images, labels = (np.asarray(part) for part in pair)
    if images.ndim < 1 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{name} must hold as many images as labels, got images of shape "
            f"{images.shape} and labels of shape {labels.shape}"
        )


def fit_classifier(
    x_train: np.ndarray, y_train: np.ndarray, validation: Labelled | None = None
) -> LogisticRegression:
    """A multinomial logistic regression (L2 penalty) fitted to ``(x_train, y_train)``.

    With ``validation`` ``(x_valid, y_valid)``, its ``C`` is the one of
    :data:`REGULARIZATION_GRID` with the highest validation accuracy (the smaller ``C``,
    the stronger penalty, on a tie); without, scikit-learn's default ``C = 1``. The
    problems are small (hundreds of rows), so BLAS runs on one thread: more threads only
    contend, and on a busy machine slow the fit tenfold.
    """
    if validation is not None:
        _check_labelled(validation, "validation")
    grid = REGULARIZATION_GRID if validation is not None else (1.0,)
    with threadpool_limits(limits=1, user_api="blas"):
        fits = [
            LogisticRegression(C=c, max_iter=1000).fit(x_train, y_train) for c in grid
        ]
        if validation is None:
            return fits[0]
        scores = [classifier.score(*validation) for classifier in fits]
        return fits[int(np.argmax(scores))]


def classifier_accuracy(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    validation: Labelled | None = None,
) -> float:
    """Test accuracy of :func:`fit_classifier` (``C`` chosen on ``validation``, if
    given)."""
    classifier = fit_classifier(x_train, y_train, validation)
    with threadpool_limits(limits=1, user_api="blas"):
        return float(classifier.score(x_test, y_test))


def code_classifier_accuracy(
    vae: VAE,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int = 0,
    validation: Labelled | None = None,
) -> float:
    """Test accuracy of :func:`classifier_accuracy` on a VAE's codes instead of pixels
    (M1).

    The M1 model of Kingma et al. (2014): a VAE trained on many *unlabelled*
    digits, then a classifier on the posterior means ``E[z|x]`` of the few
    labelled ones. The digits are binarised once before encoding, as the VAE
    saw binary digits in training, each set with a stream of its own (``seed``,
    ``seed + 1`` and, for ``validation``, ``seed + 2``). With ``validation``
    ``(x_valid, y_valid)``, the classifier's ``C`` is chosen on its codes
    (:func:`fit_classifier`).
    """
    images = (x_train, x_test) + (() if validation is None else (validation[0],))
    codes = [
        vae.encode(binarize(x, seed=seed + offset)) for offset, x in enumerate(images)
    ]
    code_validation = None if validation is None else (codes[2], validation[1])
    return classifier_accuracy(codes[0], y_train, codes[1], y_test, code_validation)


class AugmentationTrial(NamedTuple):
    """One trial's test accuracies by arm (``"real only"``,
    ``"real + generated means"``, ``"real + generated samples"`` and, with a VAE of
    unlabelled digits, ``"codes of a VAE of all digits (M1)"``), and the training digits
    of the augmented arms: the labelled ones ``(n_labelled, d)`` and the generated means
    ``(n_generated, d)``, with labels."""

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
    unlabelled_vae: VAE | None = None,
    validation: Labelled | None = None,
    **cvae_kwargs,
) -> AugmentationTrial:
    """One trial: few labelled digits, with and without CVAE-generated digits, and M1.

    Draws ``n_per_class`` labelled digits per class from ``(x, y)`` with
    ``seed``; trains a CVAE on those digits only, on fresh binary draws of
    them (``cvae_kwargs`` go to :func:`train_conditional_vae`), so nothing
    outside the labelled set reaches it; and measures a logistic regression's
    accuracy on ``(x_test, y_test)`` trained on the real digits alone, with
    ``n_generated_per_class`` generated digits per class added as the
    decoder's means (grey images, like the real ones) or as binary samples of
    the decoder's Bernoulli. With ``unlabelled_vae``, a VAE trained on all of
    ``x`` without labels, a fourth arm classifies its codes
    (:func:`code_classifier_accuracy`). With ``validation``, labelled digits
    ``(x_valid, y_valid)`` apart from ``x``, ``n_per_class`` of each class are drawn
    from them with ``seed``, a labelled set as small as the training one, and every
    arm's classifier has its ``C`` chosen on those (:func:`fit_classifier`). The CVAE
    sees the labelled digits
    ``repeats`` times per epoch: on a hundred digits an epoch is a handful of
    steps, and Keras's per-epoch overhead would dominate the training time.
    """
    repeats = check_positive_int(repeats, "repeats")
    x_few, y_few = few_labelled(x, y, n_per_class, seed)
    if validation is not None:
        _check_labelled(validation, "validation")
        validation = few_labelled(*validation, n_per_class, seed)
    model, _ = train_conditional_vae(
        np.tile(x_few, (repeats, 1)),
        np.tile(y_few, repeats),
        seed=seed,
        dynamic_binarization=True,
        **cvae_kwargs,
    )
    x_gen, y_gen = generate_per_class(model, n_generated_per_class, seed=seed)
    y_both = np.concatenate([y_few, y_gen])
    training_sets = {
        "real only": (x_few, y_few),
        "real + generated means": (np.concatenate([x_few, x_gen]), y_both),
        "real + generated samples": (
            np.concatenate([x_few, binarize(x_gen, seed=seed)]),
            y_both,
        ),
    }
    accuracy = {
        name: classifier_accuracy(*pair, x_test, y_test, validation)
        for name, pair in training_sets.items()
    }
    if unlabelled_vae is not None:
        accuracy["codes of a VAE of all digits (M1)"] = code_classifier_accuracy(
            unlabelled_vae, x_few, y_few, x_test, y_test, seed, validation
        )
    return AugmentationTrial(accuracy, x_few, y_few, x_gen, y_gen)


def plot_accuracy_per_seed(
    seeds: Sequence[int], results: Mapping[str, Sequence[float]]
) -> Figure:
    """Test accuracy per seed, one marker per arm, with each arm's mean as a dashed
    line."""
    fig = page_figure(3.4)
    ax = fig.subplots()
    for (name, values), marker in zip(results.items(), "os^Dv"):
        line = ax.plot(seeds, values, marker=marker, linestyle="none", label=name)[0]
        ax.axhline(np.mean(values), color=line.get_color(), linestyle="--", linewidth=1)
    ax.set_xticks(list(seeds))
    ax.set_xlabel("seed (which labelled digits, and the CVAE's initialisation)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    return fig
