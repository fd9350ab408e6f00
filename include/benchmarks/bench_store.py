"""Store benchmark: the store step publishing an orders-like refine output to a Delta table, against
pyarrow writing the same rows to plain Parquet, measured in the same run.

The project's side runs ``DeltaStoreOperator.execute()`` in its own process, as an Airflow task would
(read the lake dataset in batches, publish the partition ``date=.../split=...`` as one Delta commit with
its manifest). The baseline streams the same dataset with pyarrow alone into one zstd Parquet file per
split: no Delta log, no manifest, no checks. Both report wall time of the work (imports excluded),
rows/s and the process's peak resident memory (VmHWM).

The input is generated once per row count under ``.bench/`` (a lake dataset like refine's output:
ids, timestamps, categories, amounts, scaled numbers, 3 principal components, the split and the
provenance columns).

    python include/benchmarks/bench_store.py [--rows 5000000] [--target-file-size 33554432]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

PROJECT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from include.benchmarks.measure import peak_rss_mb  # noqa: E402 - needs the path above

WORK = PROJECT / ".bench"
CHUNK = 500_000


def generate(rows: int) -> Path:
    """The refine-like input dataset (cached per row count), written in chunks."""
    import fsspec
    import numpy as np
    import pandas as pd

    from dataframe_pipeline.core.dataset import DatasetWriter

    path = WORK / f"store_input_{rows}"
    if (path / "_manifest.json").exists():
        return path
    rng = np.random.default_rng(11)
    countries = np.array([f"C{i:02d}" for i in range(30)])
    with DatasetWriter(fsspec.filesystem("file"), str(path), compression="lz4") as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            amount = np.round(rng.lognormal(3.5, 0.6, n), 2)
            quantity = rng.integers(1, 9, n)
            frame = pd.DataFrame(
                {
                    "order_id": np.arange(start, start + n),
                    "customer_id": np.char.add("K", rng.integers(0, 50_000, n).astype(str)),
                    "order_ts": pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, n), "s"),
                    "country": countries[rng.integers(0, 30, n)],
                    "amount": amount,
                    "quantity": quantity,
                    "amount_scaled": (amount - 40) / 25,
                    "quantity_scaled": (quantity - 4.5) / 2.3,
                    "pc1": rng.normal(size=n),
                    "pc2": rng.normal(size=n),
                    "pc3": rng.normal(size=n),
                    "split": np.where(rng.random(n) < 0.8, "train", "test"),
                    "_source_file": "orders_2026-10-01.csv",
                    "_source_line": np.arange(start + 2, start + n + 2),
                }
            )
            writer.write(frame)
        writer.commit({"step": "bench"})
    return path


def run_store(source: Path, target_file_size: int | None) -> tuple[dict, float]:
    from dataframe_pipeline.store.operators import DeltaStoreOperator

    curated = WORK / "store_curated"
    shutil.rmtree(curated, ignore_errors=True)
    op = DeltaStoreOperator(
        task_id="store", input_dataset=source.as_uri(), dataset_name="orders", subpartition_by="split",
        curated_root=curated.as_uri(), storage_root=(WORK / "store_lake").as_uri(), target_file_size=target_file_size,
    )  # fmt: skip
    context = {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 1, tzinfo=UTC), run_id="bench"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "bench",
    }
    started = time.perf_counter()
    result = op.execute(context)
    seconds = time.perf_counter() - started
    return {"rows": result["rows"], "files": len(result["files"]), "version": result["version"]}, seconds


def run_baseline(source: Path, _: int | None = None) -> tuple[dict, float]:
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    target = WORK / "store_baseline"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    dataset = pads.dataset(str(source), format="parquet", exclude_invalid_files=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows = 0
    for batch in dataset.to_batches(batch_size=100_000):
        for split in ("train", "test"):
            part = batch.filter(pc.equal(batch.column("split"), split))
            if split not in writers:
                (target / f"split={split}").mkdir(parents=True, exist_ok=True)
                path = target / f"split={split}" / "part-0.parquet"
                writers[split] = pq.ParquetWriter(path, part.schema, compression="zstd")
            writers[split].write_batch(part)
            rows += part.num_rows
    for writer in writers.values():
        writer.close()
    return {"rows": rows, "files": len(writers)}, time.perf_counter() - started


def child(step: str, source: Path, target_file_size: int | None) -> int:
    result, seconds = (run_store if step == "store" else run_baseline)(source, target_file_size)
    print(json.dumps({"result": result, "seconds": seconds, "peak_mb": peak_rss_mb()}))
    return 0


def spawn(step: str, source: Path, target_file_size: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--source", str(source)]
    if target_file_size is not None:
        cmd += ["--target-file-size", str(target_file_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--target-file-size", type=int, help="the store step's target_file_size (bytes)")
    parser.add_argument("--child", choices=["store", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, Path(args.source), args.target_file_size)
    source = generate(args.rows)
    print(f"\nstore benchmark, {args.rows:,} rows of a refine-like dataset")
    for name, step in (("delta store", "store"), ("pyarrow", "baseline")):
        run = spawn(step, source, args.target_file_size)
        rows = run["result"]["rows"]
        if rows != args.rows:
            raise SystemExit(f"{name} wrote {rows} rows of {args.rows}")
        print(
            f"  {name:<12}{run['seconds']:>8.2f}s  peak {run['peak_mb']:>6.0f} MB  "
            f"{rows / run['seconds']:>10,.0f} rows/s  ({run['result']['files']} files)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
