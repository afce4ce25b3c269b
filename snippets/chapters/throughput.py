"""The recorded multi-worker throughput, as the table the scaling chapter shows.

``benchmarks/multiworker_throughput.py`` trains the launcher's dense VAE on one
process, on two logical devices of one process and on two worker processes, for
each engine and global batch size, and records the rates in a JSON file::

    {"machine": {"cores": 2, "cpu": "...", "date": "...",
                 "load_average_at_start": [1, 5, 15 min], "load_average_at_end": [...]},
     "arguments": {"epochs": "4", "n_train": "30000", ...},
     "rows": [{"engine": "tensorflow", "batch": 128, "setup": "2 processes",
               "samples_per_second": ..., "min": ..., "max": ...}, ...]}

``samples_per_second`` is the median over the timed epochs (every epoch but the
first), ``min`` and ``max`` their range. :func:`read_throughput` checks the file
and derives the speed-up over one process of the same engine and batch size, and
its efficiency, the speed-up per worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# Workers (replicas) of each measured setup; "1 process" is the reference.
SETUP_WORKERS = {"1 process": 1, "2 logical devices": 2, "2 processes": 2}
REFERENCE_SETUP = "1 process"
# The recorded measurement ships with the package, so an installed copy reads it too.
THROUGHPUT_RECORD = (
    Path(__file__).resolve().parent / "records" / "multiworker_throughput.json"
)
MACHINE_FIELDS = (
    "cores",
    "cpu",
    "date",
    "load_average_at_start",
    "load_average_at_end",
)
ARGUMENT_FIELDS = ("epochs", "n_train")
ROW_FIELDS = ("engine", "batch", "setup", "samples_per_second", "min", "max")
COLUMNS = ("samples/s", "min", "max", "speed-up", "efficiency")


@dataclass(frozen=True)
class ThroughputRecord:
    """A throughput measurement: the ``table`` and the machine it was measured on.

    ``table`` is indexed by ``(engine, batch, setup)`` with the columns
    ``samples/s`` (median over the timed epochs), ``min``, ``max`` (their range),
    all rounded to whole samples per second, ``speed-up`` (median rate over the
    rate of one process, same engine and batch) and ``efficiency``
    (speed-up / workers). ``machine`` is the record's description of the machine
    (``cores``, ``cpu``, ``date``, the 1-, 5- and 15-minute load averages at the
    start and at the end); ``timed_epochs`` and ``n_train`` are the epochs each
    rate is the median of and the digits in each epoch.
    """

    table: pd.DataFrame
    machine: dict[str, Any]
    timed_epochs: int
    n_train: int

    @property
    def load_range(self) -> tuple[float, float]:
        """The lowest and highest 1-minute load average recorded, at start and end."""
        loads = [
            self.machine[key][0]
            for key in ("load_average_at_start", "load_average_at_end")
        ]
        return min(loads), max(loads)

    def speedups(self, setup: str) -> pd.Series:
        """The speed-ups of ``setup``, indexed by ``(engine, batch)``."""
        if setup not in SETUP_WORKERS:
            raise ValueError(
                f"setup must be one of {tuple(SETUP_WORKERS)}, got {setup!r}"
            )
        return self.table.xs(setup, level="setup")["speed-up"]


def _require(mapping: Any, fields: tuple[str, ...], where: str, path: Path) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: {where} must be a JSON object, got {mapping!r}")
    missing = [field for field in fields if field not in mapping]
    if missing:
        raise ValueError(f"{path}: {where} has no field {', '.join(missing)}")


def _table(rows: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    """The rows, in the record's order, with each setup's speed-up and efficiency."""
    frame = pd.DataFrame(rows, columns=list(ROW_FIELDS))
    unknown = sorted(set(frame["setup"]) - set(SETUP_WORKERS))
    if unknown:
        raise ValueError(
            f"{path}: setup must be one of {tuple(SETUP_WORKERS)}, got {unknown}"
        )
    rates = frame[["samples_per_second", "min", "max"]].astype(float)
    if not (rates > 0).all().all():
        raise ValueError(f"{path}: every rate must be a number > 0")
    if not (
        (rates["min"] <= rates["samples_per_second"])
        & (rates["samples_per_second"] <= rates["max"])
    ).all():
        raise ValueError(f"{path}: every samples_per_second must lie in [min, max]")
    frame = frame.set_index(["engine", "batch", "setup"])
    if frame.index.duplicated().any():
        raise ValueError(f"{path}: a (engine, batch, setup) row appears twice")
    is_reference = frame.index.get_level_values("setup") == REFERENCE_SETUP
    reference = frame["samples_per_second"][is_reference].droplevel("setup")
    groups = frame.index.droplevel("setup")
    missing = sorted(set(groups) - set(reference.index))
    if missing:
        raise ValueError(
            f"{path}: no '{REFERENCE_SETUP}' row for (engine, batch) {missing}"
        )
    speedup = frame["samples_per_second"].to_numpy() / reference.loc[groups].to_numpy()
    workers = frame.index.get_level_values("setup").map(SETUP_WORKERS).to_numpy()
    return pd.DataFrame(
        {
            "samples/s": frame["samples_per_second"].round().astype(int),
            "min": frame["min"].round().astype(int),
            "max": frame["max"].round().astype(int),
            "speed-up": speedup,
            "efficiency": speedup / workers,
        },
        index=frame.index,
    )


def read_throughput(path: str | Path = THROUGHPUT_RECORD) -> ThroughputRecord:
    """Read a throughput record written by ``benchmarks/multiworker_throughput.py``.

    Raises ``FileNotFoundError`` when ``path`` does not exist (the record ships
    with the book's repository, not with the installed package) and
    ``ValueError`` naming ``path`` and the field when the file lacks a field,
    names an unknown setup, has a rate that is not positive or outside its
    range, or has no one-process row to compare a setup with.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no throughput record at {path}: it ships with the book's repository "
            "(benchmarks/results/); pass the path of a record"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    _require(record, ("machine", "arguments", "rows"), "the record", path)
    _require(record["machine"], MACHINE_FIELDS, "machine", path)
    _require(record["arguments"], ARGUMENT_FIELDS, "arguments", path)
    rows = record["rows"]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: rows must be a non-empty list, got {rows!r}")
    for number, row in enumerate(rows):
        _require(row, ROW_FIELDS, f"rows[{number}]", path)
    return ThroughputRecord(
        table=_table(rows, path),
        machine=record["machine"],
        timed_epochs=int(record["arguments"]["epochs"]) - 1,
        n_train=int(record["arguments"]["n_train"]),
    )
