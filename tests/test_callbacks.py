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


def test_warmup_callback_changes_the_kl_weight_each_epoch(mnist_small):
    vae = VAE(build_dense_encoder(hidden_units=(32,)), build_dense_decoder(hidden_units=(32,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(mnist_small.x_train, epochs=4, batch_size=100, verbose=0,
                      callbacks=[KLWarmup(warmup_epochs=3)])
    assert np.allclose(history.history["beta"], [1 / 3, 2 / 3, 1.0, 1.0])
    assert float(vae.beta.numpy()) == 1.0
