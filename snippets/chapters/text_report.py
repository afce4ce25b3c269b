"""What the text chapter's sentences, tables and figures are built from: the runs of
:func:`snippets.chapters.text.run_text_variants`, summed up.

Kept apart from :mod:`snippets.chapters.text`, whose source keys the model cache of
the text runs (:func:`snippets.chapters.text.train_text_run`): rewording a finding
here leaves the trained models where they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from snippets.chapters.comparison import (
    detectable_difference,
    direction,
    paired_difference,
)
from snippets.chapters.plotting import page_figure
from snippets.chapters.text import VariantRuns
from snippets.evaluation import MeanWithError, mean_and_standard_error
from snippets.validation import check_number, check_positive_int


def _format(value: MeanWithError, digits: int) -> str:
    return f"{value.mean:.{digits}f} ± {value.standard_error:.{digits}f}"


def comparison_table(
    runs: Mapping[str, VariantRuns], *, reference: str
) -> pd.DataFrame:
    """One row per variant, each entry "mean ± standard error" over seeds, in nats per
    held-out word.

    Columns: ``-log p(x)`` (the IWAE bound's for a VAE), its paired
    difference from the run of ``reference`` with the same seed (positive:
    worse than ``reference``), the KL and the number of active units.
    """
    if reference not in runs:
        raise KeyError(f"reference must be one of {sorted(runs)}, got {reference!r}")
    base = runs[reference].per_seed("nll")
    rows = {
        name: {
            "−log p(x)": _format(result.summary("nll"), 2),
            f"−log p(x) minus {reference}'s": _format(
                paired_difference(result.per_seed("nll"), base), 2
            ),
            "KL": _format(result.summary("kl"), 2),
            "active units": _format(result.summary("active_units"), 1),
        }
        for name, result in runs.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def glue_key(name: str) -> str:
    """``name`` as a glue key: lower case, runs of other characters than letters and
    digits as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _paired_findings(
    tag: str, a: np.ndarray, b: np.ndarray, confidence: float
) -> dict[str, float | str]:
    """``tag``, ``tag_se``, ``tag_word``: the paired difference ``a - b`` over seeds,
    its error, its verdict."""
    change = paired_difference(a, b)
    word = direction(
        change,
        below="clearly lower",
        above="clearly higher",
        level="not clearly different from zero",
        confidence=confidence,
    )
    return {
        tag: change.mean,
        f"{tag}_se": change.standard_error,
        f"{tag}_word": word,
        f"{tag}_detectable": detectable_difference(change, confidence),
    }


def findings(
    runs: Mapping[str, VariantRuns],
    *,
    baseline: str,
    reference: str,
    confidence: float = 0.95,
) -> dict[str, float | int | str]:
    """The numbers and words a chapter's sentences are built from, keyed by
    :func:`glue_key` names.

    For each variant ``v``: ``{metric}_{v}`` and ``{metric}_{v}_se``, the mean
    and standard error over seeds of ``nll``, ``kl`` and ``active_units``;
    ``kl_{v}_vs_{baseline}``, ``nll_{v}_vs_{baseline}`` and
    ``nll_{v}_vs_{reference}``, the paired differences seed by seed, each with
    ``_se`` (its standard error) and ``_word``: "clearly higher" or "clearly
    lower" when its ``confidence`` interval lies wholly above or below zero
    (:func:`snippets.chapters.comparison.direction`), else "not clearly
    different from zero". ``vaes_higher``, ``vaes_level`` and ``vaes_lower``
    count the variants other than ``reference`` (the VAEs, when it is the
    language model) whose NLL is in each case against ``reference``'s, of
    ``n_vaes``. Each paired difference also has ``_detectable``
    (:func:`snippets.chapters.comparison.detectable_difference`), and
    ``kl_detectable`` and ``nll_detectable`` are the largest of those against
    ``baseline``. ``n_collapsed`` counts the VAEs whose mean KL is under
    :data:`COLLAPSE_NATS`, and ``collapse_finding`` says so in words
    (:func:`collapse_finding`).
    """
    if baseline not in runs or reference not in runs:
        raise KeyError(
            f"baseline and reference must be among {sorted(runs)}, got {baseline!r} "
            f"and {reference!r}"
        )
    values: dict[str, float | int | str] = {}
    for name, result in runs.items():
        for metric in ("nll", "kl", "active_units"):
            summary = result.summary(metric)
            values[f"{metric}_{glue_key(name)}"] = summary.mean
            values[f"{metric}_{glue_key(name)}_se"] = summary.standard_error
        for metric, other in (("kl", baseline), ("nll", baseline), ("nll", reference)):
            if other != name:
                tag = f"{metric}_{glue_key(name)}_vs_{glue_key(other)}"
                pair = result.per_seed(metric), runs[other].per_seed(metric)
                values.update(_paired_findings(tag, *pair, confidence))
    verdicts = [
        values[f"nll_{glue_key(name)}_vs_{glue_key(reference)}_word"]
        for name in runs
        if name != reference
    ]
    values.update(
        vaes_higher=verdicts.count("clearly higher"),
        vaes_lower=verdicts.count("clearly lower"),
    )
    values["vaes_level"] = len(verdicts) - values["vaes_higher"] - values["vaes_lower"]
    values["n_vaes"] = len(verdicts)
    for metric in ("kl", "nll"):
        values[f"{metric}_detectable"] = max(
            (
                values[f"{metric}_{glue_key(name)}_vs_{glue_key(baseline)}_detectable"]
                for name in runs
                if name not in (baseline, reference)
            ),
            default=float("inf"),
        )
    collapsed = [
        name
        for name in runs
        if name != reference and values[f"kl_{glue_key(name)}"] < COLLAPSE_NATS
    ]
    values["n_collapsed"] = len(collapsed)
    values["collapse_finding"] = collapse_finding(collapsed, len(verdicts))
    return values


COLLAPSE_NATS = float(np.log(2.0))
"""One bit: a code whose average KL is below it carries less than one bit about a word
(the average KL bounds the mutual information ``I(x; z)`` from above), too little to
split the words into two equally likely groups. Such a VAE is called collapsed."""


def collapse_finding(collapsed: Sequence[str], n_vaes: int) -> str:
    """A clause saying which of ``n_vaes`` VAEs have collapsed, given the names of those
    with a mean KL under :data:`COLLAPSE_NATS`."""
    n_vaes = check_positive_int(n_vaes, "n_vaes")
    if len(collapsed) > n_vaes:
        raise ValueError(
            f"collapsed names {len(collapsed)} VAEs, more than n_vaes = {n_vaes}"
        )
    if len(collapsed) == n_vaes:
        return (
            f"all {n_vaes} VAEs have collapsed: each carries less than one bit per "
            "word in its code, too little to split the words into two equally likely "
            "groups"
        )
    if not collapsed:
        return (
            f"none of the {n_vaes} VAEs has collapsed by this test: each has a KL "
            "above one bit per word, which, being an upper bound, allows a code that "
            "carries a bit but does not prove one"
        )
    return (
        f"{len(collapsed)} of the {n_vaes} VAEs ({', '.join(collapsed)}) have "
        "collapsed, carrying less than one bit per word in their codes; the others "
        "have a KL above one bit, an upper bound that leaves room for a code that "
        "carries a bit"
    )


def code_use_finding(kl: float) -> str:
    """What a model's mean KL per word, in nats, says about the strings its decoder
    writes from different codes."""
    kl = check_number(kl, "kl", low=0.0)
    if kl < COLLAPSE_NATS:
        return (
            "it has collapsed, carrying less than one bit per word in its code, so "
            "what follows shows what a collapsed text VAE writes: its decoder works "
            "mostly from the prefix, and the code can steer it only a little"
        )
    return (
        "its KL, an upper bound on what its code carries, is above one bit per word, "
        "so the code may steer what it writes; the strings it decodes from different "
        "codes show how much it does"
    )


def gain_finding(
    runs: Mapping[str, VariantRuns], *, reference: str, confidence: float = 0.95
) -> str:
    """A clause on each VAE whose held-out bound is clearly below ``reference``'s
    exact ``-log p(x)`` (the language model): its gain in nats per word against its
    mean KL, which bounds what its code carries (the mean KL is at least the mutual
    information ``I(x; z)``). Only a gain clearly above the KL, seed by seed
    (:func:`snippets.chapters.comparison.direction`), points to the regularisation of
    sampling the code; otherwise the code could carry the whole gain."""
    if reference not in runs:
        raise KeyError(f"reference must be among {sorted(runs)}, got {reference!r}")
    baseline = runs[reference].per_seed("nll")
    clauses = []
    for name, result in runs.items():
        if name == reference:
            continue
        gain = baseline - result.per_seed("nll")
        gain_word = direction(
            mean_and_standard_error(gain),
            below="",
            above="clear",
            level="",
            confidence=confidence,
        )
        if not gain_word:
            continue
        kl = result.per_seed("kl")
        beyond = direction(
            paired_difference(gain, kl),
            below="",
            above="beyond",
            level="",
            confidence=confidence,
        )
        clause = (
            f"“{name}” gains {gain.mean():.2f} nats per word with a KL of "
            f"{kl.mean():.3f} nats"
        )
        if beyond:
            clause += (
                ", clearly more than its code carries on average, which points to "
                "the regularisation"
            )
        else:
            clause += (
                ", not clearly more than its KL, so its code could carry the whole "
                "gain and this comparison cannot tell the code from the "
                "regularisation"
            )
        clauses.append(clause)
    if not clauses:
        return (
            "no VAE predicts held-out words clearly better than the language model, "
            "so there is no gain to explain"
        )
    return "; ".join(clauses)


def ragged_mean(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Mean per epoch of curves of different lengths (runs stopped at different
    epochs): ``(longest,)``, each epoch averaged over the runs that reached it."""
    if not curves or not all(len(curve) for curve in curves):
        raise ValueError("curves must hold at least one curve, none of them empty")
    padded = np.full((len(curves), max(map(len, curves))), np.nan)
    for row, curve in zip(padded, curves):
        row[: len(curve)] = curve
    return np.nanmean(padded, axis=0)


def plot_text_runs(runs: Mapping[str, VariantRuns]) -> Figure:
    """Left: each VAE's training KL per epoch, mean over the seeds that ran it
    (:func:`ragged_mean`); right: each run's held-out NLL against its KL.

    A dotted line marks the end of each warm-up's last epoch, after which
    ``beta = 1``; a model without a KL (the language model) appears on the right only,
    at KL 0. A variant has the same colour in both panels.
    """
    fig = Figure(figsize=(10.5, 3.6), layout="constrained")
    curves, scatter = fig.subplots(1, 2)
    for index, (name, result) in enumerate(runs.items()):
        if "kl" in result.histories[0]:
            kl = ragged_mean([history["kl"] for history in result.histories])
            curves.plot(
                np.arange(1, len(kl) + 1),
                kl,
                marker="o",
                markersize=3,
                color=f"C{index}",
            )
        scatter.scatter(
            result.per_seed("kl"), result.per_seed("nll"), color=f"C{index}", label=name
        )
    curves.set(
        xlabel="epoch",
        ylabel="KL per word, training (nats)",
        title="training KL, mean over seeds",
    )
    warmups = sorted({result.warmup_epochs for result in runs.values()} - {0})
    for epoch in warmups:
        label = "β reaches 1" if epoch == warmups[0] else None
        curves.axvline(epoch, color="grey", linestyle=":", label=label)
    if warmups:
        curves.legend(fontsize="small")
    scatter.set(
        xlabel="KL per held-out word (nats)",
        ylabel="−log p(x) per held-out word (nats)",
    )
    scatter.set_title("every run")
    scatter.legend(fontsize="small")
    return fig


KL_FLOOR = 1e-5
"""The least KL per unit :func:`plot_kl_per_unit` draws on its logarithmic axis."""


def plot_kl_per_unit(runs: Mapping[str, VariantRuns]) -> Figure:
    """Each VAE's KL per latent unit on held-out words, the units sorted from the
    largest in every run and then averaged over the seeds; the language model, which
    has no units, is left out."""
    fig = page_figure(3.4)
    ax = fig.subplots()
    for index, (name, result) in enumerate(runs.items()):
        if not result.scores[0].kl_per_unit:
            continue
        # float32 rounding can leave an unused unit's KL at or just below 0
        kl = np.clip(result.kl_per_unit().mean(axis=0), KL_FLOOR, None)
        ax.plot(
            np.arange(1, len(kl) + 1), kl, marker="o", color=f"C{index}", label=name
        )
    ax.set(
        xlabel="latent unit, from the one with the largest KL",
        ylabel="KL per held-out word (nats)",
        yscale="log",
    )
    ax.legend(fontsize="small")
    return fig
