"""The REST lifecycle through the official client (``apache-airflow-client``), as an operator would use it:
trigger with validated conf, a repeated run id, a backfill and its repetition, clearing a task, reading a
failed task's log, no token, a read-only user. Each recipe is shown in the README with curl and the client.

Days used here and nowhere else in the e2e tier: 2026-10-16..22 (backfill), 2026-10-23 (trigger, clear),
2026-10-24 (a manual run without logical date, the day in the ``partition`` param).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import curated

airflow_client = pytest.importorskip("airflow_client.client")
from airflow_client.client import ApiClient, Configuration  # noqa: E402
from airflow_client.client.api.backfill_api import BackfillApi  # noqa: E402
from airflow_client.client.api.dag_api import DAGApi  # noqa: E402
from airflow_client.client.api.dag_run_api import DagRunApi  # noqa: E402
from airflow_client.client.api.task_instance_api import TaskInstanceApi  # noqa: E402
from airflow_client.client.api.x_com_api import XComApi  # noqa: E402
from airflow_client.client.exceptions import ApiException  # noqa: E402
from airflow_client.client.models.backfill_post_body import BackfillPostBody  # noqa: E402
from airflow_client.client.models.clear_task_instances_body import ClearTaskInstancesBody  # noqa: E402
from airflow_client.client.models.clear_task_instances_body_task_ids_inner import (  # noqa: E402
    ClearTaskInstancesBodyTaskIdsInner,
)
from airflow_client.client.models.reprocess_behavior import ReprocessBehavior  # noqa: E402
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody  # noqa: E402

pytestmark = pytest.mark.timeout(1200)

DAG_ID = "orders_pipeline"
BACKFILL_DAYS = [f"2026-10-{d}" for d in range(16, 23)]
TRIGGER_DAY = "2026-10-23"
UI_DAY = "2026-10-24"


def _client(af: LocalAirflow, token: str | None) -> ApiClient:
    return ApiClient(Configuration(host=af.base_url, access_token=token))


@pytest.fixture(scope="module")
def api(airflow: LocalAirflow) -> ApiClient:
    airflow.wait_for_dag(DAG_ID)
    airflow.unpause(DAG_ID)
    return _client(airflow, airflow.token())


def _wait(api: ApiClient, run_id: str, timeout: float = 600) -> str:
    runs = DagRunApi(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = str(runs.get_dag_run(DAG_ID, run_id).state.value)
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f}s")


def _runs_between(api: ApiClient, first: str, last: str) -> list:
    return (
        DagRunApi(api)
        .get_dag_runs(
            DAG_ID,
            logical_date_gte=datetime.fromisoformat(f"{first}T00:00:00+00:00"),
            logical_date_lte=datetime.fromisoformat(f"{last}T00:00:00+00:00"),
            limit=100,
        )
        .dag_runs
    )


def _store_result(api: ApiClient, run_id: str) -> dict:
    entry = XComApi(api).get_xcom_entry(DAG_ID, "store", run_id, "return_value", deserialize=True)
    return entry.actual_instance.value


def _log_text(api: ApiClient, run_id: str, task_id: str, try_number: int) -> str:
    content = TaskInstanceApi(api).get_log(DAG_ID, run_id, task_id, try_number, full_content=True).content
    lines = []
    for entry in content.actual_instance if hasattr(content, "actual_instance") else content:
        item = entry.to_dict() if hasattr(entry, "to_dict") else entry
        if isinstance(item, dict):
            lines.append(str(item.get("event", "")))
            lines += [f"{e.get('exc_type')}: {e.get('exc_value')}" for e in item.get("error_detail") or []]
            lines += [str(v) for k, v in item.items() if k not in ("event", "error_detail", "timestamp")]
        else:
            lines.append(str(item))
    return "\n".join(lines)


def test_bad_conf_is_refused_with_the_reason_and_creates_no_run(api: ApiClient) -> None:
    runs = DagRunApi(api)
    body = TriggerDAGRunPostBody(dag_run_id="rest_bad_conf", logical_date=None, conf={"test_fraction": 0.9})
    with pytest.raises(ApiException) as err:
        runs.trigger_dag_run(DAG_ID, body)
    assert err.value.status == 400
    assert "test_fraction" in err.value.body and "0.9 is greater than the maximum of 0.5" in err.value.body
    with pytest.raises(ApiException) as missing:
        runs.get_dag_run(DAG_ID, "rest_bad_conf")
    assert missing.value.status == 404


def test_trigger_a_repeated_run_id_and_clear(airflow: LocalAirflow, api: ApiClient) -> None:
    runs, tis = DagRunApi(api), TaskInstanceApi(api)
    run_id = f"rest_{TRIGGER_DAY}"
    body = TriggerDAGRunPostBody(
        dag_run_id=run_id, logical_date=datetime.fromisoformat(f"{TRIGGER_DAY}T00:00:00+00:00"), conf={}
    )
    assert runs.trigger_dag_run(DAG_ID, body).dag_run_id == run_id
    with pytest.raises(ApiException) as conflict:
        runs.trigger_dag_run(DAG_ID, body)
    assert conflict.value.status == 409
    assert [r.dag_run_id for r in _runs_between(api, TRIGGER_DAY, TRIGGER_DAY)] == [run_id]
    assert _wait(api, run_id) == "success"
    store_before = _store_result(api, run_id)
    rows_before = curated(airflow, "orders", TRIGGER_DAY)

    # clear one task (and what follows it): it runs again, a second try, with the same result
    tis.post_clear_task_instances(
        DAG_ID,
        ClearTaskInstancesBody(
            dag_run_id=run_id,
            task_ids=[ClearTaskInstancesBodyTaskIdsInner("validate")],
            include_downstream=True,
            only_failed=False,
            dry_run=False,
        ),
    )
    assert _wait(api, run_id) == "success"
    validate = tis.get_task_instance(DAG_ID, run_id, "validate")
    assert (validate.state.value, validate.try_number) == ("success", 2)
    store_after = _store_result(api, run_id)
    assert store_after["accounting"] == store_before["accounting"]
    assert store_after["curated_uri"] == store_before["curated_uri"]
    rows_after = curated(airflow, "orders", TRIGGER_DAY)
    cols = sorted(rows_before.columns)
    key = [c for c in ("order_id", "split") if c in cols]
    assert (
        rows_after[cols]
        .sort_values(key)
        .reset_index(drop=True)
        .equals(rows_before[cols].sort_values(key).reset_index(drop=True))
    )

    # validate's log tells the step's story without noise
    log = _log_text(api, run_id, "validate", 2)
    assert "rows in" in log.lower() or "rows_in" in log
    assert "Skipping registering function" not in log
    assert "GitWildMatchPattern" not in log


def test_a_failed_tasks_log_over_rest_shows_the_error(api: ApiClient) -> None:
    runs = DagRunApi(api)
    run_id = "rest_bad_partition"
    body = TriggerDAGRunPostBody(dag_run_id=run_id, logical_date=None, conf={"partition": "the ninth of October"})
    runs.trigger_dag_run(DAG_ID, body)  # passes Params (a string), refused by the first task
    assert _wait(api, run_id, timeout=300) == "failed"
    ingest = TaskInstanceApi(api).get_task_instance(DAG_ID, run_id, "ingest")
    assert (ingest.state.value, ingest.try_number) == ("failed", 1)  # a configuration error: no retry
    log = _log_text(api, run_id, "ingest", 1)
    assert "PartitionError" in log and "the ninth of October" in log and "must be a date" in log


def test_a_ui_style_trigger_after_the_schedules_end_is_refused_and_the_partition_param_runs_the_day(
    airflow: LocalAirflow, api: ApiClient
) -> None:
    """The UI's Trigger form sends the current time as logical date, after the last day of the schedule:
    refused with the reason (no green run without tasks); without a logical date the param names the day."""
    runs = DagRunApi(api)
    now = datetime.now(UTC).replace(microsecond=0)
    body = TriggerDAGRunPostBody(dag_run_id="rest_ui_now", logical_date=now, conf={"partition": UI_DAY})
    with pytest.raises(ApiException) as refused:
        runs.trigger_dag_run(DAG_ID, body)
    assert refused.value.status == 400
    assert "after the end of this DAG's schedule" in refused.value.body
    assert "2026-10-28" in refused.value.body and "'partition' param" in refused.value.body
    with pytest.raises(ApiException) as missing:
        runs.get_dag_run(DAG_ID, "rest_ui_now")
    assert missing.value.status == 404

    body = TriggerDAGRunPostBody(dag_run_id="rest_ui_day", logical_date=None, conf={"partition": UI_DAY})
    run = runs.trigger_dag_run(DAG_ID, body)
    assert _wait(api, run.dag_run_id) == "success"
    store = _store_result(api, run.dag_run_id)
    assert store["partition"]["origin"] == "param"
    assert f"date={UI_DAY}" in store["curated_uri"]
    assert len(curated(airflow, "orders", UI_DAY)) > 200


def test_backfill_seven_days_then_again_with_reprocess_none(airflow: LocalAirflow, api: ApiClient) -> None:
    backfills = BackfillApi(api)
    body = BackfillPostBody(
        dag_id=DAG_ID,
        from_date=datetime.fromisoformat(f"{BACKFILL_DAYS[0]}T00:00:00+00:00"),
        to_date=datetime.fromisoformat(f"{BACKFILL_DAYS[-1]}T00:00:00+00:00"),
        max_active_runs=3,
        reprocess_behavior=ReprocessBehavior.NONE,
    )
    first = backfills.create_backfill(body)
    _wait_backfill(backfills, first.id)
    runs = _runs_between(api, BACKFILL_DAYS[0], BACKFILL_DAYS[-1])
    assert sorted((r.logical_date.date().isoformat(), r.state.value) for r in runs) == [
        (day, "success") for day in BACKFILL_DAYS
    ]
    rows = {day: curated(airflow, "orders", day) for day in BACKFILL_DAYS}
    assert all(len(frame) > 200 for frame in rows.values())

    again = backfills.create_backfill(body)
    _wait_backfill(backfills, again.id)
    assert sorted(r.dag_run_id for r in _runs_between(api, BACKFILL_DAYS[0], BACKFILL_DAYS[-1])) == sorted(
        r.dag_run_id for r in runs
    )
    for day, before in rows.items():
        after = curated(airflow, "orders", day)
        assert len(after) == len(before)
        key = [c for c in ("order_id", "split") if c in after.columns]
        assert not after.duplicated(key).any()


def test_the_readmes_cli_recipes_work_while_airflow_runs(airflow: LocalAirflow, api: ApiClient) -> None:
    """`airflow dags list` and `airflow backfill create` (README, Backfills) against the embedded SQLite
    while the four components write to it, three times in a row: no "database is locked"
    (plugins/airflow_local_settings.py: WAL and a busy timeout)."""
    import json

    out = airflow.airflow("dags", "list", "--output", "json").stdout  # after Airflow's own log lines
    listed = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("[")))
    assert DAG_ID in {d["dag_id"] for d in listed}
    backfills = BackfillApi(api)
    before = sorted(r.dag_run_id for r in _runs_between(api, BACKFILL_DAYS[0], BACKFILL_DAYS[-1]))
    for _ in range(3):
        done = airflow.airflow(
            "backfill", "create", "--dag-id", DAG_ID, "--from-date", BACKFILL_DAYS[0], "--to-date",
            BACKFILL_DAYS[-1], "--max-active-runs", "2", "--reprocess-behavior", "none", check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "database is locked" not in done.stdout + done.stderr
        latest = max(backfills.list_backfills(DAG_ID).backfills, key=lambda b: b.id)
        _wait_backfill(backfills, latest.id)
    # the days were done: "none" reprocesses nothing
    assert sorted(r.dag_run_id for r in _runs_between(api, BACKFILL_DAYS[0], BACKFILL_DAYS[-1])) == before


def _wait_backfill(backfills: BackfillApi, backfill_id: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backfills.get_backfill(backfill_id).completed_at is not None:
            return
        time.sleep(3)
    raise AssertionError(f"backfill {backfill_id} not completed in {timeout:.0f}s")


def test_no_token_is_401_and_a_viewer_cannot_trigger(airflow: LocalAirflow) -> None:
    with pytest.raises(ApiException) as anonymous:
        DAGApi(_client(airflow, None)).get_dags()
    assert anonymous.value.status == 401

    viewer = _client(airflow, airflow.token_for(*airflow.viewer))
    assert DAG_ID in [d.dag_id for d in DAGApi(viewer).get_dags(limit=100).dags]  # reading is allowed
    with pytest.raises(ApiException) as forbidden:
        DagRunApi(viewer).trigger_dag_run(
            DAG_ID, TriggerDAGRunPostBody(dag_run_id="rest_by_viewer", logical_date=None, conf={"partition": UI_DAY})
        )
    assert forbidden.value.status == 403
    with pytest.raises(ApiException) as missing:
        DagRunApi(_client(airflow, airflow.token())).get_dag_run(DAG_ID, "rest_by_viewer")
    assert missing.value.status == 404


def test_make_status_finds_an_airflow_on_a_non_default_port(airflow: LocalAirflow) -> None:
    """`local_airflow.py status` (what `make status` runs) without AIRFLOW_PORT: the port start() recorded."""
    import json
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "include" / "scripts" / "local_airflow.py"
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_PORT", "DEMO_API_PORT")}
    out = subprocess.run(
        [sys.executable, str(script), "--home", str(airflow.home), "status", "--json"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    status = json.loads(out)
    assert airflow.port != 8080
    assert status["url"] == airflow.base_url
    assert status["healthy"] is True


def test_loading_the_settings_again_leaves_no_refused_insert_in_the_api_server_log(airflow: LocalAirflow) -> None:
    """`make run` on a running Airflow loads airflow_settings.yaml again: updates, not refused INSERTs."""
    counts = airflow.load_settings()  # the fixture loaded them once already
    assert counts["connections"] > 0
    log = (airflow.home / "logs" / "api-server.out").read_text(errors="replace")
    assert "INSERT INTO connection" not in log
    assert "UNIQUE constraint failed" not in log
