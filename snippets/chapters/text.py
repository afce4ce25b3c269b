"""A character-level VAE for English words (after Bowman et al., 2016).

A word is a sequence of characters. The encoder (embedding + bidirectional
GRU) maps it to a Gaussian code; the decoder is an autoregressive GRU that
predicts each next character from the previous ones and from the code. Such a
decoder is strong enough to model words without looking at ``z``, which
invites *posterior collapse* (``q(z|x) = p(z)``, KL = 0). Bowman et al.'s two
remedies are here: KL warm-up (:class:`snippets.KLWarmup`) and word
dropout, which hides a fraction of the decoder's input characters behind an
UNK token so that it must rely on the code.

The words are real: the most frequent English words from the ``wordfreq``
package's bundled lists, read offline.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops
from scipy.special import softmax

from snippets.callbacks import KLWarmup
from snippets.chapters.cache import cached_training
from snippets.chapters.diagnostics import kl_per_dimension, unit_activity
from snippets.chapters.stopping import (
    StoppingRule,
    TrainingRecord,
    fit_until_stopped,
    hold_back,
    training_record,
)
from snippets.evaluation import (
    DEFAULT_BATCH_SIZE,
    LogWeightSummary,
    MeanWithError,
    mean_and_standard_error,
    summarize_log_weights,
)
from snippets.likelihoods import Categorical
from snippets.losses import diagonal_gaussian_log_density
from snippets.models import VAE, predict_in_batches, share_per_replica
from snippets.validation import (
    check_array,
    check_number,
    check_positive_int,
    check_same_length,
)

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


class UnknownCharacterError(ValueError):
    """A word holds a character the vocabulary does not know."""


@dataclass(frozen=True)
class WordData:
    """Training and held-out words with the name of their source."""

    train: list[str]
    test: list[str]
    source: str
    description: str


def frequent_words(n: int, min_length: int = 3, max_length: int = 10) -> list[str]:
    """The ``n`` most frequent English words of ``min_length``-``max_length`` letters
    a-z.

    From ``wordfreq.top_n_list("en", ...)``, which ships with the package
    (no network); words with capitals, digits, apostrophes or accents are
    skipped. Raises ``ValueError`` if fewer than ``n`` such words exist.
    """
    from wordfreq import top_n_list

    n = check_positive_int(n, "n")
    min_length = check_positive_int(min_length, "min_length")
    max_length = check_positive_int(max_length, "max_length")
    if min_length > max_length:
        raise ValueError(
            f"min_length ({min_length}) must be <= max_length ({max_length})"
        )
    pattern = re.compile(f"[a-z]{{{min_length},{max_length}}}")
    words = [w for w in top_n_list("en", 200_000) if pattern.fullmatch(w)]
    if len(words) < n:
        raise ValueError(
            f"n must be at most {len(words)} (the words wordfreq has), got {n}"
        )
    return words[:n]


def load_words(
    n: int = 3000,
    test_fraction: float = 0.1,
    max_length: int = 10,
    seed: int = 0,
    verbose: bool = True,
) -> WordData:
    """The ``n`` most frequent English words (3 to ``max_length`` letters), split at
    random.

    Returns:
        A :class:`WordData` with ``round(test_fraction * n)`` held-out words.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    words = frequent_words(n, max_length=max_length)
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = int(round(test_fraction * len(words)))
    test, train = [words[i] for i in order[:n_test]], [words[i] for i in order[n_test:]]
    description = (
        f"the {len(words):,} most frequent English words of 3-{max_length} letters "
        f"(wordfreq, offline); {len(train):,} training and {len(test):,} held-out words"
    )
    if verbose:
        print(textwrap.fill(f"Word source: {description}", width=88))
    return WordData(train, test, "wordfreq", description)


