"""The status page's tables of the book at full size, read from the recorded runs.

``benchmarks/full_profile.py`` writes each chapter's full-size run to
``benchmarks/results/full_profile.json``: its time, memory, status, when, at which
commit and on which data it ran, and the values the chapter glued; a second run of a
chapter whose models the first one trained into the model cache, written to
``benchmarks/results/full_profile_reused.json``, gives its time with those models
loaded. Two directives
turn that record into tables, so the page shows what was measured and nothing
typed by hand::

    ```{full-profile-runs}
    ```

    ```{full-profile-headlines}
    ```

A chapter without a recorded run, or one whose run used other data than the real
MNIST, says so in its row.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "benchmarks" / "results" / "full_profile.json"
# The same chapters run again right after, loading the models the first run trained
# into the model cache (snippets/chapters/cache.py).
REUSED_RECORD = ROOT / "benchmarks" / "results" / "full_profile_reused.json"
# SHA-256 of the four arrays of keras.datasets.mnist (x_train, y_train, x_test, y_test).
REAL_MNIST = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"

# One headline per chapter: what it is, how to write it from the chapter's glued
# values, and the published figure it can be set beside (empty where none compares).
HEADLINES = {
    "book/keras/evaluation.ipynb": (
        "held-out −IWAE, k = {k_max:,.0f}, after {epochs:.0f} epochs",
        "{iwae_nats:.2f} ± {iwae_se:.2f} nats",
        "Burda et al. (2016): 86.76 nats, 784-200-200-50, k = 5,000, 3,280 epochs",
    ),
    "book/keras/vae_dense.ipynb": (
        "test −ELBO of the first 2-D VAE after {vae_epochs:.0f} epochs",
        "{vae_test_loss:.1f} nats",
        "",
    ),
    "book/keras/latent_space.ipynb": (
        "test −IWAE, 16-D minus 2-D code, {latent_epochs:.0f} epochs",
        "{latent_neg_iwae_change:.1f} ± {latent_neg_iwae_change_se:.1f} nats",
        "",
    ),
    "book/applications/anomaly.ipynb": (
        "ROC-AUC, {best_vae} against {best_baseline}",
        "{vs_roc_mean:.3f} ± {vs_roc_se:.3f} vs {vs_roc_other_mean:.3f} ± {vs_roc_other_se:.3f}",
        "",
    ),
    "book/applications/conditional.ipynb": (
        "marginal −IWAE, VAE minus CVAE",
        "{marginal_difference:.1f} ± {marginal_difference_se:.1f} nats",
        "",
    ),
    "book/applications/recommendation.ipynb": (
        "test NDCG@100, Mult-VAE minus {rec_baseline}",
        "{rec_difference:+.3f} ({rec_verdict}; detectable ± {rec_detectable:.3f})",
        "",
    ),
}


def _value(text: str):
    """A glued value's plain text as a number where it is one, else without quotes."""
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _fill(template: str, glued: dict[str, str]) -> str | None:
    try:
        return template.format(**{name: _value(text) for name, text in glued.items()})
    except (KeyError, ValueError, IndexError):
        return None


def chapters_in_order(root: Path = ROOT) -> list[str]:
    """Every chapter notebook ``_toc.yml`` lists, as ``book/...ipynb``, in reading order."""
    found = []

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                path = root / (entry["file"] + ".ipynb")
                if path.is_file():
                    found.append(path.relative_to(root).as_posix())
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    walk(toc.get("parts", []) + toc.get("chapters", []))
    return found


def _data_words(entry: dict) -> str:
    return "real MNIST" if entry["data"]["sha256"] == REAL_MNIST else f"other data ({entry['data']['file']})"


def _memory_words(entry: dict) -> str:
    """The peak proportional set size, and the resident sets' sum where it is more than
    5 % larger; runs recorded before the proportional size was sampled give the resident
    sum."""
    if "peak_pss_mb" not in entry:
        return f"{entry['peak_mb']:,} resident sum"
    resident = f"{entry['peak_mb']:,} resident"
    if entry["peak_pss_mb"] >= 0.95 * entry["peak_mb"]:
        return f"{entry['peak_pss_mb']:,}"
    return f"{entry['peak_pss_mb']:,} ({resident})"


