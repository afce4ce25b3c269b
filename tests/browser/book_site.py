"""Which pages the built book has: the documents listed in _toc.yml."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document in _toc.yml (root, chapters, nested sections), in book order."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def source_suffix(doc: str) -> str:
    """'.ipynb' or '.md': which source a toc entry was built from."""
    for suffix in (".ipynb", ".md"):
        if (ROOT / f"{doc}{suffix}").exists():
            return suffix
    return ""


TOC_DOCS = toc_files()
NOTEBOOK_DOCS = [doc for doc in TOC_DOCS if source_suffix(doc) == ".ipynb"]
