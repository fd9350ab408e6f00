"""Operations wiring of the example DAGs: pools of the shared resources declared in airflow_settings.yaml,
alerts on every task, and a deadline from the first run that the scheduler can decode."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from dataframe_pipeline.alerts import PipelineAlertNotifier
from dataframe_pipeline.deadlines import RunCreatedDeadline
from dataframe_pipeline.ingest.operators import HttpIngestOperator, KafkaIngestOperator, SqlIngestOperator
from dataframe_pipeline.store.operators import SqlStoreOperator
from tests.fresh_python import run_fresh_python

PROJECT = Path(__file__).resolve().parents[2]
#: the operators that hit a shared resource, and the pool each takes a slot of
SHARED = {
    SqlIngestOperator: "source_database",
    HttpIngestOperator: "source_api",
    KafkaIngestOperator: "kafka_consumers",
    SqlStoreOperator: "warehouse_database",
}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT / "dags"))


@pytest.fixture(scope="module")
def pools() -> dict[str, dict]:
    settings = yaml.safe_load((PROJECT / "airflow_settings.yaml").read_text())["airflow"]
    return {pool["pool_name"]: pool for pool in settings["pools"]}


def test_every_pool_a_task_uses_is_declared(dagbag: DagBag, pools: dict[str, dict]) -> None:
    used = {(dag_id, task.task_id): task.pool for dag_id, dag in dagbag.dags.items() for task in dag.tasks}
    missing = {key: pool for key, pool in used.items() if pool not in pools}
    assert missing == {}
    assert all(int(pool["pool_slot"]) >= 1 for pool in pools.values())


def test_shared_resources_have_their_pools_and_priorities(dagbag: DagBag, pools: dict[str, dict]) -> None:
    seen = set()
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            for operator, pool in SHARED.items():
                if isinstance(task, operator):
                    assert task.pool == pool, (dag.dag_id, task.task_id, task.pool)
                    assert pool in pools
                    seen.add(operator)
                    if operator is not SqlStoreOperator:  # ingests are ordered by freshness need
                        assert task.priority_weight > 1, (dag.dag_id, task.task_id)
    assert seen == set(SHARED)  # each kind of shared resource is used by an example DAG
    streaming = dagbag.dags["sensor_stream_pipeline"].get_task("ingest")
    assert streaming.priority_weight > dagbag.dags["flights_sql_pipeline"].get_task("ingest").priority_weight


def test_every_task_alerts_when_its_last_try_failed(dagbag: DagBag) -> None:
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            callbacks = task.on_failure_callback or []
            assert any(isinstance(c, PipelineAlertNotifier) or "Alert" in type(c).__name__ for c in callbacks), (
                dag.dag_id,
                task.task_id,
            )


def test_every_dag_has_a_deadline_from_its_first_run(dagbag: DagBag) -> None:
    for dag_id, dag in dagbag.dags.items():
        deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert len(deadlines) == 1, dag_id
        (deadline,) = deadlines
        assert isinstance(deadline.reference, RunCreatedDeadline), dag_id
        assert deadline.interval == timedelta(minutes=30), dag_id
        assert deadline.callback.path.endswith("PipelineAlertNotifier")
        assert deadline.callback.kwargs == {"title": "deadline missed"}


def test_the_scheduler_decodes_the_deadline_through_the_plugin() -> None:
    """What the scheduler does when it creates a run: decode the stored reference (a custom one is found
    among the plugins' ``deadline_references``) and evaluate it: creation time + interval."""
    out = run_fresh_python(
        f"""
import os
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = {str(PROJECT / "plugins")!r}
os.environ["PIPELINE_DEADLINE_MINUTES"] = "7"
from datetime import datetime, timedelta, timezone
from airflow import plugins_manager
from airflow.serialization.decoders import decode_deadline_alert
from airflow.serialization.encoders import encode_deadline_alert
from airflow.serialization.enums import DagAttributeTypes, Encoding
from dataframe_pipeline.defaults import run_deadline

print("OUT", sorted(plugins_manager.get_deadline_references_plugins()))
stored = encode_deadline_alert(run_deadline())
print("OUT", stored["reference"])
alert = decode_deadline_alert({{Encoding.TYPE: DagAttributeTypes.DEADLINE_ALERT, Encoding.VAR: stored}})
before = datetime.now(tz=timezone.utc)
due = alert.reference.evaluate_with(session=None, interval=alert.interval, dag_id="d", run_id="r")
print("OUT", timedelta(minutes=7) <= due - before < timedelta(minutes=7, seconds=5))
"""
    )
    lines = [line.removeprefix("OUT ") for line in out.splitlines() if line.startswith("OUT ")]  # not the warnings
    assert lines[0] == "['dataframe_pipeline.deadlines.RunCreatedDeadline']"
    assert "'__class_path': 'dataframe_pipeline.deadlines.RunCreatedDeadline'" in lines[1]
    assert lines[2] == "True"
