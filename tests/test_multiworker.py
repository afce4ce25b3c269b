"""Data-parallel training in worker processes on localhost; a killed worker survived.

Every job is started by the launcher's command line exactly as
``book/scaling/cluster.md`` shows it (``python -m snippets.chapters.multiworker
launch ...``), one OS process per worker. TensorFlow runs
``MultiWorkerMirroredStrategy``; JAX runs ``keras.distribution`` with
``DataParallel`` over both processes' devices. The data and epochs are tiny:
the jobs check agreement and recovery, not learning.

Like tests/test_scaling.py, the module is ``tensorflow_only`` (conftest.py):
the workers choose their own backend, so one run of the suite covers both
engines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from snippets.chapters.multiworker import (
    AtomicBackupAndRestore,
    epoch_batches,
    free_port,
    launch_command,
    local_cluster,
    process_share,
    read_job,
    run_local_job,
    worker_loss_agreement,
)
from snippets.chapters.scaling import max_relative_difference

# One xdist worker runs the whole module (make test: --dist loadfile): jobs run once.
pytestmark = pytest.mark.tensorflow_only

EPOCHS = 4
# Relative tolerance between one process's per-epoch -ELBO and two processes'.
# TensorFlow: each replica draws its own noise for its half of a batch, so the two
# jobs are different Monte Carlo estimates (measured ~1e-3). JAX: the SPMD step draws
# the noise of the whole global batch, so only the order of sums differs.
TOLERANCE = {"tensorflow": 2e-2, "jax": 1e-4}
# Largest absolute difference of any final weight between a job resumed from its
# checkpoint and the same job uninterrupted (same batches, same noise, same sums).
RESUME_TOLERANCE = 1e-4

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed"
)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """One and two worker processes per engine: same seed, global batch, data order."""
    engines = ["tensorflow"] + (["jax"] if importlib.util.find_spec("jax") else [])
    results = {}
    for engine in engines:
        for workers in (1, 2):
            output_dir = tmp_path_factory.mktemp(f"{engine}-{workers}")
            results[engine, workers] = run_local_job(
                engine, workers, output_dir, epochs=EPOCHS
            )
    return results


@pytest.mark.parametrize("engine", ["tensorflow", pytest.param("jax", marks=needs_jax)])
def test_two_worker_processes_follow_the_one_process_trajectory(jobs, engine):
    one, two = jobs[engine, 1]["elbo"], jobs[engine, 2]["elbo"]
    assert np.all(np.isfinite(two)) and two[-1] < two[0]
    assert len(one) == len(two) == EPOCHS
    assert max_relative_difference(two, one) < TOLERANCE[engine]


@pytest.mark.parametrize("engine", ["tensorflow", pytest.param("jax", marks=needs_jax)])
def test_every_worker_reports_the_same_global_loss(jobs, engine):
    """Each worker logs the loss over the whole global batch, not its own share's."""
    chief, other = jobs[engine, 2]["logs"]
    for epoch in map(str, range(EPOCHS)):
        assert chief[epoch]["loss"] == pytest.approx(other[epoch]["loss"], rel=1e-6)
        assert chief[epoch]["loss"] == pytest.approx(
            chief[epoch]["reconstruction"] + chief[epoch]["kl"], rel=1e-4
        )


