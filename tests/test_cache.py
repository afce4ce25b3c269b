"""The cache of trained models: what a call is keyed by, what a hit returns, and the random
state after a call."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import random
from pathlib import Path

import keras
import numpy as np
import pytest

from snippets.chapters import cache
from snippets.chapters.cache import cached_training, source_closure, use_model_cache
from snippets.chapters.conditional import train_conditional_vae
from snippets.chapters.config import book_config
from snippets.chapters.convcompare import train_architecture
from snippets.chapters.diagnostics import fit_dense_vae
from snippets.chapters.timing import EpochTimer
from snippets.chapters.training_runs import DenseConfiguration, race_recipes
from snippets.data import binarize
from snippets.models import VAE, build_dense_decoder, build_dense_encoder

CALLS: list[int] = []
SNIPPETS = Path(cache.__file__).resolve().parents[1]


@cached_training
def train_small_vae(x, seed=0, epochs=2, callbacks=()):
    """A 784-8-2 VAE trained on ``x``; every call that trains is logged in ``CALLS``."""
    CALLS.append(seed)
    keras.utils.set_random_seed(seed)
    vae = VAE(
        build_dense_encoder(2, hidden_units=(8,)),
        build_dense_decoder(2, hidden_units=(8,)),
        seed=seed,
    )
    vae.compile(optimizer="adam")
    history = vae.fit(x, batch_size=50, epochs=epochs, verbose=0, callbacks=list(callbacks))
    return vae, history


@pytest.fixture
def digits(mnist_small):
    return binarize(mnist_small.x_train[:200], seed=0)


@pytest.fixture
def folder(tmp_path):
    use_model_cache(tmp_path / "models")
    CALLS.clear()
    yield tmp_path / "models"
    use_model_cache(None)


def entries(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*") if path.is_dir())


def draws() -> tuple:
    """One draw of every global generator a chapter might use next."""
    return (
        np.random.rand(3).tolist(),
        random.random(),
        keras.ops.convert_to_numpy(keras.random.normal((3,))).tolist(),
    )


def test_a_second_call_loads_the_same_model_and_history_without_training(folder, digits):
    trained, trained_history = train_small_vae(digits, seed=1)
    loaded, loaded_history = train_small_vae(digits, seed=1)
    assert CALLS == [1] and loaded is not trained
    for a, b in zip(trained.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        loaded.encoder.predict(digits[:20], verbose=0),
        trained.encoder.predict(digits[:20], verbose=0),
        rtol=1e-6,
    )
    assert loaded_history.history == trained_history.history
    assert loaded_history.epoch == trained_history.epoch == [0, 1]
    assert loaded_history.params == trained_history.params
    assert loaded.history is loaded_history
    assert json.loads((folder / "counts.json").read_text()) == {"trained": 1, "loaded": 1}


def test_a_loaded_model_evaluates_like_the_trained_one(folder, digits):
    """Its loss draws codes from the model's own seed generator, whose state is saved."""
    trained, _ = train_small_vae(digits, seed=2)
    loaded, _ = train_small_vae(digits, seed=2)
    assert trained.evaluate(digits, verbose=0, return_dict=True) == pytest.approx(
        loaded.evaluate(digits, verbose=0, return_dict=True), rel=1e-5
    )


def test_the_entry_is_named_by_function_and_key_and_says_what_was_keyed(folder, digits):
    train_small_vae(digits, seed=1)
    (entry,) = entries(folder)
    assert entry.name.startswith("train_small_vae-") and len(entry.name) == 16 + 16
    assert {path.name for path in entry.iterdir()} == {"model.keras", "seed_states.npz", "history.json", "key.json"}
    key = json.loads((entry / "key.json").read_text())
    assert key["function"].endswith(":train_small_vae")
    assert key["arguments"]["x"]["shape"] == [200, 784]
    assert key["arguments"]["epochs"] == "2" and key["backend"] == keras.backend.backend()
    assert "snippets/models.py" in key["code"]


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"epochs": 1},
        {"x": "one pixel flipped"},
    ],
    ids=["seed", "argument", "array content"],
)
def test_a_changed_seed_argument_or_array_trains_anew(folder, digits, change):
    train_small_vae(digits, seed=1)
    if change.get("x"):
        flipped = digits.copy()
        flipped[0, 0] = 1 - flipped[0, 0]
        change = {"x": flipped}
    train_small_vae(**{"x": digits, "seed": 1, **change})
    assert len(CALLS) == 2 and len(entries(folder)) == 2


def test_a_changed_source_of_an_imported_module_trains_anew(folder, digits, tmp_path, monkeypatch):
    imported = tmp_path / "imported.py"
    imported.write_text("WIDTH = 8\n")
    closure = cache.source_closure
    monkeypatch.setattr(cache, "source_closure", lambda *paths: (*closure(*paths), imported))
    train_small_vae(digits, seed=1)
    train_small_vae(digits, seed=1)
    imported.write_text("WIDTH = 16\n")
    train_small_vae(digits, seed=1)  # this process imported the first version
    cache._file_digest.cache_clear()  # as a new process would read the files
    train_small_vae(digits, seed=1)
    assert CALLS == [1, 1] and len(entries(folder)) == 2


