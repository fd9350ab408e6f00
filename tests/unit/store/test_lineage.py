"""Row-level lineage: a curated orders row traces back to its file and line, through the orders
pipeline's own clean, enrich and refine chains and the store step."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.refine.operators import RefineOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.store.tables import read_table

ROOT = Path(__file__).resolve().parents[3]
DAY = "2026-10-28"


def rendered(chain: list) -> list:
    """The DAG's chain with its params at their defaults (what Airflow renders at run time)."""
    text = json.dumps(chain)
    for template, value in (
        ('"{{ params.pca_components }}"', "2"),
        ('"{{ 1 - params.test_fraction }}"', "0.8"),
        ('"{{ params.test_fraction }}"', "0.2"),
    ):
        text = text.replace(template, value)
    assert "{{" not in text
    return json.loads(text)


def test_a_curated_order_traces_back_to_its_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / f"orders_{DAY}.csv"
    shutil.copy(ROOT / "include" / "data" / "orders" / source.name, source)
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    lake, curated = (tmp_path / "lake").as_uri(), (tmp_path / "curated").as_uri()
    config = load_pipeline_config("orders_pipeline")
    ctx = {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 28, tzinfo=UTC), run_id="r"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "r",
    }
    result = FileIngestOperator(task_id="ingest", source=str(source), storage_root=lake).execute(ctx)
    for cls, step, extra in (
        (CleanOperator, "clean", {}),
        (EnrichOperator, "enrich", {}),
        (RefineOperator, "refine", {"split_outputs": "split"}),
    ):
        result = cls(
            task_id=step, input_dataset=result, storage_root=lake, transforms=rendered(config[step]), **extra
        ).execute(ctx)
    stored = DeltaStoreOperator(
        task_id="store", input_dataset=result, dataset_name="orders", subpartition_by="split",
        curated_root=curated, storage_root=lake,
    ).execute(ctx)  # fmt: skip

    table = read_table(stored["table_uri"], columns=["order_id", "customer_id", "_source_file", "_source_line"])
    assert table.num_rows == stored["rows"] > 250
    lines = source.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    for row in table.to_pylist()[::25]:
        assert row["_source_file"].endswith(source.name)
        record = dict(zip(header, next(csv.reader([lines[row["_source_line"] - 1]])), strict=False))
        assert record["order_id"].strip() == row["order_id"]
        assert record["customer_id"].strip() == row["customer_id"]
