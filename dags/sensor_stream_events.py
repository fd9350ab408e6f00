"""
### sensor_stream_events

The event-driven twin of `sensor_stream_pipeline`: no schedule, a run starts when readings arrive on
the topic `sensor-readings`. The asset `kafka://127.0.0.1:19092/sensor-readings` has an `AssetWatcher` whose trigger
(`MessageQueueTrigger(scheme="kafka")`, the provider's `AwaitMessageTrigger`) polls the topic with
the connection `kafka_watcher` (its own consumer group) and fires through
`dataframe_pipeline.ingest.kafka.wakeup.wake_up`. The event is only a wake-up: `ingest` reads the
data from the offsets recorded in the lake with `kafka_default` (and its own group,
`dataframe-pipeline.sensor_stream_events`), so whichever messages the watcher saw, each message lands
once; readings failing `include/schemas/sensor_reading.schema.json` are quarantined and dead-lettered.
Each wake-up is its own partition (the second of the run's `run_after`,
`date=/hour_utc=/minute_utc=/second_utc=`).

Then `clean` parses the event time, `windows` keeps per-device one-minute windows (30 s allowed
lateness, late readings to `windows/late`) and alerts once per breach of `mean(temperature_c) > 80`
through the `pipeline_alerts` connection, and `store` publishes the readings. The watcher only runs
while the DAG is unpaused (`make run` unpauses it).
"""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.enrich.windows.operators import WindowAggregateOperator
from dataframe_pipeline.ingest.operators import KafkaIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator

CONFIG = load_pipeline_config("sensor_stream_pipeline", steps=("clean",))
TOPIC = os.environ.get("SENSOR_TOPIC", "sensor-readings")
#: the shape of a reading (relative to include/); a message that fails it is quarantined as schema_violation
SCHEMA = "schemas/sensor_reading.schema.json"
#: the asset names the topic by broker and topic (kafka://<host:port>/<topic>); the watcher connects by connection
BROKER = os.environ.get("SENSOR_BROKER", "127.0.0.1:19092")
WATCHER_CONN = os.environ.get("SENSOR_WATCHER_CONN_ID", "kafka_watcher")
HOT_CELSIUS = float(os.environ.get("SENSOR_HOT_CELSIUS", "80"))

readings = Asset(
    name="sensor_readings_topic",
    uri=f"kafka://{BROKER}/{TOPIC}",
    watchers=[
        AssetWatcher(
            name="sensor_readings_watcher",
            trigger=MessageQueueTrigger(
                scheme="kafka",
                topics=[TOPIC],
                kafka_config_id=WATCHER_CONN,
                apply_function="dataframe_pipeline.ingest.kafka.wakeup.wake_up",
                poll_timeout=1,
                poll_interval=0.05,
            ),
        )
    ],
)


@dag(
    schedule=[readings],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    params=partition_params("2026-10-09T03:05:00"),
    tags=["streaming", "kafka", "event-driven", "example"],
    doc_md=__doc__,
)
def sensor_stream_events():
    ingest = KafkaIngestOperator(
        task_id="ingest",
        kafka_config_id="kafka_default",
        topics=[TOPIC],
        source_id="sensor_stream.readings",
        max_messages=200_000,
        max_seconds=30,
        idle_seconds=1,
        dead_letter_topic=f"{TOPIC}-dlt",
        columns=["device_id", "event_time", "temperature_c", "humidity_pct"],
        column_types={"temperature_c": "double", "humidity_pct": "double"},
        json_schema=SCHEMA,
        group_id="dataframe-pipeline.sensor_stream_events",  # its own: sensor_stream_pipeline reads the topic too
        pool="kafka_consumers",  # the broker's consumers (airflow_settings.yaml); fresh data goes first
        priority_weight=10,
    )
    clean = CleanOperator(task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"])
    windows = WindowAggregateOperator(
        task_id="windows",
        input_dataset=clean.output,
        keys=["device_id"],
        values=["temperature_c", "humidity_pct"],
        size_seconds=60,
        allowed_lateness_seconds=30,
        alerts=[{"name": "hot", "column": "temperature_c", "aggregate": "mean", "op": ">", "threshold": HOT_CELSIUS}],
    )
    store = DeltaStoreOperator(task_id="store", input_dataset=clean.output, dataset_name="sensor_readings_events")
    chain(ingest, clean, [windows, store])


sensor_stream_events()
