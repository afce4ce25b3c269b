"""KL warm-up sets the schedule it states; the NaN guard raises."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from snippets.callbacks import KLWarmup, warmup_beta
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


def test_warmup_schedule_is_linear_then_flat():
    values = [warmup_beta(epoch, warmup_epochs=4) for epoch in range(6)]
    assert values == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_beta(0, warmup_epochs=2, final_beta=4.0) == 2.0


def test_warmup_rejects_bad_arguments():
    with pytest.raises(ValueError, match="warmup_epochs must be an integer >= 1"):
        warmup_beta(0, warmup_epochs=0)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        warmup_beta(-1, warmup_epochs=3)
    with pytest.raises(ValueError, match=r"final_beta must be a finite number in \[0, inf\)"):
        KLWarmup(3, final_beta=float("nan"))
    for arguments in ({}, {"warmup_epochs": 2, "warmup_steps": 10}):
        with pytest.raises(ValueError, match="give exactly one of warmup_epochs"):
            KLWarmup(**arguments)
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 1"):
        KLWarmup(warmup_steps=0)


def test_warmup_callback_changes_the_kl_weight_each_epoch(mnist_small):
    vae = VAE(build_dense_encoder(hidden_units=(32,)), build_dense_decoder(hidden_units=(32,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(mnist_small.x_train, epochs=4, batch_size=100, verbose=0,
                      callbacks=[KLWarmup(warmup_epochs=3)])
    assert np.allclose(history.history["beta"], [1 / 3, 2 / 3, 1.0, 1.0])
    assert float(vae.beta.numpy()) == 1.0


class BatchTerms(keras.callbacks.Callback):
    """Each batch's KL weight and its own loss terms (Keras logs running means over the epoch)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.sums, self.count = None, 0

    def on_train_batch_end(self, batch, logs=None):
        means = np.array([logs["loss"], logs["reconstruction"], logs["kl"]], dtype=np.float64)
        sums = means * (self.count + 1)
        this_batch = sums if self.sums is None else sums - self.sums
        self.sums, self.count = sums, self.count + 1
        self.batches.append((float(self.model.beta.numpy()), *this_batch))


def test_a_per_step_warm_up_starts_at_zero_and_weights_each_batch_by_its_own_step(mnist_small):
    """beta = min(1, t / n) at step t across epochs, and each batch's loss is reconstruction + beta * KL."""
    vae = VAE(build_dense_encoder(hidden_units=(16,)), build_dense_decoder(hidden_units=(16,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    terms = BatchTerms()
    terms.batches = []
    history = vae.fit(mnist_small.x_train[:400], epochs=3, batch_size=100, verbose=0,
                      callbacks=[KLWarmup(warmup_steps=6), terms])
    betas = [beta for beta, *_ in terms.batches]
    assert np.allclose(betas, [0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1, 1, 1, 1, 1, 1])
    for beta, loss, reconstruction, kl in terms.batches:
        assert loss == pytest.approx(reconstruction + beta * kl, rel=1e-4)
    assert np.allclose(history.history["beta"], [3 / 6, 1.0, 1.0])


def test_a_per_step_warm_up_refuses_data_of_unknown_length_before_training(mnist_small):
    vae = VAE(build_dense_encoder(hidden_units=(16,)), build_dense_decoder(hidden_units=(16,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    warmup = KLWarmup(warmup_steps=10)
    warmup.set_model(vae)
    warmup.set_params({"epochs": 1, "steps": None, "verbose": 0})
    with pytest.raises(ValueError, match="needs the number of steps per epoch"):
        warmup.on_train_begin()
