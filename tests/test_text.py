"""The character-level VAE: vocabulary, word dropout, words, generation, saving, errors."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from snippets.chapters.text import (
    END,
    PAD,
    START,
    UNK,
    CharVocabulary,
    TextVAE,
    UnknownCharacterError,
    WordData,
    WordDropout,
    build_text_decoder,
    build_text_encoder,
    build_text_vae,
    frequent_words,
    load_words,
    shift_right,
    word_novelty,
)

WORDS = ["the", "cat", "sat", "on", "a", "mat", "zebra", "quizzical"]


@pytest.fixture(scope="module")
def vocabulary():
    return CharVocabulary(max_length=10)


def test_decoding_an_encoded_word_gives_it_back(vocabulary):
    tokens = vocabulary.encode(WORDS)
    assert tokens.shape == (len(WORDS), 11) and tokens.dtype == np.int32
    assert vocabulary.decode(tokens) == WORDS


def test_every_word_ends_with_end_then_padding(vocabulary):
    tokens = vocabulary.encode(["cat", "abcdefghij"])
    assert tokens[0, 3] == END and np.all(tokens[0, 4:] == PAD)
    assert tokens[1, 10] == END  # a word of max_length letters has no padding
    assert np.all(tokens[:, 0] >= 4)  # no special token where a letter is


def test_unknown_characters_raise_a_named_error(vocabulary):
    with pytest.raises(UnknownCharacterError, match="Can't.*outside the alphabet"):
        vocabulary.encode(["ok", "Can't"])
    assert issubclass(UnknownCharacterError, ValueError)


def test_word_dropout_hides_about_the_requested_fraction_of_letters_only():
    tokens = shift_right(np.tile(CharVocabulary().encode(["ab", "abcdefghij", "word"]), (2000, 1)))
    dropped = keras.ops.convert_to_numpy(WordDropout(0.3, seed=0)(tokens, training=True))
    tokens = keras.ops.convert_to_numpy(tokens)
    letters = tokens >= 4
    assert abs(np.mean(dropped[letters] == UNK) - 0.3) < 0.01
    assert np.array_equal(dropped[~letters], tokens[~letters])  # <pad>, <start>, <end> untouched
    assert np.all(dropped[:, 0] == START)
    assert np.array_equal(WordDropout(0.3)(tokens, training=False), tokens)


def test_the_text_likelihood_ignores_padding_and_counts_end(vocabulary):
    """The TextVAE's Categorical scores <end> (the word's length) and skips the padding after it."""
    model = build_text_vae(vocabulary, embedding_dim=4, units=4, latent_dim=2)
    tokens = np.array([[5, END, PAD, PAD]])
    logits = np.random.default_rng(0).normal(size=(1, 4, 7)).astype(np.float32)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = log_p[0, 0, 5] + log_p[0, 1, END]
    assert np.isclose(keras.ops.convert_to_numpy(model.likelihood.log_prob(tokens, logits))[0], expected, atol=1e-5)


def test_frequent_words_are_lowercase_words_of_the_requested_length():
    words = frequent_words(500, min_length=3, max_length=8)
    assert len(words) == len(set(words)) == 500
    assert all(re.fullmatch("[a-z]{3,8}", w) for w in words)
    assert {"the", "and", "people"} <= set(words)


def test_word_split_is_disjoint_and_names_its_source():
    data = load_words(400, verbose=False)
    assert isinstance(data, WordData) and len(data.train) == 360 and len(data.test) == 40
    assert not set(data.train) & set(data.test)
    assert data.source == "wordfreq"


def test_novelty_fractions_sum_to_one():
    shares = word_novelty(["cat", "dog", "zzq", "cat"], train=["cat"], known=["cat", "dog"])
    assert shares == {"training word": 0.5, "other real word": 0.25, "new string": 0.25}


def test_text_vae_generates_only_vocabulary_strings_and_reloads_identically(vocabulary, tmp_path):
    model = build_text_vae(vocabulary, embedding_dim=8, units=16, latent_dim=4, word_dropout=0.25, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = vocabulary.encode(frequent_words(200))
    history = model.fit(x, epochs=2, batch_size=50, verbose=0)
    assert set(history.history) >= {"loss", "reconstruction", "kl"}
    z = np.random.default_rng(0).standard_normal((30, 4))
    for temperature in (0.0, 1.0):
        strings = vocabulary.decode(model.sample_tokens(z, temperature=temperature, seed=1))
        assert len(strings) == 30 and all(set(s) <= set(vocabulary.alphabet) for s in strings)
    path = tmp_path / "text_vae.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, TextVAE) and restored.word_dropout.rate == 0.25
    assert np.array_equal(restored.encode(x[:20]), model.encode(x[:20]))
    assert np.array_equal(restored.kl_per_word(x[:20]), model.kl_per_word(x[:20]))
    assert np.array_equal(restored.decode(z), model.decode(z))
    assert np.array_equal(model.decode(z), model.sample_tokens(z, temperature=0.0))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: CharVocabulary(max_length=4).encode(["house"]), ValueError, "1 to 4 characters"),
        (lambda: CharVocabulary(max_length=4).encode([""]), ValueError, "words\\[0\\]"),
        (lambda: CharVocabulary(alphabet="aa"), ValueError, "alphabet"),
        (lambda: CharVocabulary(max_length=0), ValueError, "max_length"),
        (lambda: WordDropout(1.0), ValueError, "rate"),
        (lambda: frequent_words(10, min_length=5, max_length=4), ValueError, "min_length"),
        (lambda: load_words(10, test_fraction=0.0), ValueError, "test_fraction"),
        (lambda: build_text_vae(CharVocabulary(), latent_dim=0), ValueError, "latent_dim"),
        (lambda: build_text_vae(CharVocabulary(), beta=-1.0), ValueError, "beta"),
        (lambda: word_novelty([], [], []), ValueError, "generated"),
        (lambda: build_text_vae(CharVocabulary(max_length=4), latent_dim=2).encode(np.full((1, 5), 99)),
         ValueError, r"x must hold values in \[0, \d+\]"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_text_networks_map_token_ids_to_codes_and_codes_to_next_character_logits():
    encoder = build_text_encoder(vocabulary_size=30, sequence_length=7, embedding_dim=4, units=8, latent_dim=3)
    decoder = build_text_decoder(vocabulary_size=30, sequence_length=7, embedding_dim=4, units=8, latent_dim=3)
    tokens = np.random.default_rng(0).integers(1, 30, size=(5, 7)).astype("int32")
    z_mean, z_log_var = encoder(tokens)
    assert tuple(z_mean.shape) == tuple(z_log_var.shape) == (5, 3)
    assert tuple(decoder([keras.ops.convert_to_tensor(tokens), z_mean]).shape) == (5, 7, 30)
