"""The gallery is current and short, every entry runs pasted alone (as a file and at the
interactive prompt), and every public name is exercised by a test."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import snippets

ROOT = Path(__file__).resolve().parents[1]
# An entry that does not import the package must run without it.
BLOCK_THE_PACKAGE = "import sys\nsys.modules['snippets'] = None\n"
# The standard interactive prompt, reading the entry line by line as a reader pastes it;
# it exits 1 on the first syntax error or exception, which the prompt would only print.
PROMPT = """
import code, sys
class Prompt(code.InteractiveConsole):
    def showsyntaxerror(self, filename=None, **kwargs):
        super().showsyntaxerror(filename); sys.exit(1)
    def showtraceback(self):
        super().showtraceback(); sys.exit(1)
prompt = Prompt()
for line in open(sys.argv[1], encoding="utf-8").read().splitlines() + [""]:
    prompt.push(line)
"""
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
    return {section.splitlines()[0]: "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
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


@pytest.mark.parametrize("title", ENTRIES, ids=lambda title: re.sub(r"\W+", "_", title).strip("_").lower())
# Whether the prompt accepts the pasted lines depends on the text, not on the backend: the
# JAX and PyTorch stages of `make test` run every entry as a file only.
@pytest.mark.parametrize("way", ["file", pytest.param("prompt", marks=pytest.mark.backend_independent)])
def test_every_gallery_entry_runs_pasted_alone_as_a_file_and_at_the_prompt(title, way, tmp_path):
    code = ENTRIES[title]
    if not re.search(r"^(from|import) snippets\b", code, re.M):
        code = BLOCK_THE_PACKAGE + code
    pasted = tmp_path / "pasted.py"
    pasted.write_text(code + "\nprint('ENTRY DONE')\n", encoding="utf-8")
    command = [sys.executable, "-I", str(pasted)] if way == "file" else [sys.executable, "-I", "-c", PROMPT, str(pasted)]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ENTRY DONE" in result.stdout, result.stderr[-3000:]


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
