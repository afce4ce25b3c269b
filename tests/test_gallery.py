"""The gallery is current and short, every entry runs pasted alone as a file and the
interactive prompt accepts it as pasted, and every public name is exercised by a test."""

from __future__ import annotations

import ast
import code
import importlib.util
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import snippets

ROOT = Path(__file__).resolve().parents[1]
# An entry that does not import the package must run without it.
BLOCK_THE_PACKAGE = "import sys\nsys.modules['snippets'] = None\n"
# The page's height before it was cut to recipes: 1,312 lines with its folded modules closed
# and every shown module and script expanded. A third of it is the limit.
LINES_BEFORE = 1_312


def load_gallery_script():
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "scripts" / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


GALLERY = load_gallery_script()


def pasted_entries() -> dict[str, str]:
    """Each entry's title and its ``python`` code blocks joined in order, read from the committed page."""
    sections = GALLERY.PAGE.read_text(encoding="utf-8").split("\n## ")[1:]
    return {section.splitlines()[0]: "\n".join(re.findall(r"```python\n(.*?)```", section, re.DOTALL))
            for section in sections}


ENTRIES = pasted_entries()


def test_committed_gallery_matches_the_package():
    assert GALLERY.PAGE.read_text(encoding="utf-8") == GALLERY.render(), (
        "book/reference/gallery.md is stale: run python scripts/make_gallery.py"
    )


def test_a_folded_object_the_package_lacks_is_refused():
    with pytest.raises(ValueError, match="defines no top-level NoSuchThing"):
        GALLERY.check_folded("models", "NoSuchThing")


def test_the_page_shows_every_entry_and_leads_with_the_minimal_vae():
    assert list(ENTRIES) == [entry.title for entry in GALLERY.ENTRIES]
    assert ENTRIES[GALLERY.ENTRIES[0].title].startswith(GALLERY.module_source("minimal"))


def _lines_outside_dropdowns(page: str) -> list[str]:
    """The page's lines as a reader scrolls past them, folded dropdowns closed."""
    shown, folded = [], False
    for line in page.splitlines():
        if not folded or line.startswith("::::"):
            shown.append(line)  # a dropdown's title line shows, its body does not
        folded = line.startswith("::::{dropdown}") or (folded and line != "::::")
    return shown


def test_the_page_is_under_a_third_of_its_former_height():
    shown = _lines_outside_dropdowns(GALLERY.PAGE.read_text(encoding="utf-8"))
    # Included files are folded away, so the page's own lines are all a reader scrolls past.
    assert not any(line.startswith("```{literalinclude}") for line in shown)
    assert len(shown) < LINES_BEFORE / 3, f"{len(shown)} lines"


ENTRY_IDS = [re.sub(r"\W+", "_", title).strip("_").lower() for title in ENTRIES]


@pytest.mark.parametrize("title", ENTRIES, ids=ENTRY_IDS)
def test_every_gallery_entry_runs_pasted_alone_as_a_file(title, tmp_path):
    source = ENTRIES[title]
    if not re.search(r"^(from|import) snippets\b", source, re.MULTILINE):
        source = BLOCK_THE_PACKAGE + source
    pasted = tmp_path / "pasted.py"
    pasted.write_text(source + "\nprint('ENTRY DONE')\n", encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", str(pasted)], check=False, cwd=tmp_path,
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ENTRY DONE" in result.stdout, result.stderr[-3000:]


class PromptThatOnlyCompiles(code.InteractiveConsole):
    """The standard interactive prompt, reading pasted lines one by one, without running them.

    The prompt compiles each statement once its lines are complete (``"single"`` mode):
    a blank line ends an indented block there, and a new statement may not follow a block
    before a blank line. The statements it accepts are the file's statements, in the
    file's order and in one namespace, so the file run above executes them. What runs
    differently without a source file: ``__file__`` is undefined (no entry uses it), the
    value of a top-level expression is printed, and TensorFlow's autograph cannot read
    the source of a function defined at the prompt, so it traces the function
    unconverted. That matters only for Python control flow on tensors, which the file
    runs under JAX refuse as well (a traced value has no truth value).
    """

    def __init__(self):
        super().__init__()
        self.statements, self.syntax_errors, self.source = 0, [], ""

    def runsource(self, source, filename="<input>", symbol="single"):
        self.source = source
        return super().runsource(source, filename, symbol)

    def runcode(self, compiled):
        # A blank or comment line reaches here compiled as `pass`: it is no statement.
        self.statements += len(ast.parse(self.source).body)

    def showsyntaxerror(self, filename=None, **kwargs):
        self.syntax_errors.append(traceback.format_exc(limit=0))


def prompt_verdict(source: str) -> tuple[int, list[str], bool]:
    """(statements accepted, syntax errors, still open) for ``source`` pasted line by line."""
    prompt = PromptThatOnlyCompiles()
    waiting_for_more = [prompt.push(line) for line in source.splitlines() + [""]]
    return prompt.statements, prompt.syntax_errors, waiting_for_more[-1]


@pytest.mark.backend_independent
@pytest.mark.parametrize("pasted", [
    "def f(x):\n    y = x + 1\n\n    return y\n",  # the blank line ends the body early
    "for i in range(2):\n    print(i)\nprint('done')\n",  # no blank line before the next statement
])
def test_the_prompt_refuses_what_a_file_accepts_but_a_paste_breaks(pasted):
    compile(pasted, "pasted.py", "exec")
    _, syntax_errors, _ = prompt_verdict(pasted)
    assert syntax_errors


# Whether the prompt accepts the pasted lines depends on the text, not on the backend.
@pytest.mark.backend_independent
@pytest.mark.parametrize("title", ENTRIES, ids=ENTRY_IDS)
def test_the_prompt_accepts_every_gallery_entry_as_the_file_runs_it(title):
    statements, syntax_errors, still_open = prompt_verdict(ENTRIES[title])
    assert syntax_errors == [], syntax_errors[0]
    assert not still_open, "the last statement is still open after a blank line"
    assert statements == len(ast.parse(ENTRIES[title]).body)


def _names_used_by_tests() -> set[str]:
    names = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def test_every_public_name_is_used_by_a_test():
    unused = sorted(set(snippets.__all__) - _names_used_by_tests())
    assert unused == [], f"public names no test uses: {unused}"
