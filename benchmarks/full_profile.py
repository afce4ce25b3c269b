"""Time and memory of every chapter in the full profile, one chapter per process.

Each chapter is executed as a reader's Jupyter would run it (nbclient, a fresh kernel
per chapter) with ``VAE_BOOK_PROFILE=full`` and ``VAE_BOOK_DATA`` pointing at a
60,000 + 10,000-digit MNIST file: the real one where a reader has it, or on machines
without internet the stand-in made by ``scripts/make_fullsize_standin.py`` (then every
figure printed here is a stand-in figure: same sizes, not the same digits). The peak
memory is the largest resident set of the kernel and its children, sampled every
0.2 s. A benchmark: it prints a table, it asserts nothing.

    python scripts/make_fullsize_standin.py
    python benchmarks/full_profile.py --data _build/standin/mnist_standin.npz
    python benchmarks/full_profile.py --chapters book/keras/vae_dense.ipynb --timeout 900
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "_build" / "standin" / "mnist_standin.npz"
RUNNER = (
    "import sys, nbformat\n"
    "from nbclient import NotebookClient\n"
    "nb = nbformat.read(sys.argv[1], as_version=4)\n"
    "NotebookClient(nb, timeout=None, kernel_name='python3',\n"
    "               resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
)


def peak_rss_of_tree(process: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    """Sample the resident memory of ``process`` and its descendants until ``stop`` is set."""
    while not stop.is_set():
        try:
            members = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(m.memory_info().rss for m in members if m.is_running()))
        except psutil.Error:
            pass
        stop.wait(0.2)


def run_chapter(chapter: Path, environment: dict[str, str], timeout: float) -> tuple[float, int, str]:
    """``(wall seconds, peak resident bytes, status)`` of executing ``chapter`` in a fresh process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(chapter), str(chapter.parent)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=peak_rss_of_tree, args=(psutil.Process(child.pid), stop, peak), daemon=True)
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
    return time.perf_counter() - start, peak[0], status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST .npz in the keras.datasets layout")
    parser.add_argument("--chapters", nargs="*", type=Path, help="notebooks to run (default: every chapter)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per chapter")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"no data file {args.data}: run `python scripts/make_fullsize_standin.py` first", file=sys.stderr)
        return 2
    chapters = args.chapters or sorted((ROOT / "book").rglob("*.ipynb"))
    environment = {**os.environ, "VAE_BOOK_PROFILE": "full", "VAE_BOOK_DATA": str(args.data.resolve()),
                   "TF_CPP_MIN_LOG_LEVEL": "3"}
    backend = environment.get("KERAS_BACKEND", "tensorflow")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"Keras backend {backend}; data {args.data}")
    print(f"{'chapter':45s} {'wall (s)':>9s} {'peak (MB)':>10s}  status")
    total = 0.0
    for chapter in chapters:
        seconds, peak, status = run_chapter(chapter.resolve(), environment, args.timeout)
        total += seconds
        name = str(chapter.resolve().relative_to(ROOT))
        print(f"{name:45s} {seconds:9.1f} {peak / 2**20:10.0f}  {status}", flush=True)
    print(f"{'total':45s} {total:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
