"""A small run on disk, as the steps leave it: step results, datasets, a quarantine with outliers, a
t-SNE picture, a validation report, a curated table with an earlier partition, a quality history."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.core.dataset import DatasetWriter, Location
from dataframe_pipeline.core.quarantine import QUARANTINE_SCHEMA
from dataframe_pipeline.report.build import ReportInputs

DAY = "2026-10-09"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_dataset(path: Path, frame: pd.DataFrame | pa.Table) -> dict[str, Any]:
    writer = DatasetWriter(fsspec.filesystem("file"), str(path), uri=f"file://{path}", background=False)
    writer.write(frame)
    return writer.commit().as_dict()


def result(step: str, dataset: dict, quarantine: dict, rows_in: int, dropped: dict | None = None, **details) -> dict:
    dropped = dropped or {}
    out = dataset["rows"]
    return {
        "step": step,
        "partition": {"date": DAY},
        "dataset": dataset,
        "quarantine": quarantine,
        "accounting": {
            "rows_in": rows_in,
            "rows_out": out,
            "rows_quarantined": quarantine["rows"],
            "rows_dropped": sum(dropped.values()),
            "dropped_by_rule": dropped,
            "quarantined_by_rule": {},
            "balanced": rows_in == out + quarantine["rows"] + sum(dropped.values()),
        },
        "fitted_uri": None,
        **details,
    }


def orders(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": [f"o{seed}-{i}" for i in range(n)],
            "amount": rng.lognormal(3.0 + shift, 0.5, n).round(2),
            "quantity": rng.integers(1, 5, n),
            "country": rng.choice(["DE", "FR", "JP"], n, p=[0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5]),
            "returned": rng.integers(0, 2, n),
        }
    )


def quarantine_rows(amounts: list[float], fences: tuple[float, float]) -> pa.Table:
    rows = len(amounts)
    return pa.table(
        {
            "step": ["clean"] * rows,
            "rule": ["iqr_outliers"] * rows,
            "reason": [f"amount={a} outside [{fences[0]}, {fences[1]}] (3.0 x IQR of log)" for a in amounts],
            "source": [f"orders_{DAY}.csv:{i + 2}" for i in range(rows)],
            "input_position": list(range(rows)),
            "record": [json.dumps({"amount": a}) for a in amounts],
        },
        schema=QUARANTINE_SCHEMA,
    )


def tsne_png() -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 3))
    ax.scatter([0, 1, 2], [2, 1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_curated_delta(table: Path, frames: dict[str, pd.DataFrame]) -> None:
    from deltalake import write_deltalake

    for day, frame in frames.items():
        data = pa.Table.from_pandas(frame.assign(date=day, split="train"), preserve_index=False)
        write_deltalake(str(table), data, mode="append", partition_by=["date", "split"])


@pytest.fixture
def run(tmp_path: Path) -> dict[str, Any]:
    """The results of a run whose every step succeeded, with the lake it wrote."""
    lake = tmp_path / "lake" / "orders_pipeline" / f"date={DAY}"
    current = orders(400, seed=2, shift=0.6)
    raw = current.astype(str).assign(amount=current["amount"].astype(str))
    raw.loc[:9, "amount"] = None  # missing before cleaning, imputed by clean
    raw.loc[10:12, "country"] = None
    outliers = [9000.5, 12000.0, 0.01]
    raw_all = pd.concat([raw, pd.DataFrame({"amount": [str(a) for a in outliers]})], ignore_index=True)
    empty_q = quarantine_rows([], (0, 1))
    ingest = result(
        "ingest", write_dataset(lake / "ingest/output", raw_all), write_dataset(lake / "ingest/quarantine", empty_q),
        len(raw_all),
    )  # fmt: skip
    clean = result(
        "clean",
        write_dataset(lake / "clean/output", current),
        write_dataset(lake / "clean/quarantine", quarantine_rows(outliers, (1.25, 950.0))),
        len(raw_all),
    )
    refine_out = write_dataset(lake / "refine/output", current)
    (lake / "refine").mkdir(parents=True, exist_ok=True)
    (lake / "refine" / "tsne.png").write_bytes(tsne_png())
    enrich = result(
        "enrich", write_dataset(lake / "enrich/output", current), write_dataset(lake / "enrich/q", empty_q), 400
    )
    refine = result(
        "refine", refine_out, write_dataset(lake / "refine/quarantine", empty_q), 400,
        pictures={"tsne": f"file://{lake}/refine/tsne.png"},
    )  # fmt: skip
    report_json = lake / "validate" / "report.json"
    report_json.parent.mkdir(parents=True, exist_ok=True)
    report_json.write_text(json.dumps({"suite_name": "orders_curated", "success": True, "evaluated": 5,
                                       "successful": 5, "unsuccessful": 0, "rows": 400, "failures": []}))  # fmt: skip
    validate = {**result("validate", refine_out, write_dataset(lake / "validate/q", empty_q), 400),
                "success": True, "report_uri": f"file://{report_json}"}  # fmt: skip
    curated = tmp_path / "curated" / "orders"
    write_curated_delta(curated, {"2026-10-07": orders(300, seed=7), "2026-10-08": orders(500, seed=8)})
    store = {**result("store", refine_out, write_dataset(lake / "store/q", empty_q), 400)}
    results = {"ingest": ingest, "clean": clean, "enrich": enrich, "refine": refine, "validate": validate,
               "store": store}  # fmt: skip
    return {"results": results, "lake": lake, "curated": curated, "current": current, "tmp": tmp_path}


def inputs_of(run: dict[str, Any], **overrides: Any) -> ReportInputs:
    kwargs: dict[str, Any] = {
        "dag_id": "orders_pipeline",
        "run_id": "manual__2026-10-09T00:00:00+00:00",
        "partition": {"date": DAY},
        "results": run["results"],
        "resolve": Location.local,
        "states": dict.fromkeys(run["results"], "success"),
        "curated_table": Location.local(str(run["curated"])),
    }
    kwargs.update(overrides)
    return ReportInputs(**kwargs)


def png_ok(data: bytes, min_size: int = 2000) -> bool:
    return data.startswith(PNG_SIGNATURE) and len(data) > min_size
