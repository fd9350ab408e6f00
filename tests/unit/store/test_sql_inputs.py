"""TableInput reads a curated table's partition through ``store.tables.read_batches``.

That module comes with the Delta Lake tables of the store step (another branch); until it is merged,
this test provides a ``read_batches`` of the same signature over a real Delta table (deltalake), so
what is tested is the input's use of the interface: version, columns, filters, repeated passes.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from dataframe_pipeline.store.sql.inputs import TableInput

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _read_batches(
    uri: str, *, version=None, as_of_run=None, columns=None, filters=None, storage_options=None
) -> Iterator[Any]:
    from deltalake import DeltaTable

    table = DeltaTable(uri, version=version, storage_options=storage_options)
    dataset = table.to_pyarrow_dataset()
    expression = None
    for column, op, value in filters or []:
        assert op == "="
        term = ds.field(column) == value
        expression = term if expression is None else expression & term
    yield from dataset.to_batches(columns=columns, filter=expression)


@pytest.fixture
def curated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from deltalake import write_deltalake

    module = types.ModuleType("dataframe_pipeline.store.tables")
    module.read_batches = _read_batches
    monkeypatch.setitem(sys.modules, "dataframe_pipeline.store.tables", module)
    uri = str(tmp_path / "orders")
    day1 = pa.table({"order_id": ["a", "b"], "amount": [1.0, 2.0], "date": ["2026-10-01"] * 2})
    write_deltalake(uri, day1, partition_by=["date"])  # version 0
    day2 = pa.table({"order_id": ["c"], "amount": [3.0], "date": ["2026-10-02"]})
    write_deltalake(uri, day2, partition_by=["date"], mode="append")  # version 1
    return uri


def test_reads_the_partition_of_the_version_announced(curated: str) -> None:
    latest = TableInput(curated, filters=[("date", "=", "2026-10-02")])
    assert [b["order_id"].tolist() for b in latest.batches(1000)()] == [["c"]]
    old = TableInput(curated, version=0, filters=[("date", "=", "2026-10-02")])
    assert sum(len(b) for b in old.batches(1000)()) == 0  # day 2 did not exist at version 0
    day1 = TableInput(curated, version=1, filters=[("date", "=", "2026-10-01")])
    one_pass = day1.batches(1000)
    assert sorted(x for b in one_pass(["order_id"]) for x in b["order_id"]) == ["a", "b"]
    assert sorted(x for b in one_pass() for x in b["amount"]) == [1.0, 2.0]  # a second pass, all columns
    assert set(day1.columns) == {"order_id", "amount", "date"}
    assert day1.ref.fingerprint.endswith("@v1") and day1.ref.meta["filters"] == [["date", "=", "2026-10-01"]]