def reused_time(entry: dict, reused: dict | None) -> tuple[float | None, str]:
    """A chapter's time with its trained models reused, and how the table writes it.

    That of its run that loaded them (``reused``, on the same data); for a chapter whose
    run, with the model cache on, trained and loaded nothing through it, its recorded
    time. ``None`` where that was not measured: no second run, a failed one, or a first
    run with the cache off, which cannot say whether the chapter uses it.
    """
    if reused is not None and reused["data"]["sha256"] == entry["data"]["sha256"]:
        if reused["status"] != "ok":
            return None, reused["status"]
        return reused["wall_s"], f"{reused['wall_s']:,.0f}"
    models = entry.get("models") or {}
    if entry.get("model_cache") and entry["status"] == "ok" and not any(models.values()):
        return entry["wall_s"], "nothing to reuse"
    return None, "not measured"


def runs_rows(record: dict, chapters: list[str], reused: dict | None = None) -> list[list[str]]:
    """One row per chapter: time, time with trained models reused, memory, status, data,
    date, commit and load average; then, once every chapter has a run, the whole book's
    two times, each where every chapter's succeeded."""
    reused = reused or {}
    rows, cold, warm = [], [], []
    for chapter in chapters:
        name = chapter.removeprefix("book/").removesuffix(".ipynb")
        entry = record.get(chapter)
        if entry is None:
            rows.append([name, "", "", "", "not yet run at full size", "", "", ""])
            continue
        seconds, words = reused_time(entry, reused.get(chapter))
        cold.append(entry["wall_s"] if entry["status"] == "ok" else None)
        warm.append(seconds)
        load = entry.get("load_average")
        load_words = f"{load['before']:.1f} / {load['after']:.1f}" if load else "not sampled"
        rows.append([
            name, f"{entry['wall_s']:,.0f}", words,
            _memory_words(entry), "succeeded" if entry["status"] == "ok" else entry["status"],
            _data_words(entry), f"{entry['started'][:10]}, {entry['commit']}", load_words,
        ])
    if len(cold) == len(chapters):
        rows.append(["whole book", _total_words(cold), _total_words(warm), "", "", "", "", ""])
    return rows


def _total_words(seconds: list[float | None]) -> str:
    return "not measured" if None in seconds else f"{sum(seconds):,.0f}"


def headline_rows(record: dict, chapters: list[str]) -> list[list[str]]:
    """One row per chapter with a headline: what it is, its value in the recorded run,
    the data that run used, and the published figure beside it."""
    rows = []
    for chapter in chapters:
        if chapter not in HEADLINES:
            continue
        what, value, published = HEADLINES[chapter]
        entry = record.get(chapter)
        glued = entry["glued"] if entry else {}
        rows.append([
            chapter.removeprefix("book/").removesuffix(".ipynb"),
            _fill(what, glued) or what.split(",")[0],
            (_fill(value, glued) or "not in the recorded run") if entry else "not yet run at full size",
            _data_words(entry) if entry else "", published,
        ])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> nodes.table:
    table = nodes.table(classes=["full-profile"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row(cells: list[str]) -> nodes.row:
        line = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            line += entry
        return line

    head, body = nodes.thead(), nodes.tbody()
    head += row(header)
    body.extend(row(cells) for cells in rows)
    group += head
    group += body
    return table


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


class FullProfileRuns(SphinxDirective):
    """The table of every chapter's recorded full-size run."""

    def run(self):
        self.env.note_dependency(str(RECORD))
        self.env.note_dependency(str(REUSED_RECORD))
        header = ["chapter", "wall time (s)", "with trained models reused (s)",
                  "peak memory (MB)", "status", "data", "date, commit",
                  "load average before / after"]
        rows = runs_rows(_read(RECORD), chapters_in_order(), _read(REUSED_RECORD))
        return [_table(header, rows)]


class FullProfileHeadlines(SphinxDirective):
    """The table of each chapter's headline figure in its recorded full-size run."""

    def run(self):
        self.env.note_dependency(str(RECORD))
        record = _read(RECORD)
        header = ["chapter", "figure", "value", "data", "published"]
        return [_table(header, headline_rows(record, chapters_in_order()))]


def setup(app):
    app.add_directive("full-profile-runs", FullProfileRuns)
    app.add_directive("full-profile-headlines", FullProfileHeadlines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
