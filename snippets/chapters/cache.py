"""A cache of trained models, so that a chapter rebuilt with unchanged code, data and
settings loads its models instead of training them again.

:func:`cached_training` decorates a function that builds, trains and returns
``(model, history)``. With the cache on (:func:`use_model_cache`, a folder; off by
default), a call is looked up under a key, the SHA-256 of:

- the function's module and qualified name;
- every argument, defaults applied, fingerprinted by content: NumPy arrays by dtype,
  shape and the SHA-256 of their bytes; numbers, strings, booleans and ``None`` by
  ``repr``; tuples, lists and dicts element by element; dataclasses and named tuples
  of ``snippets`` by type and fields; its module-level functions by
  ``module:qualname``;
- the package's code that the call can run: the source of the function's module, of
  the module of every function passed as an argument, and of every ``snippets``
  module these import, transitively (editing a chapter module the function never
  imports keeps its models), each file as it was when the process first read it,
  which is when the training function was defined: the code that trains is the code
  the process imported, whatever the file holds after an edit;
- the versions of Keras, NumPy and the backend's libraries, and Keras's float type,
  image layout and dtype policy, because weights trained under one are not the
  numbers another would have trained.

An argument of any other kind (a callback object, a lambda, a Keras object, a
dataclass defined outside the package) makes the call *uncacheable*: it trains
exactly as without the decorator and writes nothing.

An entry is the folder ``{qualname}-{key[:16]}`` holding ``model.keras`` (reloaded with
``safe_mode=True``), ``seed_states.npz`` (the states of the model's seed generators,
which ``model.keras`` leaves out, so a loaded model goes on drawing the noise the
trained one would), ``history.json`` (the ``History``'s ``history``, ``epoch`` and
``params``) and ``key.json`` (what was keyed, for a reader). It is written into a
temporary folder and moved into place in one ``os.replace``, so an interrupted write
never leaves half an entry; an entry that fails to load is trained again and replaced,
and a model that cannot be stored is returned all the same, with a warning. A loaded
model predicts, evaluates and samples as the trained one did; what it does not carry
over is the metric trackers' last values, which start again from zero.
Each call is counted in ``counts.json`` in the folder (``loaded``, ``trained``,
``uncacheable``).

Random state: every decorated function takes a ``seed``, and after every call (loaded,
trained, cache off or uncacheable) the decorator calls
``keras.utils.set_random_seed(seed)``. What a chapter draws after training is then the
same whether its model was trained or loaded, with the cache on or off.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import shutil
import sys
import tempfile
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import keras
import numpy as np

PACKAGE = "snippets"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# The libraries each Keras backend computes with, for their versions (XLA is jaxlib's).
BACKEND_LIBRARIES = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}
MODEL_FILE, SEEDS_FILE, HISTORY_FILE, KEY_FILE, COUNTS_FILE = (
    "model.keras",
    "seed_states.npz",
    "history.json",
    "key.json",
    "counts.json",
)

Training = TypeVar("Training", bound=Callable[..., tuple[keras.Model, Any]])

_folder: Path | None = None


def use_model_cache(folder: str | os.PathLike | None) -> None:
    """Keep trained models under ``folder`` (created when needed), or stop caching
    with ``None``."""
    global _folder
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path or None, got {type(folder).__name__}")
    _folder = None if folder is None else Path(folder).resolve()


def model_cache_folder() -> Path | None:
    """The folder :func:`use_model_cache` set, ``None`` while the cache is off."""
    return _folder


class Uncacheable(Exception):
    """An argument whose content cannot be fingerprinted."""


def fingerprint(value: Any) -> Any:
    """A JSON-able description of ``value`` that changes when its content does.

    Raises :class:`Uncacheable` for a value whose content it cannot read.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return f"{value.dtype.str}:{value.item()!r}"
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise Uncacheable(f"an array of dtype {value.dtype}")
        digest = hashlib.sha256(np.ascontiguousarray(value))
        return {
            "array": value.dtype.str,
            "shape": list(value.shape),
            "sha256": digest.hexdigest(),
        }
    if _is_record(value) and not _is_package_object(type(value)):
        # Its methods may run in the call, and only the package's code is keyed.
        raise Uncacheable(f"a {type(value).__name__} defined outside {PACKAGE}")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "type": _qualified_name(type(value)),
            "fields": {
                field.name: fingerprint(getattr(value, field.name))
                for field in dataclasses.fields(value)
            },
        }
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {
            "type": _qualified_name(type(value)),
            "fields": {
                name: fingerprint(item) for name, item in value._asdict().items()
            },
        }
    if isinstance(value, (tuple, list)):
        return [fingerprint(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(name, str) for name in value):
            raise Uncacheable("a dict with keys that are not strings")
        return {
            "dict": {name: fingerprint(item) for name, item in sorted(value.items())}
        }
    if _is_package_function(value):
        return {"function": _qualified_name(value)}
    raise Uncacheable(f"an argument of type {type(value).__name__}")


def _qualified_name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _is_record(value: Any) -> bool:
    """A dataclass instance or a named tuple."""
    return (dataclasses.is_dataclass(value) and not isinstance(value, type)) or (
        isinstance(value, tuple) and hasattr(value, "_fields")
    )


def _is_package_object(value: Any) -> bool:
    """A function or class defined at the top level of a ``snippets`` module."""
    module = sys.modules.get(value.__module__)
    return (
        value.__module__.split(".")[0] == PACKAGE
        and module is not None
        and getattr(module, value.__qualname__, None) is value
    )


def _is_package_function(value: Any) -> bool:
    """A plain function defined at the top level of a ``snippets`` module."""
    return isinstance(value, types.FunctionType) and _is_package_object(value)


def _module_file(name: str) -> Path | None:
    """The source file of the ``snippets`` module or package ``name``, if there is
    one."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_name(path: Path) -> str:
    """The dotted name of the ``snippets`` file ``path`` (a package for an
    ``__init__.py``)."""
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_files(path: Path) -> set[Path]:
    """The ``snippets`` files that importing ``path`` runs: each module it names in
    ``import snippets.x`` or ``from snippets.x import y`` (``y`` too where it is a
    module; relative imports alike), with the packages above it."""
    inside = path.is_relative_to(PACKAGE_ROOT)
    here = _package_name(path) if inside else ""
    if inside and path.name != "__init__.py":
        here = here.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.rsplit(".", node.level - 1)[0] if inside else ""
                base = ".".join(filter(None, (anchor, base)))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    prefixes = {
        ".".join(parts[:n])
        for parts in (name.split(".") for name in names)
        for n in range(1, len(parts) + 1)
    }
    return set(filter(None, map(_module_file, prefixes)))


def source_closure(*paths: Path) -> tuple[Path, ...]:
    """``paths`` and every ``snippets`` file they import, transitively, sorted."""
    seen: set[Path] = set()
    todo = [Path(path).resolve() for path in paths]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += _imported_files(path) - seen
    return tuple(sorted(seen))


def _display(path: Path) -> str:
    return str(
        path.relative_to(PACKAGE_ROOT.parent)
        if path.is_relative_to(PACKAGE_ROOT.parent)
        else path
    )


@functools.cache
def _file_digest(path: Path) -> str:
    """SHA-256 of ``path``'s bytes the first time this process reads it.

    The code that trains is the code the process imported, not what the file holds
    after an edit, so each file is read once, from :func:`cached_training` when a
    training function is defined, right after its imports.
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_fingerprint(*paths: Path) -> dict[str, str]:
    """``{file: SHA-256 of its bytes}`` over :func:`source_closure` of ``paths``."""
    return {_display(path): _file_digest(path) for path in source_closure(*paths)}


def _source_file(function: Callable) -> Path:
    """The file that defines ``function``; :class:`Uncacheable` if there is none."""
    name = inspect.getsourcefile(function)
    if name is None or not Path(name).is_file():
        raise Uncacheable(f"{function.__qualname__} has no source file")
    return Path(name)


def _version(library: str) -> str:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _backend_fingerprint() -> dict[str, str]:
    """The software and global settings that change what the same code trains: Keras,
    its backend's libraries, NumPy (whose generators binarise the digits), and Keras's
    float type, image layout and dtype policy."""
    backend = keras.backend.backend()
    libraries = ("numpy", *BACKEND_LIBRARIES.get(backend, (backend,)))
    return {
        "keras": keras.__version__,
        "backend": backend,
        **{library: _version(library) for library in libraries},
        "floatx": keras.config.floatx(),
        "image_data_format": keras.config.image_data_format(),
        "dtype_policy": keras.config.dtype_policy().name,
    }


def call_key(function: Callable, arguments: dict[str, Any]) -> dict[str, Any]:
    """What keys a call of ``function`` with the bound ``arguments`` (see the module
    docstring); raises :class:`Uncacheable`."""
    described = {name: fingerprint(value) for name, value in arguments.items()}
    sources = [_source_file(function)]
    sources += filter(None, map(_module_file, _modules_named(described)))
    return {
        "function": _qualified_name(function),
        "arguments": described,
        "code": code_fingerprint(*sources),
        **_backend_fingerprint(),
    }


def _modules_named(described: Any) -> set[str]:
    """The modules of the functions and types a :func:`fingerprint` description
    names."""
    if isinstance(described, list):
        return set().union(*map(_modules_named, described))
    if not isinstance(described, dict):
        return set()
    named = {
        described[key].partition(":")[0]
        for key in ("function", "type")
        if isinstance(described.get(key), str)
    }
    return named.union(*map(_modules_named, described.values()))


def cached_training(function: Training) -> Training:
    """``function`` (which returns ``(model, keras.callbacks.History)`` and takes a
    ``seed``) looked up in the model cache, and trained and stored on a miss.

    After every call the decorator runs ``keras.utils.set_random_seed(seed)``, so the
    random state a caller sees next depends on ``seed`` alone, not on whether the
    model was loaded or trained (module docstring).
    """
    signature = inspect.signature(function)
    if "seed" not in signature.parameters:
        raise TypeError(
            f"{function.__qualname__} must take a seed argument to be a cached training"
        )
    with contextlib.suppress(Uncacheable):
        code_fingerprint(_source_file(function))  # the code as it is imported

    @functools.wraps(function)
    def cached(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        result = _lookup(function, bound)
        keras.utils.set_random_seed(bound.arguments["seed"])
        return result

    return cached


def _lookup(function: Callable, bound: inspect.BoundArguments):
    folder = _folder
    if folder is None:
        return function(*bound.args, **bound.kwargs)
    try:
        key = call_key(function, bound.arguments)
    except Uncacheable:
        _count(folder, "uncacheable")
        return function(*bound.args, **bound.kwargs)
    text = json.dumps(key, sort_keys=True, indent=1)
    digest = hashlib.sha256(text.encode()).hexdigest()
    entry = folder / f"{function.__qualname__}-{digest[:16]}"
    if entry.is_dir():
        try:
            loaded = load_entry(entry)
        except Exception as error:  # noqa: BLE001 - any damage means: train again
            warnings.warn(
                f"model cache entry {entry} could not be loaded ({error!r}); "
                "training again",
                stacklevel=3,
            )
        else:
            _count(folder, "loaded")
            return loaded
    model, history = function(*bound.args, **bound.kwargs)
    try:
        save_entry(entry, model, history, text)
    except (OSError, TypeError, ValueError) as error:
        warnings.warn(
            f"the model could not be stored in {entry} ({error!r})", stacklevel=3
        )
    _count(folder, "trained")
    return model, history


def load_entry(entry: Path) -> tuple[keras.Model, keras.callbacks.History]:
    """The model of a cache entry and the ``History`` of its training."""
    model = keras.saving.load_model(entry / MODEL_FILE, safe_mode=True)
    with np.load(entry / SEEDS_FILE, allow_pickle=False) as stored:
        states = [stored[f"state_{i}"] for i in range(len(stored.files))]
    variables = seed_states(model)
    if [tuple(v.shape) for v in variables] != [state.shape for state in states]:
        raise ValueError(f"{SEEDS_FILE} does not match the model's seed generators")
    for variable, state in zip(variables, states):
        variable.assign(state)
    record = json.loads((entry / HISTORY_FILE).read_text())
    history = keras.callbacks.History()
    history.history = record["history"]
    history.epoch = record["epoch"]
    history.set_params(record["params"])
    history.set_model(model)
    model.history = history
    return model, history


def seed_states(model: keras.Model) -> list[keras.Variable]:
    """The state variables of ``model``'s seed generators: its ``variables`` that are
    not ``weights``, in the model's order."""
    weights = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


def save_entry(
    entry: Path, model: keras.Model, history: keras.callbacks.History, key: str
) -> None:
    """Write ``model``, ``history`` and the ``key`` text into a temporary folder
    beside ``entry`` and move it into place."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        model.save(staging / MODEL_FILE)
        np.savez(
            staging / SEEDS_FILE,
            **{
                f"state_{i}": keras.ops.convert_to_numpy(variable)
                for i, variable in enumerate(seed_states(model))
            },
        )
        record = {
            "history": {
                name: [float(value) for value in values]
                for name, values in history.history.items()
            },
            "epoch": [int(epoch) for epoch in history.epoch],
            "params": history.params,
        }
        (staging / HISTORY_FILE).write_text(json.dumps(record, default=float))
        (staging / KEY_FILE).write_text(key)
        if entry.exists():  # a damaged entry: moved aside whole, never half deleted
            os.replace(entry, staging.with_name(f"{staging.name}-damaged"))
        try:
            os.replace(staging, entry)
        except OSError:
            if not entry.is_dir():  # else another process stored the same entry first
                raise
    finally:
        for leftover in (staging, staging.with_name(f"{staging.name}-damaged")):
            shutil.rmtree(leftover, ignore_errors=True)


def _count(folder: Path, outcome: str) -> None:
    """Add one to ``outcome`` in the folder's ``counts.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / COUNTS_FILE
    # Chapters executed at once share the folder: one update at a time.
    with open(folder / f".{COUNTS_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            counts = {}
        counts[outcome] = counts.get(outcome, 0) + 1
        staging = path.with_name(f".{COUNTS_FILE}.{os.getpid()}")
        staging.write_text(json.dumps(counts))
        os.replace(staging, path)
