"""Windows and alerts over a real stream: Tansu on loopback (``tests/kafka_broker.py``) feeds
KafkaIngestOperator micro-batches, WindowAggregateOperator aggregates them run after run, and alerts
go to a real HTTP receiver on loopback (the ``pipeline_alerts``-style connection of alerts.py).

Tansu, not librdkafka's mock cluster: the ingest runs commit offsets and resume from them, which the
mock cluster does not keep the way a broker does."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import fsspec
import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.enrich.windows.operators import WindowAggregateOperator
from dataframe_pipeline.ingest.operators import KafkaIngestOperator
from tests.integration.servers import JsonReceiver
from tests.kafka_broker import connection, kafka_broker, produce

__all__ = ["kafka_broker"]

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVENTS_T0 = pd.Timestamp("2026-12-01T08:00:00Z")


@pytest.fixture
def webhook(monkeypatch):
    server = JsonReceiver()
    monkeypatch.setenv("AIRFLOW_CONN_STREAM_ALERTS", server.connection)
    yield server
    server.close()


@pytest.fixture
def topic(kafka_broker, monkeypatch) -> str:
    name = f"sensors-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics({name: 2})
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_STREAM", connection(kafka_broker, group=f"pipeline-{name}"))
    return name


def context(slot: int, try_number: int = 1) -> dict:
    from airflow.sdk import CronDataIntervalTimetable

    start = START + timedelta(minutes=5 * slot)
    return {
        "dag": SimpleNamespace(timetable=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC")),
        "dag_run": SimpleNamespace(logical_date=start, run_id=f"scheduled__{start.isoformat()}"),
        "ti": SimpleNamespace(try_number=try_number, task_id="windows", dag_id="sensor_windows"),
        "run_id": f"scheduled__{start.isoformat()}",
    }


def readings(minutes: range, hot: set[int], rng: np.random.Generator) -> pd.DataFrame:
    """Readings of devices a and b, ten per minute each, out of order; device a is hot in ``hot`` minutes."""
    rows = []
    for minute in minutes:
        for device in ("a", "b"):
            for _ in range(10):
                at = EVENTS_T0 + pd.Timedelta(minutes=minute) + pd.Timedelta(seconds=float(rng.uniform(0, 60)))
                base = 90.0 if device == "a" and minute in hot else 20.0
                rows.append({"device_id": device, "event_time": at, "temperature_c": base + rng.normal(0, 1)})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)


def send(broker, topic: str, frame: pd.DataFrame) -> None:
    values = [json.dumps({**r, "event_time": r["event_time"].isoformat()}).encode() for r in frame.to_dict("records")]
    produce(broker, topic, values, [d.encode() for d in frame["device_id"]])


def read(uri: str) -> pd.DataFrame:
    return DatasetReader(fsspec.filesystem("file"), uri.removeprefix("file://")).read_pandas()


def test_windows_over_micro_batches_equal_groupby_and_a_breach_alerts_once(kafka_broker, topic, webhook, tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path.as_uri()
    ingest = KafkaIngestOperator(task_id="ingest", topics=[topic], kafka_config_id="kafka_stream", storage_root=root,
                                 source_id=f"t.{topic}", idle_seconds=1.0)  # fmt: skip
    windows = WindowAggregateOperator(
        task_id="windows", keys=["device_id"], values=["temperature_c"], size_seconds=60,
        allowed_lateness_seconds=30, storage_root=root, state_id=f"w.{topic}", alert_conn_id="stream_alerts",
        alerts=[{"name": "hot", "column": "temperature_c", "aggregate": "mean", "op": ">", "threshold": 80}],
    )  # fmt: skip
    # a first breach over minutes 2..9 (four runs), recovery at 10..13, a second breach at 14..16
    chunks = [range(0, 4), range(4, 8), range(8, 12), range(12, 17), range(17, 19)]
    hot = {*range(2, 10), *range(14, 17)}
    sent, emitted, late = [], [], []
    for slot, minutes in enumerate(chunks):
        frame = readings(minutes, hot, rng)
        if slot == 3:  # late readings of minute 1 (already emitted): routed to the late-data dataset
            frame = pd.concat([frame, readings(range(1, 2), hot, rng).head(3)], ignore_index=True)
        send(kafka_broker, topic, frame)
        sent.append(frame)
        landed = ingest.execute(context(slot))
        windows.input_dataset = landed  # in a DAG: ingest.output
        result = windows.execute(context(slot))
        assert result["accounting"]["rows_in"] == landed["dataset"]["rows"] == len(frame)
        emitted.append(read(result["dataset"]["uri"]))
        late.append(read(result["late"]["uri"]))
    # a retry of the last partition: same windows, no second alert
    again = windows.execute(context(len(chunks) - 1, try_number=2))
    pd.testing.assert_frame_equal(read(again["dataset"]["uri"]), emitted[-1])

    titles = [body["title"] for body in webhook.received]
    assert len(titles) == 2, titles
    assert "device_id=a since window 2026-12-01T08:02:00+00:00" in titles[0]
    assert "device_id=a since window 2026-12-01T08:14:00+00:00" in titles[1]

    events = pd.concat(sent, ignore_index=True)
    late_rows = pd.concat(late, ignore_index=True)
    assert len(late_rows) == 3 and (late_rows["_late_reason"] == "late").all()
    on_time = events[~events["event_time"].isin(pd.to_datetime(late_rows["event_time"], utc=True))]
    got = pd.concat(emitted, ignore_index=True)
    watermark = got["watermark"].max()
    on_time = on_time.assign(window_start=on_time["event_time"].dt.floor("min"))
    on_time = on_time[on_time["window_start"] + pd.Timedelta("1min") <= watermark]
    want = on_time.groupby(["device_id", "window_start"])["temperature_c"].agg(["size", "mean", "min", "max"])
    got = got.set_index(["device_id", "window_start"]).sort_index()
    assert list(got.index) == list(want.index)
    assert got["events"].tolist() == want["size"].tolist()
    np.testing.assert_allclose(got["temperature_c_mean"], want["mean"], rtol=1e-12)
    np.testing.assert_allclose(got["temperature_c_max"], want["max"], rtol=1e-12)
