"""Time and memory of every chapter in the full profile, one chapter per process.

Each chapter is executed as a reader's Jupyter would run it (nbclient, a fresh kernel
per chapter) with ``VAE_BOOK_PROFILE=full`` and ``VAE_BOOK_DATA`` pointing at a
60,000 + 10,000-digit MNIST file, the ``mnist.npz`` that ``keras.datasets.mnist``
saves (by default ``_build/mnist.npz``). Memory is
sampled over the kernel and its children: the sum of their resident sets every 0.2 s
(``peak_mb``), and every second the sum of their proportional set sizes
(``peak_pss_mb``, Linux only), where a page that n processes map, such as a library all
of them load, counts 1/n in each (programs outside the chapter that map the same files
lower it a little). The resident sum counts such a page once per process. (Reading a process's proportional
size walks its page tables, about 17 ms for a TensorFlow process, hence the slower
rate.) A benchmark: it prints a table, it asserts nothing.

Each executed notebook is written under ``--executed`` (streams merged as the book
build merges them), so the chapters' checked cells can be compared with their
committed outputs from the same run, and the slowest cells are listed at the end::

    VAE_BOOK_EXECUTED=_build/full_profile python -m pytest tests/test_executed_chapters.py

Each chapter's result is also written to ``--record`` (JSON, one entry per chapter,
replacing that chapter's earlier entry): its time, memory and status, when and on
what it ran (machine, load average, backend, commit, the data file's content hash)
and the values the chapter glued, which the book's status page reads.

Trained models are kept in ``--model-cache`` (``VAE_BOOK_MODEL_CACHE``,
:mod:`snippets.chapters.cache`): a chapter whose training code, data, seeds and settings
are unchanged since an earlier run loads its models instead of training them. Each
chapter's entry says whether the cache was on (``model_cache``) and how many models it
loaded and trained (``models``); ``--no-model-cache`` trains everything, for the time
of a cold build. Run right after a cold run into a second record, the same chapters give
the times with their models reused, which the status page shows beside the first::

    python benchmarks/full_profile.py --chapters book/keras/vae_conv.ipynb
    python benchmarks/full_profile.py --chapters book/keras/vae_conv.ipynb \\
        --record benchmarks/results/full_profile_reused.json

    python benchmarks/full_profile.py --data _build/mnist.npz
    python benchmarks/full_profile.py --chapters book/keras/vae_dense.ipynb --timeout 900
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import nbformat
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "_build" / "mnist.npz"
DEFAULT_EXECUTED = ROOT / "_build" / "full_profile"
DEFAULT_RECORD = ROOT / "benchmarks" / "results" / "full_profile.json"
DEFAULT_MODEL_CACHE = ROOT / "_build" / "model-cache"
MODEL_CACHE_VARIABLE = "VAE_BOOK_MODEL_CACHE"
GLUE_MIME = "application/papermill.record/"
RUNNER = (
    "import sys, nbformat\n"
    "from nbclient import NotebookClient\n"
    "from myst_nb.core.utils import coalesce_streams\n"
    "nb = nbformat.read(sys.argv[1], as_version=4)\n"
    "try:\n"
    "    NotebookClient(nb, timeout=None, kernel_name='python3',\n"
    "                   resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
    "finally:\n"
    "    for cell in nb.cells:\n"
    "        if cell.cell_type == 'code':\n"
    "            cell.outputs = coalesce_streams(cell.outputs)\n"
    "    nbformat.write(nb, sys.argv[3])\n"
)


def peak_memory_of_tree(process: psutil.Process, stop: threading.Event, peak: dict[str, int]) -> None:
    """Sample the memory of ``process`` and its descendants until ``stop`` is set: the
    sum of their resident sets every 0.2 s into ``peak["rss"]``, the sum of their
    proportional set sizes every fifth sample into ``peak["pss"]``."""
    samples = 0
    while not stop.is_set():
        try:
            members = [m for m in (process, *process.children(recursive=True)) if m.is_running()]
            peak["rss"] = max(peak["rss"], sum(m.memory_info().rss for m in members))
            if samples % 5 == 0:
                peak["pss"] = max(peak["pss"], sum(m.memory_full_info().pss for m in members))
        except (psutil.Error, AttributeError):  # AttributeError: no PSS off Linux
            pass
        samples += 1
        stop.wait(0.2)


def run_chapter(chapter: Path, executed: Path, environment: dict[str, str],
                timeout: float) -> tuple[float, dict[str, int], str]:
    """``(wall seconds, peak bytes {"rss", "pss"}, status)`` of executing ``chapter`` in a
    fresh process, which writes the executed notebook to ``executed``."""
    executed.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(chapter), str(chapter.parent), str(executed)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    stop, peak = threading.Event(), {"rss": 0, "pss": 0}
    sampler = threading.Thread(target=peak_memory_of_tree, args=(psutil.Process(child.pid), stop, peak), daemon=True)
    sampler.start()
    try:
        _, stderr = child.communicate(timeout=timeout)
        status = "ok" if child.returncode == 0 else "FAILED: " + (stderr.strip().splitlines() or ["?"])[-1][:80]
    except subprocess.TimeoutExpired:
        for member in psutil.Process(child.pid).children(recursive=True):
            member.kill()
        child.kill()
        child.communicate()
        status = f"TIMEOUT after {timeout:.0f} s"
    stop.set()
    sampler.join()
    return time.perf_counter() - start, peak, status


def cell_seconds(executed: Path) -> list[tuple[float, int]]:
    """``(seconds, cell index)`` of every code cell of an executed notebook, from nbclient's timestamps."""
    if not executed.is_file():
        return []
    timings = []
    for index, cell in enumerate(nbformat.read(executed, as_version=4).cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            began, ended = (datetime.fromisoformat(stamps[key].replace("Z", "+00:00"))
                            for key in ("iopub.execute_input", "shell.execute_reply"))
            timings.append(((ended - began).total_seconds(), index))
    return timings


def data_fingerprint(path: Path) -> str:
    """SHA-256 of the four arrays of an MNIST ``.npz`` (their bytes, in the keras.datasets
    order), which names the digits whatever the file's compression."""
    digest = hashlib.sha256()
    with np.load(path) as arrays:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def glued_values(executed: Path) -> dict[str, str]:
    """Every value an executed chapter glued, by name: its plain text (Markdown where it
    has no plain form)."""
    if not executed.is_file():
        return {}
    values = {}
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            text = data.get(GLUE_MIME + "text/plain", "")
            if name and (not text or text.startswith("<")):
                text = data.get(GLUE_MIME + "text/markdown", text)
            if name:
                values[name] = text
    return values


def git_commit() -> str:
    """The checkout's commit, with ``+`` when it has uncommitted changes."""
    def git(*arguments: str) -> str:
        result = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()
    return git("rev-parse", "--short", "HEAD") + ("+" if git("status", "--porcelain", "--", "snippets", "book") else "")


def model_counts(folder: Path | None) -> dict[str, int]:
    """How many calls the model cache in ``folder`` has answered so far, by outcome
    (``loaded``, ``trained``, ``uncacheable``; its ``counts.json``)."""
    if folder is None:
        return {}
    try:
        return json.loads((folder / "counts.json").read_text())
    except (OSError, ValueError):
        return {}


def record_chapter(record: Path, name: str, entry: dict) -> None:
    """Write ``entry`` as chapter ``name``'s result in the JSON file ``record``."""
    record.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(record.read_text()) if record.is_file() else {}
    results[name] = entry
    record.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST .npz in the keras.datasets layout")
    parser.add_argument("--chapters", nargs="*", type=Path, help="notebooks to run (default: every chapter)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per chapter")
    parser.add_argument("--executed", type=Path, default=DEFAULT_EXECUTED, help="folder for the executed notebooks")
    parser.add_argument("--slowest", type=int, default=10, help="how many of the slowest cells to list")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="JSON file of the chapters' results")
    parser.add_argument("--model-cache", type=Path, default=DEFAULT_MODEL_CACHE,
                        help="folder of trained models the chapters reuse")
    parser.add_argument("--no-model-cache", action="store_true", help="train every model, reuse none")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"no data file {args.data}: copy there the mnist.npz that keras.datasets.mnist.load_data() "
              "saves under ~/.keras/datasets/, or pass --data", file=sys.stderr)
        return 2
    chapters = args.chapters or sorted((ROOT / "book").rglob("*.ipynb"))
    environment = {**os.environ, "VAE_BOOK_PROFILE": "full", "VAE_BOOK_DATA": str(args.data.resolve()),
                   "TF_CPP_MIN_LOG_LEVEL": "3"}
    cache = None if args.no_model_cache else args.model_cache.resolve()
    environment.pop(MODEL_CACHE_VARIABLE, None)
    if cache is not None:
        environment[MODEL_CACHE_VARIABLE] = str(cache)
    backend = environment.get("KERAS_BACKEND", "tensorflow")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"Keras backend {backend}; data {args.data}; model cache {cache or 'off'}")
    print(f"{'chapter':45s} {'wall (s)':>9s} {'PSS (MB)':>9s} {'RSS (MB)':>9s}  status")
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "memory_gib": round(psutil.virtual_memory().total / 2**30)}
    data = {"file": args.data.name, "sha256": data_fingerprint(args.data)}
    total, cells = 0.0, []
    for chapter in chapters:
        name = chapter.resolve().relative_to(ROOT)
        executed = args.executed / name
        load_before, began = os.getloadavg(), datetime.now().astimezone()
        counts_before = model_counts(cache)
        seconds, peak, status = run_chapter(chapter.resolve(), executed, environment, args.timeout)
        models = {outcome: count - counts_before.get(outcome, 0) for outcome, count in model_counts(cache).items()}
        record_chapter(args.record, str(name), {
            "wall_s": round(seconds, 1), "peak_mb": round(peak["rss"] / 2**20),
            **({"peak_pss_mb": round(peak["pss"] / 2**20)} if peak["pss"] else {}), "status": status,
            "started": began.isoformat(timespec="seconds"), "commit": git_commit(),
            "backend": backend, "machine": machine, "data": data,
            "load_average": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
            "glued": glued_values(executed),
            "model_cache": cache is not None, **({"models": models} if cache is not None else {}),
        })
        total += seconds
        cells += [(cell_time, str(name), index) for cell_time, index in cell_seconds(executed)]
        reused = f" (models loaded {models.get('loaded', 0)}, trained {models.get('trained', 0)})" if cache else ""
        print(f"{str(name):45s} {seconds:9.1f} {peak['pss'] / 2**20:9.0f} {peak['rss'] / 2**20:9.0f}"
              f"  {status}{reused}", flush=True)
    print(f"{'total':45s} {total:9.1f}")
    print(f"\nslowest cells (executed notebooks in {args.executed}):")
    for cell_time, name, index in sorted(cells, reverse=True)[: args.slowest]:
        print(f"  {cell_time:8.1f} s  {name} cell {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
