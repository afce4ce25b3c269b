"""Training callbacks: their settings, early stopping, resuming after an interruption,
reloading the best checkpoint; and the legacy Lambda pattern failing to reload."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.chapters.broken import broken_lambda_sampling_encoder, legacy_sampling
from snippets.chapters.interruption import InterruptAfter, TrainingInterrupted
from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.training import training_callbacks


def tiny_vae() -> VAE:
    vae = VAE(build_dense_encoder(hidden_units=(16,)), build_dense_decoder(hidden_units=(16,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae(np.zeros((1, 784), "float32"))  # BackupAndRestore needs a built model
    return vae


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_callback_list_holds_early_stopping_checkpoint_and_backup_with_the_settings_asked(tmp_path):
    stop, checkpoint, backup = training_callbacks(tmp_path, patience=3, monitor="val_kl")
    assert isinstance(stop, keras.callbacks.EarlyStopping)
    assert (stop.monitor, stop.patience, stop.restore_best_weights) == ("val_kl", 3, True)
    assert isinstance(checkpoint, keras.callbacks.ModelCheckpoint)
    assert checkpoint.filepath == str(tmp_path / "best.keras")
    assert (checkpoint.monitor, checkpoint.save_best_only) == ("val_kl", True)
    # Every quantity a VAE logs is minimised, whatever its name says (Keras guesses "max" for val_kl).
    assert stop.mode == checkpoint.mode == "min"
    assert isinstance(backup, keras.callbacks.BackupAndRestore)
    assert backup.backup_dir == str(tmp_path / "backup")


def test_callback_list_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="patience must be an integer >= 1"):
        training_callbacks(tmp_path, patience=0)
    with pytest.raises(ValueError, match="monitor must name a logged quantity"):
        training_callbacks(tmp_path, monitor="")
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        InterruptAfter(0)


def test_early_stopping_leaves_the_weights_of_the_best_validation_epoch(tmp_path):
    # Validation targets are the negated training targets: as the fit improves,
    # the validation loss rises after the first epoch, so patience 1 stops at epoch 2.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    recorder = WeightRecorder()
    history = model.fit(x, y, validation_data=(x, -y), epochs=10, batch_size=16, verbose=0,
                        callbacks=[recorder, *training_callbacks(tmp_path, patience=1)])
    val_loss = history.history["val_loss"]
    assert len(val_loss) < 10 and val_loss[-1] > min(val_loss)
    best = int(np.argmin(val_loss))
    for restored, recorded in zip(model.get_weights(), recorder.weights[best]):
        np.testing.assert_array_equal(restored, recorded)


def test_an_interrupted_fit_resumes_from_the_epoch_where_it_stopped(mnist_small, tmp_path):
    x = mnist_small.x_train[:200]
    vae = tiny_vae()
    interrupt = InterruptAfter(2)
    with pytest.raises(TrainingInterrupted, match="after 2 epochs"):
        vae.fit(x, epochs=5, batch_size=50, verbose=0, validation_data=mnist_small.x_test,
                callbacks=[interrupt, *training_callbacks(tmp_path)])
    assert interrupt.finished_epochs == [0, 1]
    assert (tmp_path / "backup").is_dir()

    resumed = tiny_vae()  # a fresh process would rebuild the model the same way
    history = resumed.fit(x, epochs=5, batch_size=50, verbose=0, validation_data=mnist_small.x_test,
                          callbacks=training_callbacks(tmp_path, patience=10))
    assert history.epoch == [2, 3, 4]
    assert len(interrupt.finished_epochs) + len(history.epoch) == 5
    assert not (tmp_path / "backup").exists()  # a finished run deletes its backup


def test_the_best_checkpoint_reloads_safely_and_matches_the_restored_model(mnist_small, tmp_path):
    vae = tiny_vae()
    vae.fit(mnist_small.x_train[:200], epochs=3, batch_size=50, verbose=0,
            validation_data=mnist_small.x_test, callbacks=training_callbacks(tmp_path, patience=1))
    best = keras.saving.load_model(tmp_path / "best.keras", safe_mode=True)
    assert isinstance(best, VAE)
    x = mnist_small.x_test[:20]
    np.testing.assert_array_equal(best.encode(x), vae.encode(x))
    np.testing.assert_array_equal(best.reconstruct(x), vae.reconstruct(x))


@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
@pytest.mark.parametrize("python_lambda, error", [(False, TypeError), (True, ValueError)])
def test_a_lambda_sampling_layer_cannot_be_reloaded_with_safe_mode(tmp_path, python_lambda, error):
    encoder = broken_lambda_sampling_encoder(python_lambda=python_lambda)
    assert tuple(encoder.output.shape) == (None, 2)
    path = tmp_path / "lambda.keras"
    encoder.save(path)
    with pytest.raises(error):
        keras.saving.load_model(path, safe_mode=True)


def test_a_lambda_around_a_registered_function_does_reload_with_safe_mode(tmp_path):
    """What the porting chapter says: only a Python ``lambda`` or an unregistered
    function breaks reloading; registering the function is enough."""

    @keras.saving.register_keras_serializable(package="test_registered_lambda")
    def registered_double(x):
        return 2.0 * x

    inputs = keras.Input(shape=(3,))
    doubled = keras.layers.Lambda(registered_double, output_shape=(3,))(inputs)
    keras.Model(inputs, doubled).save(tmp_path / "registered.keras")
    reloaded = keras.saving.load_model(tmp_path / "registered.keras", safe_mode=True)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x)), 2.0 * x)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_the_sampling_layer_version_reloads_with_safe_mode(tmp_path):
    vae = tiny_vae()
    vae.save(tmp_path / "vae.keras")
    assert isinstance(keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True), VAE)


def test_legacy_sampling_draws_from_the_posterior_it_is_given():
    """The Lambda pattern's maths is right; only its saving is broken."""
    z_mean = np.full((20_000, 2), [1.0, -2.0], np.float32)
    z_log_var = np.full((20_000, 2), [0.0, np.log(0.25)], np.float32)
    z = keras.ops.convert_to_numpy(legacy_sampling([z_mean, z_log_var]))
    assert np.allclose(z.mean(axis=0), [1.0, -2.0], atol=0.03)
    assert np.allclose(z.var(axis=0), [1.0, 0.25], rtol=0.05)
