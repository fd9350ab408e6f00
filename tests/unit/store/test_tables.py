"""Retrieval: time travel by version and by run, filters with partition pruning, history, rollback, CLI,
and the README's DuckDB snippet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, DatasetNotFoundError
from dataframe_pipeline.store.delta import DeltaPublisher
from dataframe_pipeline.store.tables import (
    history,
    open_table,
    read_batches,
    read_table,
    rollback,
    version_of_run,
)

ROOT = Path(__file__).resolve().parents[3]


def publish(table: Path, day: str, ids, run_id: str) -> None:
    frame = pd.DataFrame({"order_id": list(ids), "amount": [i * 1.5 for i in ids]})
    publisher = DeltaPublisher(
        str(table), {"date": day}, manifest={"run_id": run_id, "input_fingerprint": run_id}, expected_rows=len(frame)
    )
    publisher.write(frame)
    publisher.commit({})


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """Versions 0..3: day 1, day 2, day 3, then day 1 re-published with other rows."""
    path = tmp_path / "orders"
    publish(path, "2026-10-01", range(0, 3), "run-1")
    publish(path, "2026-10-02", range(10, 14), "run-2")
    publish(path, "2026-10-03", range(20, 22), "run-3")
    publish(path, "2026-10-01", range(100, 105), "run-1b")
    return path


def ids(table) -> list[int]:
    return sorted(table.column("order_id").to_pylist())


def test_time_travel_by_version_and_by_run(table: Path) -> None:
    assert read_table(str(table)).num_rows == 4 + 2 + 5
    assert ids(read_table(str(table), version=0)) == [0, 1, 2]
    assert ids(read_table(str(table), version=3, filters=[("date", "=", "2026-10-01")])) == [100, 101, 102, 103, 104]
    assert version_of_run(str(table), "run-2") == 1
    assert ids(read_table(str(table), as_of_run="run-2")) == [0, 1, 2, 10, 11, 12, 13]
    with pytest.raises(ConfigurationError, match="run='nope'"):
        version_of_run(str(table), "nope")
    with pytest.raises(ConfigurationError, match="not both"):
        read_table(str(table), version=1, as_of_run="run-2")


def test_columns_and_filters(table: Path) -> None:
    got = read_table(str(table), columns=["order_id"], filters=[("amount", ">", 100.0)])
    assert got.column_names == ["order_id"]
    assert ids(got) == [100, 101, 102, 103, 104]
    either = read_table(str(table), filters=[[("date", "=", "2026-10-02")], [("order_id", "=", 20)]])
    assert ids(either) == [10, 11, 12, 13, 20]


def test_a_partition_filter_reads_only_that_partitions_files(table: Path) -> None:
    import pyarrow.dataset as pads

    for day in ("2026-10-01", "2026-10-03"):  # spoil every file of the other partitions
        for path in (table / f"date={day}").glob("*.parquet"):
            path.write_bytes(b"not parquet")
    got = read_table(str(table), filters=[("date", "=", "2026-10-02")])
    assert ids(got) == [10, 11, 12, 13]  # the spoilt files were never opened
    with pytest.raises(Exception, match=r"(?i)parquet"):
        read_table(str(table))
    # the log's file statistics (min/max per column) prune files on a data column too
    dataset = open_table(str(table)).to_pyarrow_dataset()
    assert [Path(f.path).parent.name for f in dataset.get_fragments(filter=pads.field("order_id") == 11)] == [
        "date=2026-10-02"
    ]


def test_read_batches_is_bounded(table: Path) -> None:
    batches = list(read_batches(str(table), batch_rows=2))
    assert sum(b.num_rows for b in batches) == 11
    assert max(b.num_rows for b in batches) <= 2


def test_history_lists_runs_partitions_and_rows(table: Path) -> None:
    commits = history(str(table))
    assert [c["version"] for c in commits] == [3, 2, 1, 0]
    assert [c["run_id"] for c in commits] == ["run-1b", "run-3", "run-2", "run-1"]
    assert commits[0]["partition"] == {"date": "2026-10-01"}
    assert commits[0]["rows"] == 5
    assert commits[0]["operation"] == "WRITE"
    assert commits[0]["manifest"]["input_fingerprint"] == "run-1b"


def test_rollback_is_a_new_commit_with_its_reason(table: Path) -> None:
    new = rollback(str(table), 1, reason="day 3 was bad")
    assert new == 4
    assert ids(read_table(str(table))) == [0, 1, 2, 10, 11, 12, 13]
    latest = history(str(table))[0]
    assert latest["operation"] == "RESTORE"
    assert latest["manifest"]["rollback"] == {"from_version": 3, "to_version": 1, "reason": "day 3 was bad"}
    before = [10, 11, 12, 13, 20, 21, 100, 101, 102, 103, 104]
    assert ids(read_table(str(table), version=3, columns=["order_id"])) == before  # the old versions stay
    with pytest.raises(ConfigurationError, match="reason"):
        rollback(str(table), 1, reason=" ")
    with pytest.raises(ConfigurationError, match="version=9"):
        rollback(str(table), 9, reason="x")


def test_missing_table(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        read_table(str(tmp_path / "none"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dataframe_pipeline.store.tables", *args],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
        check=False,
    )  # fmt: skip


def test_cli_history_read_and_rollback(table: Path) -> None:
    shown = _cli("history", table.as_uri())
    assert shown.returncode == 0, shown.stderr
    header, *lines = shown.stdout.splitlines()
    assert header.split()[:4] == ["version", "committed", "(UTC)", "operation"]
    assert len(lines) == 4 and max(len(line) for line in lines) < 200  # a line per version, not the manifest
    assert lines[0].split()[0] == "3" and "run-1b" in lines[0].split()
    as_json = _cli("history", table.as_uri(), "--json", "--limit", "2")
    assert as_json.returncode == 0, as_json.stderr
    assert [json.loads(line)["run_id"] for line in as_json.stdout.splitlines()] == [
        c["run_id"] for c in history(str(table))[:2]
    ]
    read = _cli("read", str(table), "--run", "run-1", "--columns", "order_id", "--limit", "2")
    assert read.returncode == 0, read.stderr
    assert read.stdout.split()[:3] == ["order_id", "0", "1"]
    assert "(3 rows)" in read.stdout
    done = _cli("rollback", str(table), "--version", "0", "--reason", "test")
    assert done.returncode == 0, done.stderr
    assert "as version 4" in done.stdout
    assert ids(read_table(str(table))) == [0, 1, 2]
    refused = _cli("rollback", str(table), "--version", "0")
    assert refused.returncode == 2
    assert "reason" in refused.stderr


def test_the_readme_duckdb_snippet_reads_the_table(table: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(# SQL over a curated table with DuckDB.*?)```", readme, re.S)
    assert "data/curated/orders" in snippet
    code = compile(snippet.replace("data/curated/orders", str(table)), "README.md", "exec")
    exec(code, {})  # noqa: S102  # the README's own snippet, so the README stays true
    shown = capsys.readouterr().out
    expected = read_table(str(table)).to_pandas().groupby("date")["order_id"].count()
    for day, count in expected.items():
        assert re.search(rf"{day}\s*│\s*{count}\b", shown), shown


def test_history_rows_show_the_validation_with_its_warning_count() -> None:
    from dataframe_pipeline.store.tables import history_rows

    def commit(validation: dict | None) -> dict:
        manifest = {"code_version": "0123456789abcdef", "validation": validation}
        return {"version": 2, "timestamp": 0, "operation": "WRITE", "run_id": "r", "partition": {"date": "d"},
                "rows": 5, "manifest": manifest}  # fmt: skip

    stats = {"evaluated": 4, "successful": 2, "failed_errors": 0, "failed_warnings": 2}
    rows = history_rows([commit({"success": True, "statistics": stats}), commit({"success": False}), commit(None)])
    assert [row[6] for row in rows] == ["passed, 2 warning(s)", "failed", "-"]
    assert rows[0][:6] == ("2", "1970-01-01 00:00:00", "WRITE", "r", "date=d", "5")
    assert rows[0][7] == "0123456789ab"