def test_a_changed_source_of_the_function_module_trains_anew(folder, digits, tmp_path):
    module_file = tmp_path / "trainer.py"
    module_file.write_text(
        "from snippets.chapters.cache import cached_training\n"
        "from snippets.models import VAE, build_dense_decoder, build_dense_encoder\n"
        "CALLS = []\n"
        "@cached_training\n"
        "def train(x, seed=0):\n"
        "    CALLS.append(seed)\n"
        "    vae = VAE(build_dense_encoder(2, hidden_units=(4,)), build_dense_decoder(2), seed=seed)\n"
        "    vae.compile(optimizer='adam')\n"
        "    return vae, vae.fit(x, batch_size=100, epochs=1, verbose=0)\n"
    )
    spec = importlib.util.spec_from_file_location("trainer", module_file)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    trainer.train(digits, seed=1)
    trainer.train(digits, seed=1)
    module_file.write_text(module_file.read_text() + "# an edit\n")
    trainer.train(digits, seed=1)  # the code in memory is the code that was keyed
    assert trainer.CALLS == [1]
    cache._file_digest.cache_clear()  # a new process, which imports the edit
    trainer.train(digits, seed=1)
    assert trainer.CALLS == [1, 1] and len(entries(folder)) == 2


def test_the_closure_follows_snippets_imports_transitively_and_only_them():
    closure = {
        path.relative_to(SNIPPETS).as_posix()
        for path in source_closure(SNIPPETS / "chapters" / "conditional.py")
    }
    assert {
        "__init__.py",
        "chapters/__init__.py",
        "chapters/conditional.py",
        "chapters/diagnostics.py",  # imported by conditional
        "models.py",  # imported by diagnostics and by snippets/__init__.py
        "applications/conditional.py",
        "chapters/plotting.py",  # imported by diagnostics only
    } <= closure
    assert "chapters/text.py" not in closure and "chapters/config.py" not in closure


@pytest.mark.parametrize("setting", ["miss", "hit", "off"])
def test_the_draws_after_a_call_are_the_same_for_a_miss_a_hit_and_the_cache_off(
    folder, digits, setting
):
    if setting == "off":
        use_model_cache(None)
    if setting == "hit":
        train_small_vae(digits, seed=3)
    keras.utils.set_random_seed(99)  # a state the call must not leave behind
    train_small_vae(digits, seed=3)
    after = draws()
    keras.utils.set_random_seed(3)
    assert after == draws()
    assert CALLS == [3]


def test_an_uncacheable_call_trains_every_time_and_writes_nothing(folder, digits):
    timer = EpochTimer()
    for _ in range(2):
        train_small_vae(digits, seed=1, callbacks=[timer])
    assert CALLS == [1, 1] and entries(folder) == []
    assert len(timer.epoch_seconds) == 4
    assert json.loads((folder / "counts.json").read_text()) == {"uncacheable": 2}


def test_a_damaged_entry_is_trained_again_and_replaced(folder, digits):
    train_small_vae(digits, seed=1)
    (entry,) = entries(folder)
    (entry / "model.keras").write_bytes(b"not a zip archive")
    with pytest.warns(UserWarning, match="could not be loaded"):
        train_small_vae(digits, seed=1)
    train_small_vae(digits, seed=1)
    assert CALLS == [1, 1] and entries(folder) == [entry]


def test_a_half_written_temporary_folder_is_ignored(folder, digits):
    train_small_vae(digits, seed=1)
    (entry,) = entries(folder)
    staging = folder / f".{entry.name}-interrupted"
    entry.rename(staging)
    (staging / "history.json").unlink()
    train_small_vae(digits, seed=1)
    train_small_vae(digits, seed=1)
    assert CALLS == [1, 1] and entry.is_dir() and staging.is_dir()


def test_a_training_function_without_a_seed_is_refused():
    with pytest.raises(TypeError, match="seed"):

        @cached_training
        def train(x, epochs=1):
            return None, None


def test_with_the_cache_off_every_call_trains(digits):
    use_model_cache(None)
    CALLS.clear()
    train_small_vae(digits, seed=1, epochs=1)
    train_small_vae(digits, seed=1, epochs=1)
    assert CALLS == [1, 1] and cache.model_cache_folder() is None


def test_a_bad_folder_is_named():
    with pytest.raises(TypeError, match="folder"):
        use_model_cache(3)


@dataclasses.dataclass
class OutsideSettings:
    width: int = 8


