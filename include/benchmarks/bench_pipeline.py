"""Pipeline benchmark (issue 4's reference workload): CSV -> ingest -> clean -> enrich -> refine -> Parquet.

The project's side runs each step's operator ``execute()`` in its own process, as an Airflow task
would (every intermediate write included), without the scheduler. The baseline is the same work
as a plain single-process pandas script. Both are measured in this run on the same generated file;
the script checks they keep the same rows.

Workload: orders with ~1% exact duplicate rows, ~3% missing amounts, 0.5% extreme amounts, ~1%
malformed emails, ~0.1% unparseable timestamps, 30 countries, 5 channels, a short note. Steps: drop
exact duplicates, parse timestamps, impute the mean amount, drop 1.5 x IQR outliers of amount and
quantity, drop malformed emails, one-hot country and channel, standard-scale the numbers, 3 PCA
components, write Parquet.

The last line of each table is the floor of this design: the same CSV streamed to Parquet and each
intermediate dataset read and written again with Arrow alone (no pandas, no transform), plus the
imports of a step process. No implementation of the four separate tasks can beat it on the machine
it is measured on.

    python include/benchmarks/bench_pipeline.py [--rows 1000000,5000000]
    python include/benchmarks/bench_pipeline.py --rows 50000000 --no-baseline   # make bench-scale

``--no-baseline`` runs only the project's steps (beyond RAM: pandas cannot hold 50M rows of this file
in 24 GB), and prints the wall time, rows/s and peak memory of each step and whether every step stayed
within ``--memory-limit-mb`` (exit code 1 when not).
"""

from __future__ import annotations

import argparse
import json
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
COUNTRIES = [f"C{i:02d}" for i in range(30)]
CHANNELS = ["web", "app", "store", "phone", "partner"]
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def generate(rows: int) -> Path:
    """The dirty orders CSV (cached per row count), written in chunks."""
    import numpy as np
    import pandas as pd

    path = WORK / f"pipeline_orders_{rows}.csv"
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(7)
    chunk = 1_000_000
    with open(tmp, "w") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start + 1, start + n + 1)
            amount = np.round(rng.lognormal(3.5, 0.6, n), 2).astype(object)
            extreme = rng.random(n) < 0.005
            amount[extreme] = np.round(np.asarray(amount[extreme], float) * 500, 2)
            amount[rng.random(n) < 0.03] = ""
            ts = (pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86_400 * 300, n), unit="s")).astype(str)
            ts = np.asarray(ts, dtype=object)
            ts[rng.random(n) < 0.001] = "not a date"
            email = np.char.add(np.char.add("user", ids.astype(str)), "@example.com").astype(object)
            bad = rng.random(n) < 0.01
            email[bad] = np.char.replace(email[bad].astype(str), "@", " at ")
            frame = pd.DataFrame(
                {
                    "order_id": ids,
                    "order_ts": ts,
                    "email": email,
                    "country": rng.choice(COUNTRIES, n),
                    "channel": rng.choice(CHANNELS, n),
                    "quantity": rng.integers(1, 6, n),
                    "amount": amount,
                    "note": rng.choice(["fast delivery", "gift", "call first", "leave at door", "none"], n),
                }
            )
            dup = frame.sample(frac=0.01, random_state=start)
            frame = pd.concat([frame, dup]).sort_index(kind="stable")
            frame.to_csv(fh, index=False, header=start == 0)
    tmp.rename(path)
    return path


