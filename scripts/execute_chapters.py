"""Execute the book's chapters side by side into the build's execution cache.

``jupyter-book build`` executes one chapter after another, and a chapter of the quick
profile keeps about one core busy (small models: the time goes to Python and to
tracing). This script runs the same executions, several at a time, and stores each
executed notebook in the cache the build reads (``execute_notebooks: cache`` in
``_config.yml``). The build that follows then finds every chapter cached and executes
nothing again: each chapter still runs exactly once, in its own fresh kernel, with
the options the build itself would use (working directory = the notebook's folder,
``allow_errors: false``, the configured timeout). Each cell's streams are merged
before caching, as the build merges them when it renders (``nb_merge_streams``).

A chapter that fails is reported with its traceback and not cached; the script then
exits non-zero, so ``make`` stops before building::

    python scripts/execute_chapters.py --path-output _build/quick --jobs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.utils import coalesce_streams

ROOT = Path(__file__).resolve().parents[1]


def chapters_in_toc(root: Path = ROOT) -> list[Path]:
    """The notebooks ``_toc.yml`` lists, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return [root / f"{name}.ipynb" for name in files if (root / f"{name}.ipynb").exists()]


def cache_folder(path_output: Path) -> Path:
    """Where myst-nb keeps the build's execution cache: next to the HTML output."""
    return path_output / "_build" / ".jupyter_cache"


def execute_into_cache(notebook: Path, cache_path: Path, timeout: int) -> tuple[Path, float, str | None]:
    """Execute ``notebook`` in its own folder and cache it; return (path, seconds, traceback)."""
    nb = nbformat.read(notebook, as_version=4)
    result = single_nb_execution(nb, cwd=str(notebook.parent), timeout=timeout, allow_errors=False, meta_override=True)
    if result.err is not None:
        return notebook, result.time, result.exc_string
    # What the build's rendering (nb_merge_streams) does to each cell: one stream per name.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    get_cache(str(cache_path)).cache_notebook_bundle(
        CacheBundleIn(nb, str(notebook), data={"execution_seconds": result.time}),
        check_validity=False,
        overwrite=True,
    )
    return notebook, result.time, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path-output", type=Path, required=True, help="the build's --path-output folder")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="chapters executed at once")
    args = parser.parse_args(argv)

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    timeout = int(config["execute"]["timeout"])
    cache_path = cache_folder(args.path_output.resolve())
    # Last chapters first: the applications come late in the reading order and take
    # longest, so starting them first leaves the short early chapters to fill the end.
    chapters = chapters_in_toc()[::-1]

    start = time.perf_counter()
    failed = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute_into_cache, notebook, cache_path, timeout) for notebook in chapters]
        for future in as_completed(futures):
            notebook, seconds, traceback = future.result()
            name = notebook.relative_to(ROOT)
            print(f"{'FAILED' if traceback else 'executed'} {name} in {seconds:.1f} s", flush=True)
            if traceback:
                failed.append(name)
                print(traceback, file=sys.stderr, flush=True)
    print(f"{len(chapters)} chapters, {args.jobs} at a time: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(map(str, failed)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