@pytest.mark.parametrize(
    "value",
    [lambda x: x, EpochTimer(), object(), np.array(["a"]), OutsideSettings()],
    ids=["lambda", "callback", "object", "string array", "dataclass outside snippets"],
)
def test_content_that_cannot_be_read_is_uncacheable(value):
    with pytest.raises(cache.Uncacheable):
        cache.fingerprint(value)


def test_a_package_function_is_keyed_by_name_and_adds_its_module_to_the_code():
    key = cache.call_key(train_small_vae.__wrapped__, {"build": build_dense_encoder})
    assert key["arguments"]["build"] == {"function": "snippets.models:build_dense_encoder"}
    assert "snippets/models.py" in key["code"]


def test_an_epoch_timer_writes_its_seconds_into_the_history(digits):
    _, history = train_small_vae.__wrapped__(digits, seed=0, callbacks=[EpochTimer()])
    assert len(history.history["seconds"]) == 2
    assert all(seconds > 0 for seconds in history.history["seconds"])


def test_the_book_configuration_switches_the_cache_with_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_BOOK_MODEL_CACHE", str(tmp_path / "models"))
    book_config()
    assert cache.model_cache_folder() == tmp_path / "models"
    monkeypatch.setenv("VAE_BOOK_MODEL_CACHE", " ")
    book_config()
    assert cache.model_cache_folder() is None


# --- the book's training functions, with the cache on ---------------------------------


def counts(folder: Path) -> dict[str, int]:
    return json.loads((folder / "counts.json").read_text())


def test_the_race_loaded_reports_the_scores_and_seconds_of_the_race_trained(
    folder, mnist_small
):
    recipes = {"small": DenseConfiguration(hidden_units=8, latent_dim=2, optimizer="adam")}
    valid, test = (binarize(x[:40], seed=1) for x in (mnist_small.x_valid, mnist_small.x_test))
    trained, loaded = (
        race_recipes(recipes, mnist_small.x_train, valid, test, seeds=[0, 1], epochs=2,
                     batch_size=100, iwae_k=5)
        for _ in range(2)
    )
    assert counts(folder) == {"trained": 2, "loaded": 2}
    for name, values in trained.runs.scores["small"].items():
        np.testing.assert_array_equal(loaded.runs.scores["small"][name], values)
    assert (loaded.runs.scores["small"]["seconds_per_epoch"] > 0).all()


def test_an_architecture_loaded_scores_and_times_like_the_one_trained(folder, mnist_small):
    test = binarize(mnist_small.x_test[:40], seed=1)
    trained, loaded = (
        train_architecture(build_dense_encoder, build_dense_decoder, mnist_small.x_train,
                           test, seed=0, epochs=2, batch_size=100, iwae_k=5)
        for _ in range(2)
    )
    assert counts(folder) == {"trained": 1, "loaded": 1}
    assert dataclasses.replace(loaded, vae=None) == dataclasses.replace(trained, vae=None)
    assert trained.seconds_per_epoch > 0


def test_a_conditional_vae_and_a_dense_vae_are_loaded_the_second_time(folder, mnist_small):
    x, labels = mnist_small.x_train, mnist_small.y_train
    for _ in range(2):
        cvae, _ = train_conditional_vae(x, labels, hidden_units=(16,), epochs=1, seed=4)
        vae, _ = fit_dense_vae(x, latent_dim=2, hidden_units=(16,), epochs=1, seed=4)
    assert counts(folder) == {"trained": 2, "loaded": 2}
    assert isinstance(cvae, VAE) and cvae.conditional and not vae.conditional


def test_a_dense_vae_trained_with_a_callback_is_not_stored(folder, mnist_small):
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
    fit_dense_vae(mnist_small.x_train, hidden_units=(16,), epochs=1, callbacks=[stopper])
    assert counts(folder) == {"uncacheable": 1} and entries(folder) == []


def test_an_empty_array_and_a_package_dataclass_are_keyed_by_content():
    empty = cache.fingerprint(np.zeros((0, 784), np.float32))
    assert empty["shape"] == [0, 784]
    small, wide = (
        cache.fingerprint(DenseConfiguration(hidden_units=units, latent_dim=2, optimizer="adam"))
        for units in (8, 16)
    )
    assert small != wide and small["type"].endswith(":DenseConfiguration")


def test_a_model_that_cannot_be_stored_is_returned_with_a_warning(folder, digits, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(cache, "save_entry", full_disk)
    with pytest.warns(UserWarning, match="could not be stored"):
        vae, history = train_small_vae(digits, seed=1)
    assert isinstance(vae, VAE) and history.epoch == [0, 1] and entries(folder) == []


def test_the_key_names_the_libraries_and_settings_that_change_the_numbers():
    key = cache.call_key(train_small_vae.__wrapped__, {"seed": "0"})
    assert {"keras", "numpy", "floatx", "image_data_format", "dtype_policy"} <= set(key)
    if keras.backend.backend() == "jax":
        assert "jaxlib" in key
