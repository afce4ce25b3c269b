"""The conditional VAE: generate the digit you ask for.

A conditional VAE (CVAE) gives the label ``y`` to both networks: the encoder
models ``q(z | x, y)`` and the decoder ``p(x | z, y)``, with the prior
``p(z) = N(0, I)`` left unconditional. Training maximises a bound on
``log p(x | y)``:

``log p(x | y) >= E_q(z|x,y)[log p(x | z, y)] - KL(q(z | x, y) || N(0, I))``.

Because the decoder is told the digit, the code ``z`` need not carry it: it is
free to hold what the label does not say (slant, thickness, the style of a
stroke), so decoding one ``z`` with every label writes the same "hand" in ten
digits.

The label enters as a one-hot *condition* concatenated with the network's
input: ``[x, y]`` for the encoder, ``[z, y]`` for the decoder. A CVAE is
therefore the package's :class:`snippets.VAE` built from conditional networks
(``condition_dim=num_classes``), fed ``{"x": images, "condition": one_hot}``:
the likelihoods, the loss, the checked ``fit`` and the batched encoding and
decoding are the VAE's own.

The CVAE, its inputs and its bounds are :mod:`snippets.applications.conditional`'s,
for reuse; this module trains it and compares it with a VAE.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from snippets.applications.conditional import (
    NUM_CLASSES,
    build_conditional_vae,
    conditional_inputs,
    conditional_iwae,
    decode_every_label,
    marginal_iwae,
    one_hot_labels,
)
from snippets.chapters.cache import cached_training
from snippets.chapters.comparison import SeedComparison, compare_over_seeds
from snippets.chapters.diagnostics import fit_dense_vae, held_out_terms
from snippets.data import DynamicBinarization
from snippets.evaluation import log_weight_statistics
from snippets.models import VAE
from snippets.validation import check_number, check_positive_int


@cached_training
def train_conditional_vae(
    x: np.ndarray,
    labels: np.ndarray,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    epochs: int = 10,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    dynamic_binarization: bool = False,
) -> tuple[VAE, keras.callbacks.History]:
    """Build a dense CVAE with :func:`build_conditional_vae` and train it with Adam.

    ``x`` is ``(n, 784)`` in ``[0, 1]``, ``labels`` ``(n,)`` integer classes;
    ``validation`` is an optional ``(x, labels)`` pair of held-out digits.
    With ``dynamic_binarization`` every epoch trains on fresh binary draws of
    ``x`` beside their labels (:class:`snippets.DynamicBinarization`); the
    validation digits should then be binarised once beforehand.
    ``keras.utils.set_random_seed(seed)`` runs first, so equal arguments give
    the same model, which the model cache (:mod:`snippets.chapters.cache`) can load.
    """
    keras.utils.set_random_seed(seed)
    model = build_conditional_vae(
        latent_dim, input_dim=x.shape[1], hidden_units=hidden_units, seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.Adam(
            check_number(learning_rate, "learning_rate", low=0.0, low_open=True)
        )
    )
    inputs = conditional_inputs(x, labels)
    batch_size = check_positive_int(batch_size, "batch_size")
    data = dict(x=inputs, batch_size=batch_size)
    if dynamic_binarization:
        data = dict(
            x=DynamicBinarization(
                inputs["x"],
                condition=inputs["condition"],
                batch_size=batch_size,
                seed=seed,
            )
        )
    history = model.fit(
        **data,
        epochs=check_positive_int(epochs, "epochs"),
        validation_data=None if validation is None else conditional_inputs(*validation),
        verbose=0,
    )
    return model, history


def label_from_code_percent(
    model: VAE,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    n_neighbors: int = 15,
) -> float:
    """How much of the label a code holds: test accuracy, in percent, of a
    ``n_neighbors``-nearest-neighbour classifier that predicts a digit's label from its
    posterior mean alone.

    ``train`` and ``test`` are ``(x, labels)`` pairs of binary images ``(n, 784)``
    and integer labels; a conditional model encodes each image with its own label.
    """

    def codes(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return (
            model.encode(x, one_hot_labels(labels, n=len(x)))
            if model.conditional
            else model.encode(x)
        )

    knn = KNeighborsClassifier(
        n_neighbors=check_positive_int(n_neighbors, "n_neighbors")
    )
    return 100.0 * float(knn.fit(codes(*train), train[1]).score(codes(*test), test[1]))


def compare_cvae_with_vae(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    hidden_units: Sequence[int] = (256,),
    latent_dim: int = 2,
    code_train: tuple[np.ndarray, np.ndarray] | None = None,
    k: int | None = None,
    iwae_examples: int | None = None,
) -> SeedComparison:
    """A CVAE (arm ``"cvae"``) and a VAE of the same size (``"vae"``), trained alike
    once per seed.

    Each pair is ``(x, labels)``: ``train`` in ``[0, 1]`` (binarised afresh every
    epoch), ``validation`` and ``test`` binary. Both arms get the same epochs, batch
    size and Adam rate, so the same gradient steps; only the label's inputs differ.
    Scores per run: the held-out terms of
    :func:`snippets.chapters.diagnostics.held_out_terms` (the CVAE's bound
    ``-log p(x | y)``, the VAE's ``-log p(x)``) and, when ``code_train`` (binary
    ``(x, labels)``) is given, ``"label_percent"``, the :func:`label_from_code_percent`
    of the test codes. With ``k``, both arms also get ``"neg_marginal_iwae"``, a bound
    on ``-log p(x)``: the CVAE's :func:`marginal_iwae` from ``k`` codes per image and
    label, with ``p(y)`` the training labels' frequencies, and the VAE's IWAE bound from
    ``k * NUM_CLASSES`` codes per image, so the two bound the same quantity from as many
    decoded codes. ``iwae_examples`` scores that bound on the first test images only
    (all of them by default). The first seed also tracks the validation loss after
    every epoch.
    """
    settings = dict(
        hidden_units=hidden_units,
        latent_dim=latent_dim,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        dynamic_binarization=True,
    )
    if iwae_examples is not None:
        check_positive_int(iwae_examples, "iwae_examples")
    label_prior = np.bincount(np.asarray(train[1]), minlength=NUM_CLASSES) / len(
        train[1]
    )

    def fit(arm: str, seed: int, first: bool) -> tuple[VAE, keras.callbacks.History]:
        if arm == "cvae":
            return train_conditional_vae(
                *train, seed=seed, validation=validation if first else None, **settings
            )
        return fit_dense_vae(
            train[0],
            seed=seed,
            validation_data=validation[0] if first else None,
            **settings,
        )

    def score(arm: str, model: VAE) -> dict[str, float]:
        scores = held_out_terms(
            model, conditional_inputs(*test) if arm == "cvae" else test[0]
        )
        if code_train is not None:
            scores["label_percent"] = label_from_code_percent(model, code_train, test)
        if k is not None:
            x_bound = test[0][:iwae_examples]
            bound = (
                marginal_iwae(model, x_bound, label_prior, k)
                if arm == "cvae"
                else log_weight_statistics(model, x_bound, k * NUM_CLASSES).iwae
            )
            scores["neg_marginal_iwae"] = -float(np.mean(bound))
        return scores

    return compare_over_seeds(fit, score, ("vae", "cvae"), seeds)
