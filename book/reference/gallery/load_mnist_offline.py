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
    images = rng.integers(0, 256, (80, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 80)
    np.savez(path, x_train=images[:60], y_train=labels[:60],
             x_test=images[60:], y_test=labels[60:])
    data = load_mnist(path)  # pixels in [0, 1]; a tenth of x_train set aside as x_valid

fixed_test_set = binarize(data.x_test, seed=0)  # one binarisation, for every evaluation
batches = DynamicBinarization(data.x_train, batch_size=32)  # fresh pixels every epoch
print(data.x_train.shape, data.x_valid.shape, fixed_test_set.shape, batches[0].shape)