class CharVocabulary:
    """Characters to token ids and back.

    Ids 0-3 are ``<pad>``, ``<start>``, ``<end>`` and ``<unk>`` (the word-dropout
    token); the ``alphabet`` follows from id 4. A word of at most
    ``max_length`` characters is encoded as its characters, ``<end>``, then
    padding: ``max_length + 1`` ids.
    """

    def __init__(self, alphabet: str = ALPHABET, max_length: int = 10):
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise ValueError(
                "alphabet must be a non-empty string of distinct characters, got "
                f"{alphabet!r}"
            )
        self.alphabet = alphabet
        self.max_length = check_positive_int(max_length, "max_length")
        self.ids = {
            char: index + len(SPECIAL_TOKENS) for index, char in enumerate(alphabet)
        }

    @property
    def size(self) -> int:
        """Number of token ids, special tokens included."""
        return len(SPECIAL_TOKENS) + len(self.alphabet)

    @property
    def sequence_length(self) -> int:
        return self.max_length + 1

    def encode(self, words: list[str]) -> np.ndarray:
        """``(n, max_length + 1)`` int32 ids: characters, ``<end>``, padding."""
        tokens = np.full((len(words), self.sequence_length), PAD, np.int32)
        for row, word in enumerate(words):
            if not 0 < len(word) <= self.max_length:
                raise ValueError(
                    f"words[{row}] = {word!r} must have 1 to {self.max_length} "
                    "characters"
                )
            unknown = sorted(set(word) - set(self.ids))
            if unknown:
                raise UnknownCharacterError(
                    f"words[{row}] = {word!r} has characters {unknown} outside the "
                    "alphabet"
                )
            tokens[row, : len(word)] = [self.ids[char] for char in word]
            tokens[row, len(word)] = END
        return tokens

    def decode(self, tokens: np.ndarray) -> list[str]:
        """Strings from ``(n, length)`` ids, each read up to its first ``<end>`` or
        ``<pad>``.

        ``<start>`` and ``<unk>`` are dropped.
        """
        words = []
        for row in np.asarray(tokens):
            chars = []
            for token in row:
                if token in (END, PAD):
                    break
                if token >= len(SPECIAL_TOKENS):
                    chars.append(self.alphabet[token - len(SPECIAL_TOKENS)])
            words.append("".join(chars))
        return words