# -- the project's side: the operators' execute(), one process per step --------------------------
def step_operator(step: str, source: Path, previous: dict | None, root: str):
    from dataframe_pipeline.clean.operators import CleanOperator
    from dataframe_pipeline.enrich.operators import EnrichOperator
    from dataframe_pipeline.ingest.operators import FileIngestOperator
    from dataframe_pipeline.refine.operators import RefineOperator

    features = ["amount_scaled", "quantity_scaled"] + [f"country_{c}" for c in COUNTRIES]
    features += [f"channel_{c}" for c in CHANNELS]
    if step == "ingest":
        return FileIngestOperator(task_id=step, source=str(source), storage_root=root)
    if step == "clean":
        transforms = [
            {"exact_duplicates": {}},
            {
                "coerce_types": {
                    "types": {
                        "order_ts": {"type": "datetime", "utc": True},
                        "email": "email",
                        "amount": "float",
                        "quantity": "int",
                    }
                }
            },
            {"missing_values": {"strategies": {"amount": "mean"}}},
            {"iqr_outliers": {"columns": ["amount", "quantity"], "factor": 1.5, "action": "drop"}},
        ]
        return CleanOperator(task_id=step, input_dataset=previous, storage_root=root, transforms=transforms)
    if step == "enrich":
        transforms = [
            {"one_hot": {"columns": ["country", "channel"], "drop_input": False}},
            {"standard_scale": {"columns": ["amount", "quantity"], "suffix": "_scaled"}},
        ]
        return EnrichOperator(task_id=step, input_dataset=previous, storage_root=root, transforms=transforms)
    transforms = [{"pca": {"columns": features, "n_components": 3}}]
    return RefineOperator(task_id=step, input_dataset=previous, storage_root=root, transforms=transforms)


def run_step(args: argparse.Namespace) -> tuple[dict, float]:
    """Build the operator (imports are the worker's start-up, not the task's work), then time execute()."""
    previous = json.loads(args.previous) if args.previous else None
    op = step_operator(args.step, Path(args.source), previous, (WORK / "lake").as_uri())
    context = {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 1, tzinfo=UTC), run_id="bench"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "bench",
    }
    start = time.perf_counter()
    result = op.execute(context)
    return result, time.perf_counter() - start


# -- the baseline: the same work in plain pandas ---------------------------------------------------
def run_baseline(args: argparse.Namespace) -> tuple[dict, float]:
    import pandas as pd
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    df = pd.read_csv(args.source, dtype={"amount": "float64"})
    df = df.drop_duplicates()
    df["order_ts"] = pd.to_datetime(df["order_ts"], errors="coerce", utc=True, format="ISO8601")
    df = df[df["order_ts"].notna() & df["email"].str.match(EMAIL)]
    df["amount"] = df["amount"].fillna(df["amount"].mean())
    keep = pd.Series(True, index=df.index)
    for column in ("amount", "quantity"):  # fences of both columns from the same data
        q1, q3 = df[column].quantile([0.25, 0.75])
        keep &= df[column].between(q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))
    df = df[keep]
    df = pd.get_dummies(df, columns=["country", "channel"], dtype="uint8")
    df[["amount_scaled", "quantity_scaled"]] = StandardScaler().fit_transform(df[["amount", "quantity"]])
    features = ["amount_scaled", "quantity_scaled"] + [c for c in df.columns if c.startswith(("country_", "channel_"))]
    pcs = PCA(n_components=3, random_state=0).fit_transform(df[features])
    df[["pc1", "pc2", "pc3"]] = pcs
    out = WORK / "baseline.parquet"
    df.to_parquet(out)
    return {"rows": len(df), "ids": str(out)}, time.perf_counter() - start


# -- the floor of this design: what the steps cost before doing any work --------------------------
def run_floor(args: argparse.Namespace) -> tuple[dict, float]:
    """Arrow only, no transform: the CSV streamed to Parquet, then each intermediate dataset read and
    written again (the four tasks' unavoidable I/O), plus the imports a step with fitted state pays."""
    import time

    import_start = time.perf_counter()
    import fsspec
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    import skops.io  # noqa: F401 - the imports are part of the floor

    from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter
    from dataframe_pipeline.core.settings import compression

    imports = time.perf_counter() - import_start
    codec = compression()  # the codec the steps write with
    fs = fsspec.filesystem("file")
    start = time.perf_counter()
    reader = pa_csv.open_csv(args.source, read_options=pa_csv.ReadOptions(block_size=1 << 23))
    with pq.ParquetWriter(WORK / "floor.parquet", reader.schema, compression=codec) as writer:
        for batch in reader:
            writer.write_batch(batch)
    timings = {"csv_to_parquet": time.perf_counter() - start}
    for dataset in json.loads(args.previous):
        step_start = time.perf_counter()
        source = DatasetReader(fs, dataset.removeprefix("file://"))
        with DatasetWriter(fs, str(WORK / "floor_dataset"), compression=codec) as out:
            for table in source.iter_tables():
                out.write(table)
            out.commit()
        timings[dataset.rsplit("/", 2)[-2]] = time.perf_counter() - step_start
    # a step process pays the imports once; ingest needs no scikit-learn, the three others do
    total = sum(timings.values()) + 3 * imports
    return {"timings": timings, "imports": imports}, total


