"""The snippet gallery is current, and every public object of snippets is tested."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_gallery_script():
    spec = importlib.util.spec_from_file_location("make_gallery", ROOT / "scripts" / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_gallery_matches_the_package():
    gallery = load_gallery_script()
    assert gallery.PAGE.read_text(encoding="utf-8") == gallery.render(), (
        "book/reference/gallery.md is stale: run python scripts/make_gallery.py"
    )


def test_every_public_object_is_named_by_a_test():
    text = load_gallery_script().render()
    untested = [line for line in text.splitlines() if "no test names it directly" in line]
    assert untested == []