@keras.saving.register_keras_serializable(package="snippets")
class WordDropout(keras.layers.Layer):
    """Replace each character token of a decoder input by ``<unk>`` with rate ``rate``.

    Bowman et al.'s remedy against posterior collapse: the decoder can no
    longer read the whole prefix, so it must take the missing information
    from the code. ``<pad>``, ``<start>`` and ``<end>`` are never replaced;
    inputs are ``(batch, length)`` int ids; active only when ``training``.
    The rate is kept in a non-trainable variable, so models that differ only
    in it can share one compiled training step.
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_number(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.hidden_share = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.rate),
            trainable=False,
            name="rate",
        )

    def call(self, tokens, training=False):
        if not training:
            return tokens
        hide = (
            keras.random.uniform(ops.shape(tokens), seed=self.seed_generator)
            < self.hidden_share
        )
        hide = ops.logical_and(hide, tokens >= len(SPECIAL_TOKENS))
        return ops.where(hide, ops.cast(UNK, tokens.dtype), tokens)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def build_text_encoder(
    vocabulary_size: int,
    sequence_length: int,
    *,
    embedding_dim: int = 32,
    units: int = 128,
    latent_dim: int = 16,
) -> keras.Model:
    """Token ids ``(batch, sequence_length)`` to ``[z_mean, z_log_var]``, each
    ``(batch, latent_dim)``.

    Embedding (padding masked) then a bidirectional GRU whose two final
    states are concatenated.
    """
    sequence_length = check_positive_int(sequence_length, "sequence_length")
    vocabulary_size = check_positive_int(vocabulary_size, "vocabulary_size")
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    x = layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
    )(inputs)
    h = layers.Bidirectional(
        layers.GRU(check_positive_int(units, "units")), name="bigru"
    )(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    return keras.Model(
        inputs, [z_mean, layers.Dense(latent_dim, name="z_log_var")(h)], name="encoder"
    )


def build_text_decoder(
    vocabulary_size: int,
    sequence_length: int,
    *,
    embedding_dim: int = 32,
    units: int = 128,
    latent_dim: int = 16,
    code_at_every_step: bool = True,
) -> keras.Model:
    """``[ids (batch, sequence_length), z (batch, latent_dim)]`` to next-token logits.

    The GRU starts from the state ``tanh(W z + b)``; with
    ``code_at_every_step`` it also sees ``z`` next to every input character,
    without it ``z`` enters through that initial state alone, as in Bowman et
    al. (2016). Its output at step ``t`` gives logits
    ``(batch, sequence_length, vocabulary_size)`` for the character at ``t``.
    """
    sequence_length = check_positive_int(sequence_length, "sequence_length")
    vocabulary_size = check_positive_int(vocabulary_size, "vocabulary_size")
    units = check_positive_int(units, "units")
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="decoder_tokens")
    z = keras.Input(shape=(check_positive_int(latent_dim, "latent_dim"),), name="z")
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(tokens)
    if code_at_every_step:
        code_per_step = layers.RepeatVector(sequence_length, name="code_per_step")(z)
        x = layers.Concatenate(name="with_code")([x, code_per_step])
    state = layers.Dense(units, activation="tanh", name="initial_state")(z)
    h = layers.GRU(units, return_sequences=True, name="gru")(x, initial_state=[state])
    return keras.Model(
        [tokens, z], layers.Dense(vocabulary_size, name="logits")(h), name="decoder"
    )


def shift_right(tokens):
    """Decoder inputs for teacher forcing: ``<start>`` then the targets but the last,
    same shape."""
    start = ops.full((ops.shape(tokens)[0], 1), START, dtype=tokens.dtype)
    return ops.concatenate([start, tokens[:, :-1]], axis=1)


@keras.saving.register_keras_serializable(package="snippets")
class TextVAE(VAE):
    """The package's VAE over token sequences, with an autoregressive decoder.

    The likelihood is :class:`snippets.Categorical` over characters, padding
    ignored: ``log p(x|z) = sum_t log p(x_t | x_<t, z)`` under teacher forcing.
    The decoder reads ``[its input characters, z]``: the word shifted right
    behind ``<start>``, of which ``word_dropout`` are replaced by ``<unk>``
    during training. Everything else (sampling, beta for
    :class:`snippets.KLWarmup`, the loss and its parts, saving) is the VAE's;
    ``decode(z)`` decodes greedily and returns token ids, which
    :meth:`CharVocabulary.decode` turns into strings.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        *,
        word_dropout: float = 0.0,
        **kwargs,
    ):
        kwargs.setdefault("likelihood", Categorical(ignore_class=PAD))
        super().__init__(encoder, decoder, **kwargs)
        dropout_seed = None if self.seed is None else self.seed + 1
        self.word_dropout = WordDropout(
            word_dropout, seed=dropout_seed, name="word_dropout"
        )

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.inputs[1].shape[-1])

    @property
    def sequence_length(self) -> int:
        return int(self.decoder.inputs[0].shape[-1])

    def decoder_inputs(self, z, x, condition, training: bool = False):
        return [self.word_dropout(shift_right(x), training=training), z]

    def log_likelihood(self, tokens, z) -> np.ndarray:
        """``log p(x|z)`` of each word given its code, teacher-forced without word
        dropout: ``(n,)`` nats.

        ``tokens`` are ``(n, sequence_length)`` ids, ``z`` is ``(n, latent_dim)``.
        """
        tokens = self.check_examples(tokens, "tokens")
        z = check_array(z, "z", (self.latent_dim,)).astype(np.float32)
        check_same_length({"tokens": tokens, "z": z})
        inputs = [ops.convert_to_numpy(shift_right(tokens)), z]
        # The bound decodes k codes of every word: under TensorFlow and JAX, Keras's
        # compiled predict step runs the recurrent decoder about four times faster
        # than direct calls on a CPU.
        logits = np.concatenate(
            [
                self.decoder.predict_on_batch(
                    [array[start : start + DEFAULT_BATCH_SIZE] for array in inputs]
                )
                for start in range(0, len(z), DEFAULT_BATCH_SIZE)
            ]
        ).astype(np.float32)
        return ops.convert_to_numpy(self.likelihood.log_prob(tokens, logits)).astype(
            np.float64
        )

    def decode(self, z, condition=None) -> np.ndarray:
        """The most likely word for each code, greedily: token ids
        ``(n, sequence_length)``."""
        return self.sample_tokens(z, temperature=0.0)

    def sample_tokens(self, z, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """One word per code ``z`` ``(n, latent_dim)``, one character at a time: ids
        ``(n, sequence_length)``.

        ``temperature = 0`` picks the most likely character (greedy);
        ``temperature > 0`` samples from ``softmax(logits / temperature)``.
        ``<pad>``, ``<start>`` and ``<unk>`` are never generated.
        """
        temperature = check_number(temperature, "temperature", low=0.0)
        z = check_array(z, "z", (self.latent_dim,)).astype(np.float32)
        rng = np.random.default_rng(seed)
        inputs = np.full((len(z), self.sequence_length), PAD, np.int32)
        inputs[:, 0] = START
        outputs = np.full((len(z), self.sequence_length), PAD, np.int32)
        for t in range(self.sequence_length):
            # One decoder pass per character: Keras's compiled predict step is traced
            # once and reused, where a direct call would run the recurrent layer eagerly
            # every time.
            logits = np.asarray(self.decoder.predict_on_batch([inputs, z]))[
                :, t
            ].astype(np.float64)
            logits[:, [PAD, START, UNK]] = -np.inf
            if temperature == 0.0:
                outputs[:, t] = logits.argmax(axis=-1)
            else:
                probs = softmax(logits / temperature, axis=-1)
                outputs[:, t] = [rng.choice(len(p), p=p) for p in probs]
            if t + 1 < self.sequence_length:
                inputs[:, t + 1] = outputs[:, t]
        return outputs

    def get_config(self) -> dict:
        return {**super().get_config(), "word_dropout": self.word_dropout.rate}


def build_text_vae(
    vocabulary: CharVocabulary,
    *,
    embedding_dim: int = 32,
    units: int = 128,
    latent_dim: int = 16,
    beta: float = 1.0,
    word_dropout: float = 0.0,
    code_at_every_step: bool = True,
    seed: int | None = None,
) -> TextVAE:
    """A :class:`TextVAE` sized for ``vocabulary``'s ids and word length.

    ``code_at_every_step`` says where ``z`` enters the decoder (see
    :func:`build_text_decoder`).
    """
    sizes = dict(
        vocabulary_size=vocabulary.size,
        sequence_length=vocabulary.sequence_length,
        embedding_dim=embedding_dim,
        units=units,
        latent_dim=latent_dim,
    )
    decoder = build_text_decoder(**sizes, code_at_every_step=code_at_every_step)
    return TextVAE(
        build_text_encoder(**sizes),
        decoder,
        beta=beta,
        word_dropout=word_dropout,
        seed=seed,
    )


@keras.saving.register_keras_serializable(package="snippets")
class CharLanguageModel(keras.Model):
    """A decoder-only character model: ``log p(x) = sum_t log p(x_t | x_<t)``, exactly.

    The network is a :func:`build_text_decoder` decoder whose code input is
    fixed at zero: no encoder, no KL, no latent variable, so its GRU starts
    from a learnt state ``tanh(b)``. ``fit(tokens)`` minimises ``-log p(x)``
    per word in nats, padding ignored; :meth:`log_likelihood` gives the exact
    held-out value, the baseline a text VAE's bound is compared with.
    """

    def __init__(self, decoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.decoder = decoder
        self.likelihood = Categorical(ignore_class=PAD)

    def call(self, tokens, training=False):
        code = ops.zeros((ops.shape(tokens)[0], int(self.decoder.inputs[1].shape[-1])))
        return self.decoder([shift_right(tokens), code], training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return share_per_replica(
            ops.mean(-self.likelihood.log_prob(x, ops.cast(y_pred, "float32")))
        )

    def log_likelihood(self, tokens) -> np.ndarray:
        """``log p(x)`` of each word: ``(n,)`` nats for ids ``(n, sequence_length)``."""
        sequence_length, vocabulary_size = self.decoder.output_shape[1:]
        tokens = check_array(
            tokens,
            "tokens",
            (sequence_length,),
            low=0,
            high=vocabulary_size - 1,
            integer=True,
        )
        logits = predict_in_batches(self, tokens, batch_size=DEFAULT_BATCH_SIZE)
        return ops.convert_to_numpy(self.likelihood.log_prob(tokens, logits)).astype(
            np.float64
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(
            keras.saving.deserialize_keras_object(config.pop("decoder")), **config
        )


def build_char_language_model(
    vocabulary: CharVocabulary, *, embedding_dim: int = 32, units: int = 128
) -> CharLanguageModel:
    """A :class:`CharLanguageModel` whose decoder has the sizes :func:`build_text_vae`
    gives a VAE's."""
    decoder = build_text_decoder(
        vocabulary.size,
        vocabulary.sequence_length,
        embedding_dim=embedding_dim,
        units=units,
        latent_dim=1,
        code_at_every_step=False,
    )
    return CharLanguageModel(decoder, name="language_model")


def text_log_weights(model: TextVAE, tokens, z_mean, z_log_var, epsilon) -> np.ndarray:
    """``log w = log p(x|z) + log p(z) - log q(z|x)``, one code per word: ``(n,)`` nats.

    ``z = z_mean + exp(z_log_var / 2) * epsilon`` with ``z_mean``,
    ``z_log_var`` the encoder's outputs for ``tokens`` and ``epsilon``
    standard normal noise, each ``(n, latent_dim)``; ``p(x|z)`` is
    :meth:`TextVAE.log_likelihood`, ``p(z) = N(0, I)``.
    """
    z = (z_mean + np.exp(0.5 * z_log_var) * epsilon).astype(np.float32)
    log_prior = diagonal_gaussian_log_density(z, np.zeros_like(z), 0.0)
    log_posterior = diagonal_gaussian_log_density(z, z_mean, z_log_var)
    log_prior_ratio = ops.convert_to_numpy(log_prior - log_posterior).astype(np.float64)
    return model.log_likelihood(tokens, z) + log_prior_ratio


def text_log_weight_statistics(
    model: TextVAE,
    tokens,
    k: int,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> LogWeightSummary:
    """The IWAE bound and the multi-sample ELBO of each word from ``k`` shared codes
    ``z_i ~ q(z|x)``.

    :func:`snippets.log_weight_statistics` for a :class:`TextVAE`, whose
    decoder reads the word's prefix besides ``z``: the log-weights of
    :func:`text_log_weights` are reduced by
    :func:`snippets.evaluation.summarize_log_weights`. Draw ``i`` of every word
    is the ``i``-th ``(n, latent_dim)`` standard normal array of
    ``np.random.default_rng(seed)``, so ``k = 10`` uses the first ten draws of
    ``k = 100``; about ``batch_size`` codes are decoded at once.

    Returns:
        A :class:`snippets.LogWeightSummary`: ``iwae`` and ``elbo``, ``(n,)`` nats.
    """
    tokens = model.check_examples(tokens, "tokens")
    k, batch_size = (
        check_positive_int(k, "k"),
        check_positive_int(batch_size, "batch_size"),
    )
    z_mean, z_log_var = predict_in_batches(model.encoder, tokens)
    rng, n = np.random.default_rng(seed), len(tokens)
    draws_per_chunk = max(1, batch_size // n)
    chunks = []
    for start in range(0, k, draws_per_chunk):
        s = min(draws_per_chunk, k - start)
        # Draw j of word i is row j * n + i.
        stacked = [np.tile(array, (s, 1)) for array in (tokens, z_mean, z_log_var)]
        log_w = text_log_weights(
            model, *stacked, rng.standard_normal((s * n, model.latent_dim))
        )
        chunks.append(log_w.reshape(s, n).T)
    return summarize_log_weights(chunks)


def word_novelty(
    generated: list[str], train: list[str], known: list[str]
) -> dict[str, float]:
    """Fractions of ``generated`` strings that copy a training word, are other known
    words, or are new.

    ``known`` is a larger list of real words (e.g. :func:`frequent_words` with
    a bigger ``n``); the three fractions sum to 1.
    """
    if not generated:
        raise ValueError("generated must hold at least one string")
    train_set, known_set = set(train), set(known)
    copied = sum(w in train_set for w in generated)
    other_real = sum(w in known_set and w not in train_set for w in generated)
    n = len(generated)
    new = n - copied - other_real
    return {
        "training word": copied / n,
        "other real word": other_real / n,
        "new string": new / n,
    }


# --- the comparison: where the code enters, the remedies, the language model
# -------------

ACTIVITY_THRESHOLD = (
    0.01  # a unit is active when Var_x E[z_u | x] exceeds this (Burda et al., 2016)
)
TextModel = TextVAE | CharLanguageModel


@dataclass(frozen=True)
class TextVariant:
    """One model of the comparison: a :class:`TextVAE` and how it is trained, or the
    language model.

    ``code_at_every_step`` says where the VAE's code enters its decoder
    (:func:`build_text_decoder`); a ``warmup_epochs`` above 0 raises ``beta``
    linearly at every step, from 0 at the first step to 1 after that many epochs
    (:class:`snippets.KLWarmup` with ``warmup_steps``), else ``beta = 1`` throughout;
    ``word_dropout`` is the rate of :class:`WordDropout`.
    ``latent=False`` is the decoder-only :class:`CharLanguageModel`, which has none of
    these.
    """

    latent: bool = True
    code_at_every_step: bool = False
    warmup_epochs: int = 0
    word_dropout: float = 0.0

    @property
    def architecture(self) -> tuple[bool, bool]:
        """What fixes the network's variables: variants that agree on it can share a
        compiled model."""
        return self.latent, self.code_at_every_step

    def __post_init__(self) -> None:
        check_number(
            self.word_dropout, "word_dropout", low=0.0, high=1.0, high_open=True
        )
        if (
            isinstance(self.warmup_epochs, bool)
            or not isinstance(self.warmup_epochs, (int, np.integer))
            or self.warmup_epochs < 0
        ):
            raise ValueError(
                "warmup_epochs must be an integer >= 0 (0: no warm-up), got "
                f"{self.warmup_epochs!r}"
            )
        if not self.latent and (
            self.code_at_every_step or self.warmup_epochs or self.word_dropout
        ):
            raise ValueError(
                "a language model (latent=False) has no code: code_at_every_step, "
                "warmup_epochs and word_dropout must keep their defaults"
            )

    def build(
        self,
        vocabulary: CharVocabulary,
        *,
        units: int,
        latent_dim: int,
        seed: int | None = None,
    ) -> TextModel:
        """The untrained model, sized by ``vocabulary``, ``units`` and (for a VAE)
        ``latent_dim``."""
        if not self.latent:
            return build_char_language_model(vocabulary, units=units)
        return build_text_vae(
            vocabulary,
            units=units,
            latent_dim=latent_dim,
            beta=0.0 if self.warmup_epochs else 1.0,
            word_dropout=self.word_dropout,
            code_at_every_step=self.code_at_every_step,
            seed=seed,
        )


@dataclass(frozen=True)
class TextScores:
    """A trained model on held-out words, means per word.

    ``nll`` is ``-log p(x)`` in nats: exact for the language model, the
    importance-weighted bound's (an upper bound on it) for a VAE. ``kl`` is
    ``KL(q(z|x) || p(z))`` in nats and ``active_units`` the number of latent
    units whose posterior mean varies across words by more than
    :data:`ACTIVITY_THRESHOLD`; both are 0 for the language model. ``kl_per_unit``
    ``(latent_dim,)`` splits ``kl`` over the latent units (the posterior is
    diagonal, so they add up to it); empty for the language model.
    """

    nll: float
    kl: float
    active_units: int
    kl_per_unit: tuple[float, ...] = ()


@dataclass(frozen=True)
class VariantRuns:
    """A variant trained once per seed: scores, training histories and where each run's
    training ended (:class:`snippets.chapters.stopping.TrainingRecord`), in seed order,
    the last seed's model, and the variant's :attr:`TextVariant.warmup_epochs`."""

    scores: list[TextScores]
    histories: list[dict[str, list[float]]]
    records: list[TrainingRecord]
    model: TextModel
    warmup_epochs: int = 0

    def per_seed(self, metric: str) -> np.ndarray:
        """``metric`` (``"nll"``, ``"kl"`` or ``"active_units"``) of each seed:
        ``(n_seeds,)``."""
        if metric not in ("nll", "kl", "active_units"):
            raise ValueError(
                f"metric must be 'nll', 'kl' or 'active_units', got {metric!r}"
            )
        return np.array(
            [getattr(score, metric) for score in self.scores], dtype=np.float64
        )

    def summary(self, metric: str) -> MeanWithError:
        """Mean and standard error over seeds of :meth:`per_seed`."""
        return mean_and_standard_error(self.per_seed(metric))

    def kl_per_unit(self) -> np.ndarray:
        """Each seed's KL per latent unit, sorted from the largest:
        ``(n_seeds, latent_dim)`` nats per word."""
        return -np.sort(-np.array([score.kl_per_unit for score in self.scores]), axis=1)


def score_text_model(model: TextModel, tokens, *, k: int, seed: int = 0) -> TextScores:
    """:class:`TextScores` of ``model`` on ids ``(n, sequence_length)``; a VAE's bound
    uses ``k`` codes."""
    if isinstance(model, CharLanguageModel):
        return TextScores(
            nll=float(-model.log_likelihood(tokens).mean()), kl=0.0, active_units=0
        )
    iwae = text_log_weight_statistics(model, tokens, k, seed=seed).iwae
    active = int(np.sum(unit_activity(model.encode(tokens)) > ACTIVITY_THRESHOLD))
    kl_per_unit = kl_per_dimension(model, tokens)
    return TextScores(
        nll=float(-iwae.mean()),
        kl=float(kl_per_unit.sum()),
        active_units=active,
        kl_per_unit=tuple(float(value) for value in kl_per_unit),
    )


def restart(
    model: keras.Model, fresh: keras.Model, optimizer_start: list[np.ndarray]
) -> None:
    """Put a compiled ``model`` back to the start of training: ``fresh``'s variables, a
    fresh optimizer.

    ``fresh`` is an untrained model of the same architecture (weights, KL
    weight, seed-generator states); ``optimizer_start`` the values of
    ``model.optimizer.variables`` before the first step. ``model`` keeps its
    compiled training step, so the next ``fit`` skips tracing it again.
    """
    if [v.shape for v in model.variables] != [v.shape for v in fresh.variables]:
        raise ValueError("fresh must have the architecture of model")
    for target, source in zip(model.variables, fresh.variables):
        target.assign(source)
    for variable, value in zip(model.optimizer.variables, optimizer_start, strict=True):
        variable.assign(value)


def compile_text_model(
    variant: TextVariant,
    vocabulary: CharVocabulary,
    *,
    units: int,
    latent_dim: int,
    learning_rate: float,
    jit_compile: bool | str | None = None,
) -> tuple[TextModel, list[np.ndarray]]:
    """``variant``'s model compiled with Adam, and its optimizer's variables before the
    first step.

    ``jit_compile`` goes to :meth:`keras.Model.compile`. Left at ``None``, the
    training step is compiled with XLA under TensorFlow and JAX and not under
    PyTorch: XLA is slower to trace but about twice as fast per step of these
    GRUs on a CPU under TensorFlow, and under JAX the alternative is to train
    eagerly, one operation at a time; under PyTorch it would mean
    ``torch.compile``, which takes far longer to compile these models than
    they take to train. The model is called once,
    so every layer is built before the first ``fit``: a first ``fit`` that
    builds layers draws a batch, and with it a shuffle from NumPy's global
    random state, which would make a model's first run differ from its later
    runs of the same seed (on backends whose ``fit`` shuffles with NumPy).
    """
    if jit_compile is None:
        jit_compile = keras.backend.backend() != "torch"
    model = variant.build(vocabulary, units=units, latent_dim=latent_dim)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        jit_compile=jit_compile,
    )
    model(np.full((1, vocabulary.sequence_length), PAD, np.int32))
    model.optimizer.build(model.trainable_variables)
    return model, [
        ops.convert_to_numpy(variable) for variable in model.optimizer.variables
    ]


def run_text_variants(
    variants: Mapping[str, TextVariant],
    vocabulary: CharVocabulary,
    x_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seeds: Sequence[int],
    stopping: StoppingRule,
    units: int = 48,
    latent_dim: int = 16,
    k: int = 100,
    batch_size: int = 64,
    learning_rate: float = 1e-2,
    jit_compile: bool | str | None = None,
) -> dict[str, VariantRuns]:
    """Train each variant once per seed until ``stopping`` ends it, and score each run
    on ``x_test`` (token ids).

    Each seed sets Keras's global seed, holds back its own share
    ``stopping.held_back`` of ``x_train`` (:func:`snippets.chapters.stopping.hold_back`)
    and trains on the rest with Adam from its own initial weights, until the loss on
    the held-back words stops improving or ``stopping.max_epochs`` have run; the
    weights of the best epoch are kept (:func:`fit_until_stopped`). A variant's
    warm-up raises ``beta`` at every step from 0 to 1 over the steps of its first
    ``warmup_epochs`` epochs, and the rule watches it only after them (from epoch
    ``max(stopping.start_from_epoch, warmup_epochs)``), so that it judges losses of
    the ELBO itself; ``stopping.max_epochs`` must leave every variant more than
    ``stopping.patience`` watched epochs, or that variant could not stop before the
    cap (:func:`check_run_setting`). A VAE's
    held-out bound uses ``k`` codes per word (:func:`score_text_model`). Each run is
    :func:`train_text_run`, which the model cache can load instead of training.
    Variants of one :attr:`TextVariant.architecture` share one compiled model, which
    :func:`restart` puts, for each run, in the state a model of that variant built anew
    would start from (weights, KL weight, word-dropout rate): only the tracing of the
    training step is shared. Each result's ``model`` is its variant's last run.
    ``jit_compile`` is :func:`compile_text_model`'s.
    """
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if not isinstance(vocabulary, CharVocabulary):
        raise TypeError(
            f"vocabulary must be a CharVocabulary, got {type(vocabulary).__name__}"
        )
    for name, variant in variants.items():
        check_run_setting(variant, stopping, name=name)
    runs = {}
    for name, variant in variants.items():
        models, histories = [], []
        for seed in seeds:
            x_fit, x_held = hold_back(x_train, stopping.held_back, seed=seed)
            model, history = train_text_run(
                variant,
                x_fit,
                x_held,
                seed=seed,
                alphabet=vocabulary.alphabet,
                max_length=vocabulary.max_length,
                stopping=stopping,
                units=units,
                latent_dim=latent_dim,
                batch_size=batch_size,
                learning_rate=learning_rate,
                jit_compile=jit_compile,
            )
            models.append(model)
            histories.append(history)
        runs[name] = VariantRuns(
            scores=[
                score_text_model(model, x_test, k=k, seed=seed)
                for model, seed in zip(models, seeds)
            ],
            histories=[history.history for history in histories],
            records=[training_record(history) for history in histories],
            model=models[-1],
            warmup_epochs=variant.warmup_epochs,
        )
    return runs


def check_run_setting(
    variant: TextVariant, stopping: StoppingRule, *, name: str = "variant"
) -> None:
    """Raise unless ``variant`` is a :class:`TextVariant` and ``stopping`` a
    :class:`StoppingRule` that leaves it, watched only after its warm-up, more than
    ``stopping.patience`` epochs before the cap: the fewest in which a run can stop.
    ``name`` names the variant in the error."""
    if not isinstance(variant, TextVariant):
        raise TypeError(f"{name} must be a TextVariant, got {type(variant).__name__}")
    if not isinstance(stopping, StoppingRule):
        raise TypeError(
            f"stopping must be a StoppingRule, got {type(stopping).__name__}"
        )
    first = max(stopping.start_from_epoch, variant.warmup_epochs)
    if stopping.max_epochs - first <= stopping.patience:
        raise ValueError(
            f"stopping.max_epochs={stopping.max_epochs} leaves {name!r}, watched after "
            f"epoch {first}, too few epochs to stop in; it must exceed {first} + "
            f"patience = {first + stopping.patience}"
        )


@cached_training
def train_text_run(
    variant: TextVariant,
    x_fit: np.ndarray,
    x_held: np.ndarray,
    *,
    seed: int,
    alphabet: str,
    max_length: int,
    stopping: StoppingRule,
    units: int,
    latent_dim: int,
    batch_size: int,
    learning_rate: float,
    jit_compile: bool | str | None,
) -> tuple[TextModel, keras.callbacks.History]:
    """One run of :func:`run_text_variants`: ``variant`` trained from ``seed`` on the
    ids ``x_fit`` ``(n, sequence_length)`` until ``stopping``, watched on ``x_held``
    after the warm-up, ends it; the model (a fresh copy, with the kept epoch's weights)
    and its ``History``.

    The training runs on the compiled model that every variant of its
    :attr:`TextVariant.architecture` and settings shares in this process
    (:func:`shared_text_model`), put back by :func:`restart` to the state of a model
    built anew from ``seed``; sharing it saves only the tracing, so the key of the
    model cache (:func:`snippets.chapters.cache.cached_training`) need not name it.
    """
    check_run_setting(variant, stopping)
    batch_size = check_positive_int(batch_size, "batch_size")
    vocabulary = CharVocabulary(alphabet, max_length=max_length)
    sequence = (vocabulary.sequence_length,)
    x_fit = check_array(x_fit, "x_fit", sequence, low=0, high=vocabulary.size - 1)
    x_held = check_array(x_held, "x_held", sequence, low=0, high=vocabulary.size - 1)
    sizes = dict(units=units, latent_dim=latent_dim)
    model, optimizer_start = shared_text_model(
        variant.architecture,
        alphabet,
        max_length,
        learning_rate=learning_rate,
        jit_compile=jit_compile,
        dtype_policy=keras.config.dtype_policy().name,
        **sizes,
    )
    watched = dataclasses.replace(
        stopping,
        start_from_epoch=max(stopping.start_from_epoch, variant.warmup_epochs),
    )
    steps = variant.warmup_epochs * math.ceil(len(x_fit) / batch_size)
    warmup = [KLWarmup(warmup_steps=steps)] if variant.warmup_epochs else []
    keras.utils.set_random_seed(seed)
    restart(model, variant.build(vocabulary, **sizes, seed=seed), optimizer_start)
    history = fit_until_stopped(
        model,
        x_fit,
        stopping=watched,
        epochs=stopping.max_epochs,
        validation_data=x_held,
        callbacks=warmup,
        batch_size=batch_size,
    )
    trained = variant.build(vocabulary, **sizes, seed=seed)
    trained(np.full((1, vocabulary.sequence_length), PAD, np.int32))  # built to save
    for target, source in zip(trained.variables, model.variables, strict=True):
        target.assign(source)
    return trained, history


@functools.cache
def shared_text_model(
    architecture: tuple[bool, bool],
    alphabet: str,
    max_length: int,
    *,
    units: int,
    latent_dim: int,
    learning_rate: float,
    jit_compile: bool | str | None,
    dtype_policy: str,
) -> tuple[TextModel, list[np.ndarray]]:
    """The compiled model that the runs of every variant with this ``architecture``
    (``(latent, code_at_every_step)``) and these settings share in one process:
    :func:`compile_text_model`'s result, built once for each Keras ``dtype_policy``
    (the model cache keys it too)."""
    latent, code_at_every_step = architecture
    return compile_text_model(
        TextVariant(latent=latent, code_at_every_step=code_at_every_step),
        CharVocabulary(alphabet, max_length=max_length),
        units=units,
        latent_dim=latent_dim,
        learning_rate=learning_rate,
        jit_compile=jit_compile,
    )