def child(args: argparse.Namespace) -> int:
    runner = {"baseline": run_baseline, "floor": run_floor}.get(args.step, run_step)
    result, seconds = runner(args)
    print(json.dumps({"result": result, "seconds": seconds, "peak_mb": peak_rss_mb()}, default=str))
    return 0


def spawn(step: str, source: Path, previous: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--step", step, "--source", str(source)]
    if previous is not None:
        cmd += ["--previous", json.dumps(previous)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same_rows(project_result: dict, baseline: dict) -> bool:
    import pyarrow.dataset as pads

    uri = project_result["dataset"]["uri"].removeprefix("file://")
    ours = pads.dataset(uri, format="parquet", exclude_invalid_files=True).to_table(columns=["order_id"])
    theirs = pads.dataset(baseline["ids"], format="parquet").to_table(columns=["order_id"])

    def ids(table: object) -> list[int]:
        return sorted(int(x) for x in table.column("order_id").to_pylist())

    return ids(ours) == ids(theirs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,5000000")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--previous", help=argparse.SUPPRESS)
    parser.add_argument("--no-baseline", action="store_true", help="only the project's steps (no pandas, no floor)")
    parser.add_argument("--memory-limit-mb", type=float, default=1200.0, help="the peak memory allowed per step")
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    for rows in (int(r) for r in args.rows.split(",")):
        source = generate(rows)
        print(f"\npipeline benchmark, {rows:,} generated rows ({source.stat().st_size / 1e6:.0f} MB CSV)")
        previous, total, peak, outputs = None, 0.0, 0.0, []
        for step in ("ingest", "clean", "enrich", "refine"):
            run = spawn(step, source, previous)
            previous = run["result"]
            outputs.append(previous["dataset"]["uri"])
            total += run["seconds"]
            peak = max(peak, run["peak_mb"])
            acct = previous["accounting"]
            rate = acct["rows_in"] / run["seconds"]
            print(
                f"  {step:<7}{run['seconds']:>8.2f}s{run['peak_mb']:>8.0f} MB {rate:>10,.0f} rows/s  "
                f"in={acct['rows_in']:,} out={acct['rows_out']:,} quarantined={acct['rows_quarantined']:,} "
                f"dropped={acct['rows_dropped']:,}"
            )
        print(f"  {'project':<9}{total:>8.2f}s  peak {peak:>6.0f} MB  {rows / total:>10,.0f} rows/s")
        if args.no_baseline:
            within = peak <= args.memory_limit_mb
            print(f"  every step within {args.memory_limit_mb:,.0f} MB: {'yes' if within else 'NO'}")
            if not within:
                return 1
            continue
        base = spawn("baseline", source)
        equal = same_rows(previous, base["result"])
        base_rate = rows / base["seconds"]
        print(f"  {'pandas':<9}{base['seconds']:>8.2f}s  peak {base['peak_mb']:>6.0f} MB  {base_rate:>10,.0f} rows/s")
        print(
            f"  throughput x{base['seconds'] / total:.2f} of pandas, peak memory x{peak / base['peak_mb']:.2f}; "
            f"same rows: {'yes' if equal else 'NO'} ({previous['dataset']['rows']:,} vs {base['result']['rows']:,})"
        )
        floor = spawn("floor", source, outputs[:3])
        print(
            f"  {'floor':<9}{floor['seconds']:>8.2f}s  (the four tasks' Arrow-only I/O and imports, no work): "
            f"x{base['seconds'] / floor['seconds']:.2f} of pandas"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