def test_a_killed_worker_is_restarted_and_the_job_resumes_to_the_uninterrupted_weights(
    jobs, tmp_path
):
    """SIGKILL one worker after the first checkpoint; the launcher restarts the job."""
    job = subprocess.Popen(
        launch_command("tensorflow", 2, tmp_path, epochs=EPOCHS, max_restarts=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metadata, deadline = (
        tmp_path / "backup" / "training_metadata.json",
        time.monotonic() + 300,
    )
    while not (metadata.exists() and json.loads(metadata.read_text())["epoch"] >= 1):
        assert job.poll() is None and time.monotonic() < deadline, (
            "the job ended before its first checkpoint"
        )
        time.sleep(0.01)
    first_attempt = json.loads((tmp_path / "launcher.json").read_text())["attempts"][0]
    os.kill(first_attempt["pids"][1], signal.SIGKILL)
    _, stderr = job.communicate(timeout=600)
    assert job.returncode == 0, stderr[-3000:]

    resumed = read_job(tmp_path)
    attempts = resumed["attempts"]
    assert len(attempts) == 2 and attempts[0]["exit_codes"][1] == -signal.SIGKILL
    writers = [resumed["logs"][0][str(epoch)]["process"] for epoch in range(EPOCHS)]
    assert writers[0] == attempts[0]["pids"][0], "the first epoch is not trained again"
    assert writers[-1] == attempts[1]["pids"][0], (
        "the restarted job finished the training"
    )
    reference = jobs["tensorflow", 2]["weights"]
    assert len(resumed["weights"]) == len(reference)
    assert (
        max(np.max(np.abs(a - b)) for a, b in zip(resumed["weights"], reference))
        < RESUME_TOLERANCE
    )


def test_epoch_batches_depend_on_seed_and_epoch_and_hold_each_example_at_most_once():
    first, again, other = (
        epoch_batches(100, 32, 3, 0),
        epoch_batches(100, 32, 3, 0),
        epoch_batches(100, 32, 4, 0),
    )
    assert (
        first.shape == (3, 32)
        and np.array_equal(first, again)
        and not np.array_equal(first, other)
    )
    assert len(np.unique(first)) == first.size


def test_process_shares_stacked_in_process_order_are_the_global_batches():
    batches = epoch_batches(64, 16, 0, 0)
    shares = [process_share(batches, 2, index) for index in range(2)]
    assert np.array_equal(np.concatenate(shares, axis=1), batches)


def test_the_backup_is_replaced_whole_and_names_weights_that_exist(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    backup = AtomicBackupAndRestore(tmp_path, write=True)
    x = np.ones((8, 3), np.float32)
    model.fit(x, x[:, :2], epochs=2, verbose=0, callbacks=[backup])
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata == {"epoch": 2, "weights": "epoch-2.weights.h5"}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "epoch-2.weights.h5",
        "training_metadata.json",
    ]
    assert AtomicBackupAndRestore(tmp_path, write=False).resume_epoch() == 2


def test_a_reader_never_writes_the_backup(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((8, 3), np.float32)
    model.fit(
        x,
        x[:, :2],
        epochs=1,
        verbose=0,
        callbacks=[AtomicBackupAndRestore(tmp_path / "b", write=False)],
    )
    assert not (tmp_path / "b").exists()  # it saved, to a private folder it removed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: epoch_batches(10, 0, 0, 0),
            "global_batch_size must be an integer >= 1",
        ),
        (
            lambda: epoch_batches(10, 11, 0, 0),
            r"global_batch_size must be <= n_examples \(10\)",
        ),
        (
            lambda: process_share(np.zeros((2, 5)), 2, 0),
            r"global batch \(5\) must be divisible by n_processes \(2\)",
        ),
        (lambda: local_cluster(0, 12345), "n_workers must be an integer >= 1"),
        (lambda: local_cluster(2, 80), r"port must be an integer in \[1024, 65533\]"),
        (lambda: free_port(0), "n_ports must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_named_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_workers_logged_losses_are_called_identical_only_when_they_are():
    same = [{"1": {"loss": 2.5}, "2": {"loss": 2.0}}] * 2
    assert worker_loss_agreement(same) == "are identical"
    apart = [same[0], {"1": {"loss": 2.5}, "2": {"loss": 2.003}}]
    assert worker_loss_agreement(apart) == "differ by at most 3.0e-03 nats"
    for logs in ([same[0]], [same[0], {"1": {"loss": 2.5}}]):
        with pytest.raises(ValueError, match="logs must hold two or more workers"):
            worker_loss_agreement(logs)


def test_the_local_launcher_runs_on_numpy_and_never_imports_tensorflow(
    monkeypatch, tmp_path
):
    """The launcher only starts and watches the workers: ``run_local_job`` starts it on
    Keras's NumPy backend, under which its module imports no TensorFlow."""
    started = {}

    def record_launch(command, **options):
        started.update(options["env"])
        return subprocess.CompletedProcess(command, 1, "", "launch recorded")

    monkeypatch.setattr(subprocess, "run", record_launch)
    with pytest.raises(RuntimeError, match="launch recorded"):
        run_local_job("tensorflow", 2, tmp_path)
    monkeypatch.undo()
    assert started["KERAS_BACKEND"] == "numpy"
    probe = (
        "import sys, snippets.chapters.multiworker; print('tensorflow' in sys.modules)"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], env=started, capture_output=True, text=True
    )
    assert imported.stdout.strip() == "False", imported.stderr[-2000:]
