"""The recorded multi-worker throughput, and the table the scaling chapter makes of it.

The committed record (snippets/chapters/records/multiworker_throughput.json) is a measurement,
like the status page's: the last tests check that it reads back, that the speed-ups it
stores are the ones its rates give, and that what the chapter says about it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snippets.chapters.throughput import (
    SETUP_WORKERS,
    THROUGHPUT_RECORD,
    read_throughput,
)

pytestmark = pytest.mark.backend_independent

MACHINE = {
    "cores": 2,
    "cpu": "test CPU",
    "date": "2026-01-01T00:00+00:00",
    "load_average_at_start": [3.0, 2.0, 1.0],
    "load_average_at_end": [1.5, 2.0, 1.0],
}


def _row(engine, batch, setup, rate, low=None, high=None):
    return {
        "engine": engine,
        "batch": batch,
        "setup": setup,
        "samples_per_second": rate,
        "min": rate if low is None else low,
        "max": rate if high is None else high,
    }


def _record(rows=None, machine=None, arguments=None):
    return {
        "machine": MACHINE if machine is None else machine,
        "arguments": {"epochs": "4", "n_train": "30000"}
        if arguments is None
        else arguments,
        "rows": rows
        if rows is not None
        else [
            _row("tensorflow", 128, "1 process", 1000.0, 900.0, 1100.0),
            _row("tensorflow", 128, "2 logical devices", 500.0),
            _row("tensorflow", 128, "2 processes", 1500.0, 1400.0, 1600.4),
        ],
    }


def _write(path: Path, record) -> Path:
    path.write_text(json.dumps(record))
    return path


def test_speedup_is_the_rate_over_one_process_and_efficiency_is_it_per_worker(tmp_path):
    record = read_throughput(_write(tmp_path / "r.json", _record()))
    table = record.table
    assert list(table.columns) == ["samples/s", "min", "max", "speed-up", "efficiency"]
    two = table.loc[("tensorflow", 128, "2 processes")]
    assert (two["samples/s"], two["min"], two["max"]) == (1500, 1400, 1600)
    assert two["speed-up"] == pytest.approx(1.5)
    assert two["efficiency"] == pytest.approx(0.75)
    assert table.loc[("tensorflow", 128, "1 process"), "efficiency"] == 1.0
    assert table.loc[("tensorflow", 128, "2 logical devices"), "speed-up"] == 0.5


def test_the_table_keeps_the_record_order_and_the_machine_it_ran_on(tmp_path):
    record = read_throughput(_write(tmp_path / "r.json", _record()))
    assert list(record.table.index.get_level_values("setup")) == list(SETUP_WORKERS)
    assert record.machine["cores"] == 2 and record.machine["cpu"] == "test CPU"
    assert record.load_range == (1.5, 3.0)
    assert (record.timed_epochs, record.n_train) == (3, 30000)
    assert record.speedups("2 processes").to_dict() == {("tensorflow", 128): 1.5}


def test_rows_are_compared_with_one_process_of_their_own_engine_and_batch(tmp_path):
    rows = [
        _row("jax", 1024, "1 process", 400.0),
        _row("tensorflow", 128, "1 process", 100.0),
        _row("tensorflow", 128, "2 processes", 50.0),
        _row("jax", 1024, "2 processes", 600.0),
    ]
    speedups = read_throughput(_write(tmp_path / "r.json", _record(rows))).table[
        "speed-up"
    ]
    assert speedups[("tensorflow", 128, "2 processes")] == pytest.approx(0.5)
    assert speedups[("jax", 1024, "2 processes")] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"machine": MACHINE, "rows": []}, "the record has no field arguments"),
        (
            _record(machine={"cores": 2, "cpu": "x", "date": "d"}),
            "machine has no field load_average_at_start, load_average_at_end",
        ),
        (_record(arguments={"epochs": "4"}), "arguments has no field n_train"),
        (_record(rows=[]), "rows must be a non-empty list"),
        (
            _record(rows=[{"engine": "jax", "batch": 128, "setup": "1 process"}]),
            r"rows\[0\] has no field samples_per_second, min, max",
        ),
        (
            _record(
                rows=[
                    _row("jax", 128, "1 process", 1.0),
                    _row("jax", 128, "3 GPUs", 2.0),
                ]
            ),
            r"setup must be one of .*got \['3 GPUs'\]",
        ),
        (
            _record(rows=[_row("jax", 128, "2 processes", 2.0)]),
            r"no '1 process' row for \(engine, batch\) \[\('jax', 128\)\]",
        ),
        (
            _record(rows=[_row("jax", 128, "1 process", 0.0)]),
            "every rate must be a number > 0",
        ),
        (
            _record(rows=[_row("jax", 128, "1 process", 5.0, 6.0, 7.0)]),
            r"every samples_per_second must lie in \[min, max\]",
        ),
        (
            _record(
                rows=[
                    _row("jax", 128, "1 process", 5.0),
                    _row("jax", 128, "1 process", 6.0),
                ]
            ),
            r"a \(engine, batch, setup\) row appears twice",
        ),
    ],
)
def test_a_malformed_record_is_refused_naming_the_file_and_the_field(
    tmp_path, record, message
):
    path = _write(tmp_path / "bad.json", record)
    with pytest.raises(ValueError, match=message) as error:
        read_throughput(path)
    assert str(path) in str(error.value)


def test_a_file_that_is_not_json_or_missing_is_refused_by_name(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{rows")
    with pytest.raises(ValueError, match=f"{broken}: not valid JSON"):
        read_throughput(broken)
    with pytest.raises(
        FileNotFoundError, match=f"no throughput record at {tmp_path / 'none'}"
    ):
        read_throughput(tmp_path / "none")


def test_the_committed_record_stores_the_speedups_its_rates_give():
    stored = json.loads(THROUGHPUT_RECORD.read_text())
    table = read_throughput().table
    for row in stored["rows"]:
        derived = table.loc[(row["engine"], row["batch"], row["setup"])]
        assert row["speedup"] == pytest.approx(derived["speed-up"])
        assert row["efficiency"] == pytest.approx(derived["efficiency"])
    assert stored["machine"]["cores"] >= 1
    assert {"tensorflow", "jax", "keras"} <= set(stored["machine"])


def test_what_the_chapter_says_about_the_committed_record_holds():
    """book/scaling/distributed.ipynb, "How fast": its sentences about this machine."""
    record = read_throughput()
    speedup = record.table["speed-up"]
    one = record.table.xs("1 process", level="setup")["samples/s"]
    engines = speedup.index.unique("engine")
    small, large = (
        min(speedup.index.unique("batch")),
        max(speedup.index.unique("batch")),
    )
    assert (record.speedups("2 processes") < 1).all()  # two processes never beat one
    assert (record.speedups("2 logical devices") > record.speedups("2 processes")).all()
    for engine in engines:
        assert one[(engine, large)] > one[(engine, small)]  # a fixed cost per step
        for setup in ("2 logical devices", "2 processes"):
            assert speedup[(engine, large, setup)] > speedup[(engine, small, setup)]
    faster = speedup[speedup > 1]  # the only setup faster than one process
    assert list(faster.index) == [("tensorflow", large, "2 logical devices")]
