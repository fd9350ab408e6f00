"""`make status` (``local_airflow.py status``) against the tier's real Airflow: every component it started
listed as running with its pid, the scheduler's, triggerer's and dag-processor's health with heartbeats,
and the last run of each DAG: the success of ``orders_training`` (the fixture ran it), a failed run of
``curated_rollback`` with its failed task, and DAGs never run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.scripts.local_airflow import COMPONENTS, DEMO_API, STATUS_OK, TRAINING_DAG, LocalAirflow

pytestmark = pytest.mark.timeout(600)
SCRIPT = Path(__file__).resolve().parents[2] / "include" / "scripts" / "local_airflow.py"
ROLLBACK = "curated_rollback"  # used by no other e2e test: its failed run changes nobody's expectations


def _status(af: LocalAirflow, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as `make status` runs it, finding the instance by its home (no AIRFLOW_PORT)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_PORT", "DEMO_API_PORT")}
    cmd = [sys.executable, str(SCRIPT), "--home", str(af.home), "status", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=120)


@pytest.fixture(scope="module")
def failed_rollback(airflow: LocalAirflow) -> dict:
    """A run of curated_rollback that fails at once (no such table), so status has a failed run to show."""
    airflow.wait_for_dag(ROLLBACK)
    airflow.unpause(ROLLBACK)
    conf = {"table": "no_such_table_for_status", "version": 0, "reason": "e2e status"}
    run_id = airflow.trigger(ROLLBACK, None, conf=conf)
    run = airflow.wait_for_run(ROLLBACK, run_id, timeout=240)
    assert run["state"] == "failed", run
    return run


def test_status_lists_every_component_running_and_the_last_run_of_each_dag(
    airflow: LocalAirflow, failed_rollback: dict
) -> None:
    proc = _status(airflow, "--json")
    assert proc.returncode == STATUS_OK, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["url"] == airflow.base_url and report["healthy"] is True
    pids = airflow.running()
    for name in (*COMPONENTS, DEMO_API):
        entry = report["components"][name]
        assert entry["state"] == "running", (name, entry)
        assert entry["pid"] == pids[name]
    for name in ("scheduler", "dag-processor", "triggerer"):
        assert report["components"][name]["health"] == "healthy"
        assert report["components"][name]["heartbeat"], name  # the latest heartbeat, shown with its age
    assert report["health"]["metadatabase"]["status"] == "healthy"
    assert report["running"] == pids  # the keys scripts read before stay

    dags = {d["dag_id"]: d for d in report["dags"]}
    listed = airflow.api("GET", "/dags?limit=1000")["dags"]
    assert set(dags) == {d["dag_id"] for d in listed}  # every DAG, paused or not
    training = dags[TRAINING_DAG]["last_run"]
    assert training["state"] == "success" and training["end_date"] and training["duration"] > 0
    rollback = dags[ROLLBACK]["last_run"]
    assert rollback["dag_run_id"] == failed_rollback["dag_run_id"]
    assert (rollback["state"], rollback["failed_tasks"]) == ("failed", ["rollback"])
    never = [d for d in dags.values() if d["runs"] == 0]
    assert never and all(d["last_run"] is None for d in never)

    # what a person reads: the same facts as lines
    text = _status(airflow)
    assert text.returncode == STATUS_OK, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"Airflow at {airflow.base_url}: running and healthy"
    for name in (*COMPONENTS, DEMO_API):
        line = next(line for line in lines if line.split()[:1] == [name])
        assert f"running (pid {pids[name]})" in line, line
    scheduler = next(line for line in lines if line.split()[:1] == ["scheduler"])
    assert "healthy, last heartbeat 20" in scheduler and "ago)" in scheduler
    assert any(ln.split()[:3] == [TRAINING_DAG, "paused", "success"] or
               ln.split()[:3] == [TRAINING_DAG, "active", "success"] for ln in lines)  # fmt: skip
    rollback_at = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [ROLLBACK])
    assert lines[rollback_at].split()[2:5] == ["failed", "logical", "date"], lines[rollback_at]
    assert "ended " in lines[rollback_at] and " ago after " in lines[rollback_at]
    assert lines[rollback_at + 1].strip() == f"run {failed_rollback['dag_run_id']}; failed tasks: rollback"
    assert sum("never run" in ln for ln in lines) == len(never)
