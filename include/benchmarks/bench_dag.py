"""DAG benchmark: the demo ``orders_pipeline`` day through a real local Airflow (LocalExecutor, SQLite).

Starts its own Airflow from the venv in a temporary ``AIRFLOW_HOME`` on free ports (as the e2e tests do;
a running ``make run`` instance is not touched), runs ``orders_training`` once (the daily runs apply its
published features), then triggers ``orders_pipeline`` for the demo day ``--runs`` times (the same
partition; a re-run clears the run) and prints, per run, the time from trigger to success and each task
instance's duration as Airflow recorded it (start to end), read over the REST API. Not part of
``make test``.

    python include/benchmarks/bench_dag.py [--runs 2] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from include.scripts.local_airflow import (  # noqa: E402 - needs the path above
    DEMO_DAG,
    DEMO_DATE,
    LocalAirflow,
    prepare_demo_data,
    train,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run_once(af: LocalAirflow, logical_date: str) -> tuple[str, float, list[dict]]:
    """Trigger the demo day, wait for it; the run's state, trigger-to-end seconds and task instances."""
    t0 = time.monotonic()
    run_id = af.trigger(DEMO_DAG, logical_date)
    run = af.wait_for_run(DEMO_DAG, run_id, poll=0.5)
    elapsed = time.monotonic() - t0
    tis = sorted(af.task_instances(DEMO_DAG, run_id), key=lambda t: t.get("start_date") or "~")
    return run["state"], elapsed, tis


def print_run(number: int, state: str, elapsed: float, tis: list[dict]) -> None:
    print(f"\nrun {number}: {state.upper()} - trigger to end {elapsed:.1f} s")
    print(f"  {'task':<12} {'state':<10} {'duration s':>10}  {'queued->start s':>15}")
    for ti in tis:
        duration = ti.get("duration")
        wait = _seconds(ti.get("queued_when"), ti.get("start_date"))
        print(
            f"  {ti['task_id']:<12} {ti.get('state') or '-':<10} "
            f"{'-' if duration is None else f'{duration:10.2f}':>10}  {'-' if wait is None else f'{wait:15.2f}':>15}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="demo runs of the same day (the first warms caches)")
    parser.add_argument("--date", default=DEMO_DATE, help="logical date of the demo run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow home (logs) afterwards")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="bench_dag_"))
    af = LocalAirflow(
        home=base / "airflow",
        port=_free_port(),
        data_dir=base / "data",
        demo_api_port=_free_port(),
        log_server_ports=(_free_port(), _free_port()),
        extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"},  # only the runs triggered here
    )
    results: list[tuple[str, float, list[dict]]] = []
    try:
        t0 = time.monotonic()
        prepare_demo_data()
        af.start(timeout=240)
        print(f"Airflow healthy at {af.base_url} after {time.monotonic() - t0:.1f} s (home {af.home})")
        af.load_settings()
        train(af)
        af.wait_for_dag(DEMO_DAG)
        af.unpause(DEMO_DAG)
        for number in range(1, args.runs + 1):
            state, elapsed, tis = run_once(af, args.date)
            results.append((state, elapsed, tis))
            print_run(number, state, elapsed, tis)
    finally:
        af.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    ok = [elapsed for state, elapsed, _ in results if state == "success"]
    if ok:
        print(f"\ntrigger to success: median {statistics.median(ok):.1f} s over {len(ok)} run(s)")
    return 0 if results and len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
