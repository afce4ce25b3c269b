"""The character-level VAE: vocabulary, word dropout, words, generation, saving, errors."""

from __future__ import annotations

import itertools
import json
import re

import keras
import numpy as np
import pytest

from snippets.chapters.cache import use_model_cache
from snippets.chapters.stopping import StoppingRule, hold_back
from snippets.chapters.text import (
    END,
    PAD,
    START,
    UNK,
    CharLanguageModel,
    CharVocabulary,
    TextScores,
    TextVAE,
    TextVariant,
    UnknownCharacterError,
    VariantRuns,
    WordData,
    WordDropout,
    build_char_language_model,
    build_text_decoder,
    build_text_encoder,
    build_text_vae,
    compile_text_model,
    frequent_words,
    load_words,
    restart,
    run_text_variants,
    shared_text_model,
    shift_right,
    text_log_weight_statistics,
    train_text_run,
    word_novelty,
)
from snippets.chapters.text_report import (
    KL_FLOOR,
    code_use_finding,
    collapse_finding,
    comparison_table,
    findings,
    gain_finding,
    plot_kl_per_unit,
    plot_text_runs,
    ragged_mean,
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
        (lambda: TextVariant(latent=False, warmup_epochs=2), ValueError, "language model"),
        (lambda: TextVariant(warmup_epochs=-1), ValueError, "warmup_epochs must be an integer >= 0"),
        (lambda: TextVariant(warmup_epochs=2.0), ValueError, "warmup_epochs must be an integer >= 0"),
        (lambda: TextVariant(word_dropout=1.5), ValueError, "word_dropout"),
        (lambda: text_log_weight_statistics(build_text_vae(CharVocabulary(max_length=4), latent_dim=2),
                                            np.full((1, 5), 4), 0), ValueError, "k"),
        (lambda: build_char_language_model(CharVocabulary(max_length=4), units=4).log_likelihood(np.full((1, 5), 99)),
         ValueError, "tokens"),
        (lambda: build_text_vae(CharVocabulary(max_length=4), latent_dim=2).log_likelihood(
            np.full((3, 5), 4), np.zeros((1, 2))), ValueError, "tokens has 3, z has 1"),
        (lambda: fake_runs().per_seed("bleu"), ValueError, "metric"),
        (lambda: findings({"a": fake_runs()}, baseline="a", reference="lm"), KeyError, "reference"),
        (lambda: comparison_table({"a": fake_runs()}, reference="lm"), KeyError, "reference"),
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


def fake_runs(nll=(15.0, 15.2, 15.1), kl=(0.1, 0.2, 0.3)) -> VariantRuns:
    """Runs of a variant over three seeds, without a model."""
    scores = [TextScores(nll=n, kl=k, active_units=2) for n, k in zip(nll, kl)]
    return VariantRuns(scores=scores, histories=[{"kl": [0.5, float(k)]} for k in kl], records=[], model=None)


def test_the_bowman_decoder_reads_the_code_only_through_its_initial_state():
    """Zero the map from z to the initial state: Bowman's decoder no longer depends on z, the other one still does."""
    tokens = np.random.default_rng(0).integers(4, 30, size=(4, 7)).astype("int32")
    z_a, z_b = np.random.default_rng(1).standard_normal((2, 4, 3)).astype("float32")
    for every_step, depends in ((False, False), (True, True)):
        decoder = build_text_decoder(30, 7, embedding_dim=4, units=8, latent_dim=3, code_at_every_step=every_step)
        layer = decoder.get_layer("initial_state")
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        a, b = (keras.ops.convert_to_numpy(decoder([tokens, z])) for z in (z_a, z_b))
        assert (not np.allclose(a, b)) == depends
    assert build_text_vae(CharVocabulary(), units=8, latent_dim=3).decoder.get_layer("code_per_step") is not None


def prior_posterior_vae_ignoring_its_code(vocabulary) -> TextVAE:
    """A Bowman-style TextVAE whose q(z|x) is the prior and whose decoder's state does not depend on z."""
    model = build_text_vae(vocabulary, embedding_dim=4, units=8, latent_dim=3, code_at_every_step=False, seed=0)
    for layer in (model.encoder.get_layer("z_mean"), model.encoder.get_layer("z_log_var"),
                  model.decoder.get_layer("initial_state")):
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    return model


def test_the_text_iwae_is_exact_when_the_posterior_is_the_prior_and_the_decoder_ignores_the_code(vocabulary):
    """Then every log-weight is log p(x): bound, ELBO and the language model's exact likelihood coincide."""
    model = prior_posterior_vae_ignoring_its_code(vocabulary)
    x = vocabulary.encode(WORDS)
    exact = CharLanguageModel(model.decoder).log_likelihood(x)
    summary = text_log_weight_statistics(model, x, 7, seed=3)
    assert np.allclose(summary.iwae, exact, atol=1e-4) and np.allclose(summary.elbo, exact, atol=1e-4)
    assert np.all(exact < 0)


def test_the_text_iwae_is_above_the_elbo_and_equals_it_for_one_code(vocabulary):
    keras.utils.set_random_seed(0)
    model = build_text_vae(vocabulary, embedding_dim=4, units=8, latent_dim=3, code_at_every_step=False, seed=0)
    x = vocabulary.encode(WORDS)
    many = text_log_weight_statistics(model, x, 20, seed=1)
    assert many.k == 20 and np.all(many.iwae >= many.elbo - 1e-9) and np.any(many.iwae > many.elbo + 1e-3)
    one = text_log_weight_statistics(model, x, 1, seed=1)
    assert np.allclose(one.iwae, one.elbo)
    chunked = text_log_weight_statistics(model, x, 20, seed=1, batch_size=3 * len(x))  # 3 draws per decoder call
    assert np.allclose(chunked.iwae, many.iwae, atol=1e-5) and np.allclose(chunked.elbo, many.elbo, atol=1e-5)


def test_the_language_model_learns_and_its_words_are_a_distribution(tmp_path):
    """Training lowers the exact NLL; the probabilities of all words over a two-letter alphabet sum to at most 1."""
    vocabulary = CharVocabulary(alphabet="ab", max_length=3)
    words = ["".join(letters) for n in (1, 2, 3) for letters in itertools.product("ab", repeat=n)]
    assert len(set(words)) == 2 + 4 + 8
    keras.utils.set_random_seed(0)
    model = build_char_language_model(vocabulary, embedding_dim=4, units=8)
    before = np.exp(model.log_likelihood(vocabulary.encode(words)))
    model.compile(optimizer=keras.optimizers.Adam(3e-2))
    data = vocabulary.encode(["ab", "abb", "a"] * 50)
    start = -model.log_likelihood(data).mean()
    model.fit(data, epochs=3, batch_size=30, verbose=0)
    after = np.exp(model.log_likelihood(vocabulary.encode(words)))
    assert -model.log_likelihood(data).mean() < start - 1.0
    assert 0 < before.sum() <= 1 + 1e-6 and 0 < after.sum() <= 1 + 1e-6
    assert after[words.index("ab")] > before[words.index("ab")]
    model.save(tmp_path / "lm.keras")
    restored = keras.saving.load_model(tmp_path / "lm.keras", safe_mode=True)
    assert np.array_equal(restored.log_likelihood(data[:5]), model.log_likelihood(data[:5]))


@pytest.fixture(scope="module")
def warmup_runs(vocabulary):
    x = vocabulary.encode(frequent_words(120))
    variant = TextVariant(warmup_epochs=2, word_dropout=0.25)
    options = dict(stopping=StoppingRule(max_epochs=4, patience=1, min_delta=0.0, start_from_epoch=1),
                   units=8, latent_dim=3, k=4, batch_size=40)
    return run_text_variants({"both": variant}, vocabulary, x, x[:30], seeds=[1, 2], **options)["both"]


def test_variants_sharing_a_compiled_model_give_the_runs_they_give_alone(vocabulary):
    """Sharing the traced training step changes nothing: each variant keeps its own rate, weights and scores."""
    x = vocabulary.encode(frequent_words(80))
    options = dict(seeds=[3], stopping=StoppingRule(max_epochs=4, patience=1, start_from_epoch=1),
                   units=6, latent_dim=2, k=3, batch_size=40)
    variants = {"plain": TextVariant(), "dropout": TextVariant(word_dropout=0.4), "warm": TextVariant(warmup_epochs=1)}
    shared = run_text_variants(variants, vocabulary, x, x[:20], **options)
    shared_text_model.cache_clear()  # the run alone compiles its model afresh
    alone = run_text_variants({"dropout": variants["dropout"]}, vocabulary, x, x[:20], **options)["dropout"]
    assert shared["dropout"].scores == alone.scores and shared["dropout"].histories == alone.histories
    assert shared["plain"].scores != shared["dropout"].scores
    models = [runs.model for runs in shared.values()]
    assert len({id(model) for model in models}) == 3
    as_numpy = keras.ops.convert_to_numpy
    assert [float(as_numpy(m.word_dropout.hidden_share)) for m in models] == pytest.approx([0.0, 0.4, 0.0])
    assert all(np.array_equal(as_numpy(a), as_numpy(b)) for a, b in zip(shared["dropout"].model.variables,
                                                                       alone.model.variables))


def test_runs_loaded_from_the_model_cache_score_and_stop_as_the_trained_ones(vocabulary, tmp_path):
    x = vocabulary.encode(frequent_words(80))
    options = dict(seeds=[0, 1], stopping=StoppingRule(max_epochs=3, patience=1, start_from_epoch=1),
                   units=6, latent_dim=2, k=3, batch_size=40)
    variants = {"warm": TextVariant(warmup_epochs=1, word_dropout=0.2), "lm": TextVariant(latent=False)}
    use_model_cache(tmp_path)
    try:
        trained = run_text_variants(variants, vocabulary, x, x[:20], **options)
        loaded = run_text_variants(variants, vocabulary, x, x[:20], **options)
    finally:
        use_model_cache(None)
    assert json.loads((tmp_path / "counts.json").read_text()) == {"trained": 4, "loaded": 4}
    for name in variants:
        assert loaded[name].scores == trained[name].scores and loaded[name].records == trained[name].records
        assert type(loaded[name].model) is type(trained[name].model)


def test_the_comparison_compiles_its_training_step_with_xla_except_under_pytorch(vocabulary):
    """Under JAX the alternative would be eager training; under PyTorch, XLA would mean a slow torch.compile."""
    model, _ = compile_text_model(TextVariant(), vocabulary, units=4, latent_dim=2, learning_rate=1e-2)
    assert model.jit_compile == (keras.backend.backend() != "torch")


def test_restart_puts_a_trained_model_back_in_the_state_of_a_fresh_one(vocabulary):
    """Weights, KL weight and the random layers' seed states are the fresh model's; the optimizer starts over."""
    variant = TextVariant(warmup_epochs=1, word_dropout=0.25)
    model = variant.build(vocabulary, units=8, latent_dim=3, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(model.trainable_variables)
    start = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    model.fit(vocabulary.encode(frequent_words(80)), epochs=1, batch_size=40, verbose=0)
    fresh = variant.build(vocabulary, units=8, latent_dim=3, seed=5)
    restart(model, fresh, start)
    assert [v.shape for v in model.variables] == [v.shape for v in fresh.variables]
    assert any("seed_generator_state" in v.path for v in model.variables) and any(v.path == "beta" for v in model.variables)
    as_numpy = keras.ops.convert_to_numpy
    assert all(np.array_equal(as_numpy(a), as_numpy(b)) for a, b in zip(model.variables, fresh.variables))
    assert all(np.array_equal(as_numpy(a), b) for a, b in zip(model.optimizer.variables, start))
    with pytest.raises(ValueError, match="fresh"):
        restart(model, TextVariant().build(vocabulary, units=4, latent_dim=3), start)


def test_each_seed_gives_its_own_run(warmup_runs):
    assert len(warmup_runs.scores) == len(warmup_runs.histories) == 2
    assert warmup_runs.scores[0] != warmup_runs.scores[1]
    assert all(np.isfinite(score.nll) and score.kl >= 0 for score in warmup_runs.scores)


def test_the_kl_per_unit_adds_up_to_the_kl_and_is_sorted_from_the_largest(warmup_runs):
    for score in warmup_runs.scores:
        assert len(score.kl_per_unit) == 3 and min(score.kl_per_unit) >= 0
        assert sum(score.kl_per_unit) == pytest.approx(score.kl)
    per_unit = warmup_runs.kl_per_unit()
    assert per_unit.shape == (2, 3) and np.all(np.diff(per_unit, axis=1) <= 0)


def test_the_warm_up_rises_at_every_step_and_the_epochs_after_it_train_at_beta_one(warmup_runs):
    """3 steps an epoch, a warm-up of 2 epochs: beta = t / 6 at step t, logged at each epoch's last step."""
    for history in warmup_runs.histories:
        assert np.allclose(history["beta"][:3], [2 / 6, 5 / 6, 1.0]) and set(history["beta"][2:]) == {1.0}
    assert warmup_runs.warmup_epochs == 2
    assert float(keras.ops.convert_to_numpy(warmup_runs.model.beta)) == 1.0
    assert float(keras.ops.convert_to_numpy(TextVariant().build(CharVocabulary(), units=4, latent_dim=2).beta)) == 1.0


def test_findings_pair_runs_seed_by_seed_and_count_the_verdicts():
    runs = {
        "lm": fake_runs(nll=(15.0, 15.2, 15.1), kl=(0.0, 0.0, 0.0)),
        "worse": fake_runs(nll=(15.5, 15.7, 15.6)),  # 0.5 above the language model on every seed
        "noisy": fake_runs(nll=(14.0, 16.0, 15.1)),
    }
    values = findings(runs, baseline="noisy", reference="lm")
    assert values["nll_worse_vs_lm"] == pytest.approx(0.5) and values["nll_worse_vs_lm_se"] == pytest.approx(0.0)
    assert values["nll_worse_vs_lm_word"] == "clearly higher"
    assert values["nll_noisy_vs_lm_word"] == "not clearly different from zero"
    assert (values["vaes_higher"], values["vaes_level"], values["vaes_lower"], values["n_vaes"]) == (1, 1, 0, 2)
    assert "nll_lm_vs_lm" not in values and "kl_noisy_vs_noisy" not in values
    assert values["kl_worse"] == pytest.approx(0.2) and isinstance(values["active_units_lm"], float)
    assert values["nll_detectable"] == values["nll_worse_vs_noisy_detectable"] > 0
    assert values["n_collapsed"] == 2 and values["collapse_finding"].startswith("all 2 VAEs have collapsed")
    table = comparison_table(runs, reference="lm")
    assert list(table.index) == ["lm", "worse", "noisy"] and table.iloc[0, 1] == "0.00 ± 0.00"


def test_each_text_run_keeps_the_weights_of_its_best_held_back_epoch_after_the_warm_up(vocabulary):
    x = vocabulary.encode(frequent_words(120))
    rule = StoppingRule(max_epochs=5, patience=1, min_delta=0.0, held_back=0.2, start_from_epoch=2)
    # the language model, whose held-back loss is exact: the restored weights reproduce it
    runs = run_text_variants({"lm": TextVariant(latent=False)}, vocabulary, x, x[:20], seeds=[0, 1],
                             stopping=rule, units=6, latent_dim=2, k=3, batch_size=40)["lm"]
    assert len(runs.records) == len(runs.histories) == 2
    for record, history in zip(runs.records, runs.histories):
        assert rule.start_from_epoch < record.best_epoch <= record.epochs <= rule.max_epochs
        assert record.val_loss == pytest.approx(history["val_loss"])
    # the last seed's model holds the weights of its best epoch
    _, held = hold_back(x, rule.held_back, seed=1)
    runs.model.compile(optimizer="adam")
    assert runs.model.evaluate(held, batch_size=40, verbose=0) == pytest.approx(
        runs.records[-1].val_loss[runs.records[-1].best_epoch - 1], rel=1e-4)


def test_a_single_run_names_its_bad_arguments(vocabulary):
    x = vocabulary.encode(frequent_words(40))
    options = dict(seed=0, alphabet=vocabulary.alphabet, max_length=vocabulary.max_length,
                   stopping=StoppingRule(max_epochs=3, patience=1), units=4, latent_dim=2, batch_size=20,
                   learning_rate=1e-2, jit_compile=None)
    for call, error, match in [
        (lambda: train_text_run("plain", x, x, **options), TypeError, "variant must be a TextVariant"),
        (lambda: train_text_run(TextVariant(), x[:0], x, **options), ValueError, "x_fit"),
        (lambda: train_text_run(TextVariant(), x, x[:, :4], **options), ValueError, "x_held"),
        (lambda: train_text_run(TextVariant(), x, x, **{**options, "batch_size": 0}), ValueError, "batch_size"),
        (lambda: run_text_variants({"plain": TextVariant()}, object(), x, x, seeds=[0],
                                   stopping=options["stopping"]), TypeError, "vocabulary must be a CharVocabulary"),
    ]:
        with pytest.raises(error, match=match):
            call()


@pytest.mark.parametrize(("stopping", "error", "name"), [
    (StoppingRule(max_epochs=4, patience=2), ValueError, "max_epochs=4 leaves 'warm', watched after epoch 2"),
    (None, TypeError, "stopping"),
])
def test_the_comparison_refuses_a_rule_that_could_not_stop_after_a_warm_up(vocabulary, stopping, error, name):
    x = vocabulary.encode(frequent_words(40))
    with pytest.raises(error, match=name):
        run_text_variants({"plain": TextVariant(), "warm": TextVariant(warmup_epochs=2)}, vocabulary, x, x,
                          seeds=[0], stopping=stopping)


def test_a_longer_warm_up_is_watched_only_after_it_ends(vocabulary):
    """The rule starts at epoch 1 for every model, and after its own warm-up for a model with a longer one."""
    x = vocabulary.encode(frequent_words(80))
    rule = StoppingRule(max_epochs=5, patience=1, min_delta=100.0, start_from_epoch=1)
    variants = {"plain": TextVariant(), "long": TextVariant(warmup_epochs=3)}
    runs = run_text_variants(variants, vocabulary, x, x[:20], seeds=[0], stopping=rule, units=6, latent_dim=2,
                             k=3, batch_size=40)
    # a margin no epoch can beat: each run stops one epoch after the first it watches
    assert [runs[name].records[0].epochs for name in variants] == [3, 5]
    assert [runs[name].records[0].best_epoch for name in variants] == [2, 4]


def test_a_ragged_mean_averages_each_epoch_over_the_runs_that_reached_it():
    assert np.allclose(ragged_mean([[1.0, 2.0, 3.0], [3.0, 4.0]]), [2.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="curves"):
        ragged_mean([[1.0], []])


def test_the_collapse_findings_follow_the_kl_against_one_bit():
    assert collapse_finding([], 3).startswith("none of the 3 VAEs")
    assert collapse_finding(["a"], 3).startswith("1 of the 3 VAEs (a) have collapsed")
    with pytest.raises(ValueError, match="n_vaes"):
        collapse_finding(["a", "b"], 1)
    assert code_use_finding(0.2).startswith("it has collapsed") and code_use_finding(2.0).startswith("its KL, an upper bound")


def test_the_runs_figure_shows_every_seed_and_a_curve_per_model_with_a_kl():
    warm = VariantRuns(fake_runs().scores, [{"kl": [0.5, 0.2, 0.1]}] * 3, [], None, warmup_epochs=1)
    runs = {"vae": fake_runs(), "warm": warm, "also warm": warm,
            "lm": VariantRuns(fake_runs().scores, [{"loss": [1.0, 0.5]}] * 3, [], None)}
    curves, scatter = plot_text_runs(runs).axes
    assert len(curves.lines) == 4  # three VAEs' KL and one line for their one warm-up length
    assert [len(points.get_offsets()) for points in scatter.collections] == [3, 3, 3, 3]


def test_the_kl_per_unit_figure_has_a_curve_per_vae():
    scores = [TextScores(nll=15.0, kl=0.3, active_units=1, kl_per_unit=(0.1, 0.2, -1e-9)) for _ in range(2)]
    runs = {"vae": VariantRuns(scores, [], [], None), "lm": fake_runs()}
    (ax,) = plot_kl_per_unit(runs).axes
    assert len(ax.lines) == 1 and np.allclose(ax.lines[0].get_ydata(), [0.2, 0.1, KL_FLOOR])


def test_a_gain_over_the_language_model_is_weighed_against_the_kl():
    """Clearly below the language model on every seed; only a gain clearly above the KL points to the regularisation."""
    runs = {
        "lm": fake_runs(nll=(15.0, 15.2, 15.1), kl=(0.0, 0.0, 0.0)),
        "small kl": fake_runs(nll=(14.5, 14.7, 14.6), kl=(0.1, 0.11, 0.09)),
        "large kl": fake_runs(nll=(14.9, 15.1, 15.0), kl=(2.0, 2.1, 1.9)),
        "as large": fake_runs(nll=(14.5, 14.7, 14.6), kl=(0.3, 0.5, 0.7)),
        "level": fake_runs(nll=(14.0, 16.0, 15.1)),
    }
    finding = gain_finding(runs, reference="lm")
    assert finding.startswith("“small kl” gains 0.50 nats per word with a KL of 0.100 nats, clearly more than")
    assert "“large kl” gains 0.10 nats per word with a KL of 2.000 nats, not clearly more" in finding
    assert "“as large” gains 0.50 nats per word with a KL of 0.500 nats, not clearly more" in finding
    assert "level" not in finding
    assert gain_finding({"lm": runs["lm"], "level": runs["level"]}, reference="lm").startswith("no VAE")
    with pytest.raises(KeyError, match="reference"):
        gain_finding(runs, reference="none")
