"""DAG benchmark: the demo ``orders_pipeline`` day through a real local Airflow (LocalExecutor, SQLite).

Starts its own Airflow from the venv in a temporary ``AIRFLOW_HOME`` on free ports (as the e2e tests do;
a running ``make run`` instance is not touched), runs ``orders_training`` once (the daily runs apply its
published features), then triggers ``orders_pipeline`` for the demo day ``--runs`` times (the same
partition; a re-run clears the run) and prints, per run, the time from trigger to success and each task
instance's duration as Airflow recorded it (start to end, read over the REST API), the wait from
queued to start, and from its start to its first log line and to the first line its own code logged
(after Airflow's "Pre Execute" group: DAG parse, OpenLineage start), read from the local log files.
Not part of ``make test``.

    python include/benchmarks/bench_dag.py [--runs 2] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
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


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _log_marks(af: LocalAirflow, run_id: str, ti: dict) -> tuple[str | None, str | None]:
    """Timestamps of a task attempt's first log line and of the first line its own code logged (the
    first after Airflow's "Pre Execute" group), read from the local log file."""
    attempt = max(ti.get("try_number") or 1, 1)
    path = af.home / "logs" / f"dag_id={DEMO_DAG}" / f"run_id={run_id}" / f"task_id={ti['task_id']}"
    first = own = None
    in_group = False
    with contextlib.suppress(OSError), (path / f"attempt={attempt}.log").open() as lines:
        for line in lines:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                first = first or event.get("timestamp")
                text = str(event.get("event"))
                if text.startswith("::group::"):
                    in_group = True
                elif text == "::endgroup::":
                    in_group = False
                elif not in_group and own is None:
                    own = event.get("timestamp")
                    break
    return first, own


def run_once(af: LocalAirflow, logical_date: str) -> tuple[str, float, list[dict]]:
    """Trigger the demo day, wait for it; the run's state, trigger-to-end seconds and task instances."""
    t0 = time.monotonic()
    run_id = af.trigger(DEMO_DAG, logical_date)
    run = af.wait_for_run(DEMO_DAG, run_id, poll=0.5)
    elapsed = time.monotonic() - t0
    tis = sorted(af.task_instances(DEMO_DAG, run_id), key=lambda t: t.get("start_date") or "~")
    for ti in tis:
        first, own = _log_marks(af, run_id, ti)
        ti["to_first_log"] = _seconds(ti.get("start_date"), first)
        ti["to_own_log"] = _seconds(ti.get("start_date"), own)
    return run["state"], elapsed, tis


def print_run(number: int, state: str, elapsed: float, tis: list[dict]) -> None:
    print(f"\nrun {number}: {state.upper()} - trigger to end {elapsed:.1f} s")
    header = ("duration s", "queued->start", "start->1st log", "start->own log")
    print(f"  {'task':<12} {'state':<10} " + " ".join(f"{h:>14}" for h in header))
    for ti in tis:
        values = (
            ti.get("duration"),
            _seconds(ti.get("queued_when"), ti.get("start_date")),
            ti.get("to_first_log"),
            ti.get("to_own_log"),
        )
        cells = " ".join(f"{'-':>14}" if v is None else f"{v:14.2f}" for v in values)
        print(f"  {ti['task_id']:<12} {ti.get('state') or '-':<10} {cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="demo runs of the same day (the first warms caches)")
    parser.add_argument("--date", default=DEMO_DATE, help="logical date of the demo run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow home (logs) afterwards")
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="bench_dag_"))
    af = LocalAirflow.isolated(
        base,
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
