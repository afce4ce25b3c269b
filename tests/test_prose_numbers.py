"""Numbers in the chapters' prose come from the runs, not from the writer's keyboard.

A number a run produced is glued into the text (``{glue:text}`name```), so the sentence
changes when the run does. This test reads every markdown cell of every chapter and
fails on a digit anywhere else than where a typed number is either not a measurement
or not ours to change:

- inside math (``$...$``, ``$$...$$``): formulas, and constants written as math;
- inside a MyST role (glue, cite, ref, numref, doc) or inline code;
- inside a fenced block that is not prose (code, ``literalinclude``, tables of
  directives); an admonition's body *is* prose and is checked;
- in a link's target, or in a word that starts with a letter (``MovieLens-1M``,
  ``CIFAR-10``, ``float16``, ``Recall@20``): names, not quantities;
- the allow-list below: the size of an MNIST digit, years, version names, and the
  markers of a numbered list.

A quantity the reader should see as a fixed design choice of the book (a hidden layer
of 256 units) is written as math, ``$256$``, which this test then allows: the choice
is stated, not measured. Everything else that is a measurement is glued.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").rglob("*.ipynb"))

# Typed numbers that are facts of the subject, not results of a run.
ALLOWED = [
    r"\b784\b",  # pixels of an MNIST digit
    r"\b28\s*(?:×|x|\\times)\s*28\b",  # its side
    r"\b(?:19|20)\d\d(?:[–-]\d\d)?\b",  # years and ranges of years (citations, history)
    r"\b0\s*[–-]\s*255\b",  # the range of 8-bit pixel values
    r"(?:Section|§)\s*\d+(?:\.\d+)*",  # a section of a cited work
    r"\b\d+-bit\b",  # the widths of number formats (float16's 5-bit exponent)
    r"\b(?:Keras|TensorFlow|Python)\s+\d(?:\.\d+)*\b",  # version names
]
PROSE_ADMONITIONS = {"admonition", "note", "warning", "important", "tip", "seealso", "caution", "attention"}
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(?:\{([\w-]+)\})?")
MATH_BLOCK = re.compile(r"\$\$.*?\$\$", re.S)
INLINE_MATH = re.compile(r"(?<!\\)\$[^$]+\$")
ROLE = re.compile(r"\{[\w:-]+\}`[^`]*`")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
LIST_MARKER = re.compile(r"^\s*\d+\.\s", re.M)
NAME_WITH_DIGITS = re.compile(r"[A-Za-z][\w@.+-]*\d[\w@.+-]*")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def prose_of(markdown: str) -> str:
    """The sentences of a markdown cell with everything the rule allows removed."""
    kept, lines, index = [], markdown.split("\n"), 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match and match.group(2) in PROSE_ADMONITIONS:
            index += 1
            while index < len(lines) and lines[index].startswith(":"):  # directive options
                index += 1
            continue
        if match and match.group(2) is not None or (match and lines[index].strip() != match.group(1)):
            fence = match.group(1)
            index += 1
            while index < len(lines) and not lines[index].startswith(fence):
                index += 1
            index += 1
            continue
        if match:  # the closing fence of an admonition
            index += 1
            continue
        kept.append(lines[index])
        index += 1
    text = "\n".join(kept)
    for pattern in (MATH_BLOCK, ROLE, INLINE_MATH, INLINE_CODE, LINK_TARGET, LIST_MARKER):
        text = pattern.sub(" ", text)
    for allowed in ALLOWED:
        text = re.sub(allowed, " ", text)
    return NAME_WITH_DIGITS.sub(" ", text)


def typed_numbers(markdown: str) -> list[tuple[str, str]]:
    """Each typed number, with a few words around it for the failure message."""
    text = prose_of(markdown)
    return [(m.group(), " ".join(text[max(0, m.start() - 30) : m.end() + 20].split())) for m in NUMBER.finditer(text)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_chapter_prose_types_no_number_a_run_could_produce(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    found = [
        f"cell {index}: ...{context}..."
        for index, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "markdown"
        for _, context in typed_numbers("".join(cell["source"]))
    ]
    assert not found, (
        f"{path.relative_to(ROOT)} types numbers in its prose; glue what a run produced "
        "({glue:text}`name`), write a fixed design choice as math ($256$):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("The loss fell to 93.2 nats.", ["93.2"]),
        ("The loss fell to {glue:text}`loss:.1f` nats.", []),
        ("A layer of $256$ units and $x_1$.", []),
        ("Burda et al. {cite}`burda2016importance` (2016) on MNIST, 784 pixels of 28 × 28.", []),
        ("MovieLens-1M, CIFAR-10, Recall@20 and float16 are names.", []),
        ("1. first step\n2. second step", []),
        ("```{admonition} Note\n:class: note\nIt took 12 epochs.\n```", ["12"]),
        ("```{literalinclude} ../../snippets/models.py\n:lines: 1-20\n```", []),
        ("```python\nx = 3\n```", []),
        ("Written for Keras 2 and TensorFlow 1.", []),
        ("In $$\\sum_{i=1}^{10} x_i$$ nothing counts.", []),
    ],
)
def test_the_rule_finds_typed_numbers_and_only_those(markdown, expected):
    assert [number for number, _ in typed_numbers(markdown)] == expected
