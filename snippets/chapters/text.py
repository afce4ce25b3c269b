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

import re
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops
from scipy.special import softmax

from snippets.likelihoods import Categorical
from snippets.losses import gaussian_kl_to_standard_normal
from snippets.models import VAE, predict_in_batches
from snippets.validation import check_array, check_number, check_positive_int

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
    """The ``n`` most frequent English words of ``min_length``-``max_length`` letters a-z.

    From ``wordfreq.top_n_list("en", ...)``, which ships with the package
    (no network); words with capitals, digits, apostrophes or accents are
    skipped. Raises ``ValueError`` if fewer than ``n`` such words exist.
    """
    from wordfreq import top_n_list

    n = check_positive_int(n, "n")
    min_length = check_positive_int(min_length, "min_length")
    max_length = check_positive_int(max_length, "max_length")
    if min_length > max_length:
        raise ValueError(f"min_length ({min_length}) must be <= max_length ({max_length})")
    pattern = re.compile(f"[a-z]{{{min_length},{max_length}}}")
    words = [w for w in top_n_list("en", 200_000) if pattern.fullmatch(w)]
    if len(words) < n:
        raise ValueError(f"n must be at most {len(words)} (the words wordfreq has), got {n}")
    return words[:n]


def load_words(
    n: int = 3000, test_fraction: float = 0.1, max_length: int = 10, seed: int = 0, verbose: bool = True
) -> WordData:
    """The ``n`` most frequent English words (3 to ``max_length`` letters), split at random.

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
        print(f"Word source: {description}")
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
                f"alphabet must be a non-empty string of distinct characters, got {alphabet!r}"
            )
        self.alphabet = alphabet
        self.max_length = check_positive_int(max_length, "max_length")
        self.ids = {char: index + len(SPECIAL_TOKENS) for index, char in enumerate(alphabet)}

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
                raise ValueError(f"words[{row}] = {word!r} must have 1 to {self.max_length} characters")
            unknown = sorted(set(word) - set(self.ids))
            if unknown:
                raise UnknownCharacterError(f"words[{row}] = {word!r} has characters {unknown} outside the alphabet")
            tokens[row, : len(word)] = [self.ids[char] for char in word]
            tokens[row, len(word)] = END
        return tokens

    def decode(self, tokens: np.ndarray) -> list[str]:
        """Strings from ``(n, length)`` ids, each read up to its first ``<end>`` or ``<pad>``.

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
    """Replace each character token of a decoder input by ``<unk>`` with probability ``rate``.

    Bowman et al.'s remedy against posterior collapse: the decoder can no
    longer read the whole prefix, so it must take the missing information
    from the code. ``<pad>``, ``<start>`` and ``<end>`` are never replaced;
    inputs are ``(batch, length)`` int ids; active only when ``training``.
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_number(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, tokens, training=False):
        if not training or self.rate == 0.0:
            return tokens
        hide = keras.random.uniform(ops.shape(tokens), seed=self.seed_generator) < self.rate
        hide = ops.logical_and(hide, tokens >= len(SPECIAL_TOKENS))
        return ops.where(hide, ops.cast(UNK, tokens.dtype), tokens)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def build_text_encoder(
    vocabulary_size: int, sequence_length: int, embedding_dim: int = 32, units: int = 128, latent_dim: int = 16
) -> keras.Model:
    """Token ids ``(batch, sequence_length)`` to ``[z_mean, z_log_var]``, each ``(batch, latent_dim)``.

    Embedding (padding masked) then a bidirectional GRU whose two final
    states are concatenated.
    """
    sequence_length = check_positive_int(sequence_length, "sequence_length")
    vocabulary_size = check_positive_int(vocabulary_size, "vocabulary_size")
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    x = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
    h = layers.Bidirectional(layers.GRU(check_positive_int(units, "units")), name="bigru")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    return keras.Model(inputs, [z_mean, layers.Dense(latent_dim, name="z_log_var")(h)], name="encoder")


def build_text_decoder(
    vocabulary_size: int, sequence_length: int, embedding_dim: int = 32, units: int = 128, latent_dim: int = 16
) -> keras.Model:
    """``[decoder input ids (batch, sequence_length), z (batch, latent_dim)]`` to next-token logits.

    The GRU starts from the state ``tanh(W z + b)`` and also sees ``z`` next
    to every input character; its output at step ``t`` gives logits
    ``(batch, sequence_length, vocabulary_size)`` for the character at ``t``.
    """
    sequence_length = check_positive_int(sequence_length, "sequence_length")
    vocabulary_size = check_positive_int(vocabulary_size, "vocabulary_size")
    units = check_positive_int(units, "units")
    embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="decoder_tokens")
    z = keras.Input(shape=(check_positive_int(latent_dim, "latent_dim"),), name="z")
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(tokens)
    code_per_step = layers.RepeatVector(sequence_length, name="code_per_step")(z)
    x = layers.Concatenate(name="with_code")([x, code_per_step])
    state = layers.Dense(units, activation="tanh", name="initial_state")(z)
    h = layers.GRU(units, return_sequences=True, name="gru")(x, initial_state=[state])
    return keras.Model([tokens, z], layers.Dense(vocabulary_size, name="logits")(h), name="decoder")


def shift_right(tokens):
    """Decoder inputs for teacher forcing: ``<start>`` then the targets but the last, same shape."""
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

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, word_dropout: float = 0.0, **kwargs):
        kwargs.setdefault("likelihood", Categorical(ignore_class=PAD))
        super().__init__(encoder, decoder, **kwargs)
        dropout_seed = None if self.seed is None else self.seed + 1
        self.word_dropout = WordDropout(word_dropout, seed=dropout_seed, name="word_dropout")

    @property
    def latent_dim(self) -> int:
        return int(self.decoder.inputs[1].shape[-1])

    @property
    def sequence_length(self) -> int:
        return int(self.decoder.inputs[0].shape[-1])

    def decoder_inputs(self, z, x, condition, training: bool = False):
        return [self.word_dropout(shift_right(x), training=training), z]

    def kl_per_word(self, tokens) -> np.ndarray:
        """``KL(q(z|x) || N(0, I))`` of each word in nats: ``(n,)``."""
        z_mean, z_log_var = predict_in_batches(self.encoder, self.check_examples(tokens, "tokens"))
        return ops.convert_to_numpy(gaussian_kl_to_standard_normal(z_mean, z_log_var))

    def decode(self, z, condition=None) -> np.ndarray:
        """The most likely word for each code, greedily: token ids ``(n, sequence_length)``."""
        return self.sample_tokens(z, temperature=0.0)

    def sample_tokens(self, z, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """One word per code ``z`` ``(n, latent_dim)``, one character at a time: ids ``(n, sequence_length)``.

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
            logits = ops.convert_to_numpy(self.decoder([inputs, z], training=False))[:, t].astype(np.float64)
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
    embedding_dim: int = 32,
    units: int = 128,
    latent_dim: int = 16,
    beta: float = 1.0,
    word_dropout: float = 0.0,
    seed: int | None = None,
) -> TextVAE:
    """A :class:`TextVAE` sized for ``vocabulary``'s ids and word length."""
    sizes = dict(
        vocabulary_size=vocabulary.size,
        sequence_length=vocabulary.sequence_length,
        embedding_dim=embedding_dim,
        units=units,
        latent_dim=latent_dim,
    )
    encoder, decoder = build_text_encoder(**sizes), build_text_decoder(**sizes)
    return TextVAE(encoder, decoder, beta=beta, word_dropout=word_dropout, seed=seed)


def word_novelty(generated: list[str], train: list[str], known: list[str]) -> dict[str, float]:
    """Fractions of ``generated`` strings that copy a training word, are other known words, or are new.

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
    return {"training word": copied / n, "other real word": other_real / n, "new string": new / n}
