# On a machine without internet, save MNIST once where you have it
# (np.savez("mnist.npz", x_train=..., y_train=..., x_test=..., y_test=...), the layout of
# keras.datasets.mnist), copy the file over, and load it by path. Here a small stand-in file.
import tempfile

rng = np.random.default_rng(0)
pixels = {split: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for split, n in (("train", 60), ("test", 20))}
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "mnist.npz"
    np.savez(path, x_train=pixels["train"], y_train=rng.integers(0, 10, 60),
             x_test=pixels["test"], y_test=rng.integers(0, 10, 20))
    data = load_mnist(path, layout="flat")
assert data.x_train.shape == (54, 784) and data.x_valid.shape == (6, 784)  # a tenth set aside for validation
assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0

fixed_test_set = binarize(data.x_test, seed=0)  # one binarisation, for every evaluation
batches = DynamicBinarization(data.x_train, batch_size=32, seed=0)  # fresh binary pixels every epoch
assert set(np.unique(fixed_test_set)) <= {0.0, 1.0} and batches[0].shape == (32, 784)
