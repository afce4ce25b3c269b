# Without internet: save MNIST once where you have it, in the layout of keras.datasets
# (x_train, y_train, x_test, y_test), copy the file over and load it by path.
# Here a small stand-in file of random pixels.
import tempfile
from pathlib import Path

import numpy as np

from snippets import DynamicBinarization, binarize, load_mnist

rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 60),
             x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 20))
    data = load_mnist(path)  # pixels scaled to [0, 1]; a tenth of x_train set aside as x_valid

fixed_test_set = binarize(data.x_test, seed=0)  # one binarisation, for every evaluation
batches = DynamicBinarization(data.x_train, batch_size=32, seed=0)  # fresh binary pixels every epoch
print(data.x_train.shape, data.x_valid.shape, fixed_test_set.shape, batches[0].shape)
