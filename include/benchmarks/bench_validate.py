"""Validate benchmark: the validate step's operator on orders-like data with the orders suite.

The project's side runs ``ValidateOperator.execute()`` in its own process, as an Airflow task would,
on a committed lake dataset of curated orders (generated once per row count, cached in ``.bench/``)
with ``include/expectations/orders_curated.json`` (23 expectations: column existence, nulls, ranges,
sets, a regex, uniqueness of ``order_id``, the row count; and its monitors). It prints rows/s and the
process's peak RSS.

Baseline, measured in the same run and each in its own process: GX on the whole pandas frame (the
dataset read into memory with pandas, then the same suite validated by GX core in one go), which is
what the validate step did before it streamed (GX's import, ~3-5 s, is outside the clock on both
sides); it runs only up to ``--baseline-max`` rows (default 5M:
beyond that the whole frame does not fit the machine's memory budget). The "read" line is pandas
reading the same data, the floor of any validation that looks at every row.

    python include/benchmarks/bench_validate.py [--rows 5000000] [--rows 20000000]
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
SUITE = PROJECT / "include" / "expectations" / "orders_curated.json"
COUNTRIES = ["US", "DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "JP", "AU", "CA"]
CHANNELS = ["web", "app", "store", "phone", "partner"]


def generate(rows: int) -> Path:
    """Curated orders as a committed lake dataset (cached per row count), written 1M rows at a time."""
    import fsspec
    import numpy as np
    import pandas as pd

    from dataframe_pipeline.core.dataset import DatasetWriter

    path = WORK / f"validate_orders_{rows}_v2"  # v2: with unit_price (bump when the columns change)
    if (path / "_manifest.json").exists():
        return path
    rng = np.random.default_rng(11)
    chunk = 1_000_000
    with DatasetWriter(fsspec.filesystem("file"), str(path), uri=path.as_uri(), attempt_id="bench") as out:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = np.arange(start, start + n)
            customers = rng.integers(0, max(rows // 20, 1), n)
            frame = pd.DataFrame(
                {
                    "order_id": pd.Series(ids).map("O{:010d}".format),
                    "customer_id": pd.Series(customers).map("C{:07d}".format),
                    "customer_email": pd.Series(customers).map("user{}@example.com".format),
                    "order_ts": pd.Timestamp("2026-10-01", tz="UTC")
                    + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
                    "country": rng.choice(COUNTRIES, n),
                    "channel": rng.choice(CHANNELS, n),
                    "amount": np.round(rng.lognormal(3.5, 0.6, n), 2),
                    "quantity": rng.integers(1, 11, n),
                    "unit_price": np.round(rng.lognormal(3.0, 0.8, n) + 0.01, 2),
                    "returned": rng.integers(0, 2, n),
                    "split": np.where(rng.random(n) < 0.8, "train", "test"),
                    "amount_scaled": rng.normal(size=n),
                }
            )
            frame.index = pd.RangeIndex(start, start + n)
            out.write(frame)
        out.commit({"bench": "validate"})
    return path


def run_validate(args: argparse.Namespace) -> tuple[dict, float]:
    import great_expectations  # noqa: F401 - imported before the clock starts, as for the baseline

    from dataframe_pipeline.validate.operators import ValidateOperator

    op = ValidateOperator(
        task_id="validate",
        input_dataset=Path(args.source).resolve().as_uri(),
        suite=str(SUITE),
        storage_root=(WORK / "lake").as_uri(),
    )
    context = {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 1, tzinfo=UTC), run_id="bench"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "bench",
    }
    start = time.perf_counter()
    result = op.execute(context)
    validation = result["validation"]
    return {"success": validation["success"], "statistics": validation["statistics"]}, time.perf_counter() - start


def _read(source: str):
    import fsspec

    from dataframe_pipeline.core.dataset import DatasetReader

    return DatasetReader(fsspec.filesystem("file"), source).read_pandas()


def run_gx_whole_frame(args: argparse.Namespace) -> tuple[dict, float]:
    import great_expectations  # noqa: F401 - the import is start-up, not work, as on the project's side

    from dataframe_pipeline.validate.expectations import load_suite, run_suite

    suite = load_suite(SUITE)
    start = time.perf_counter()
    report = run_suite(suite, _read(args.source))
    return {"success": report.success, "evaluated": report.evaluated}, time.perf_counter() - start


def run_read(args: argparse.Namespace) -> tuple[dict, float]:
    start = time.perf_counter()
    frame = _read(args.source)
    return {"rows": len(frame)}, time.perf_counter() - start


def child(args: argparse.Namespace) -> int:
    runner = {"validate": run_validate, "gx": run_gx_whole_frame, "read": run_read}[args.step]
    result, seconds = runner(args)
    print(json.dumps({"result": result, "seconds": seconds, "peak_mb": peak_rss_mb()}, default=str))
    return 0


def spawn(step: str, source: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", "--step", step, "--source", str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def line(name: str, rows: int, run: dict) -> str:
    return (
        f"  {name:<16}{run['seconds']:>8.2f}s  peak {run['peak_mb']:>6.0f} MB  {rows / run['seconds']:>11,.0f} rows/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="5000000", help="comma-separated row counts")
    parser.add_argument("--baseline-max", type=int, default=5_000_000, help="largest row count of the GX baseline")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    for rows in (int(r) for r in args.rows.split(",")):
        source = generate(rows)
        print(f"\nvalidate benchmark, {rows:,} rows, suite {SUITE.name}")
        ours = spawn("validate", source)
        print(line("validate (ours)", rows, ours) + f"  verdict: {ours['result']}")
        if rows <= args.baseline_max:
            gx = spawn("gx", source)
            print(line("GX whole frame", rows, gx) + f"  verdict: {gx['result']}")
            print(
                f"  streaming: x{gx['seconds'] / ours['seconds']:.2f} the throughput of GX on the whole frame, "
                f"x{ours['peak_mb'] / gx['peak_mb']:.2f} its peak memory"
            )
        else:
            print(f"  (GX on the whole frame not run above {args.baseline_max:,} rows)")
        read = spawn("read", source)
        print(line("pandas read", rows, read) + "  (reading the data alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
