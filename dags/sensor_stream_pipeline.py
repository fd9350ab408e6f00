"""
### sensor_stream_pipeline

IoT sensor readings from Kafka in micro-batches: every 5 minutes, `ingest` reads what arrived on the
topic `sensor-readings` (at most 200,000 messages or 60 s per run) through the Kafka connection
`kafka_default` (a local Tansu broker with `make run`; any Kafka cluster by its connection), `clean`
parses the event time and quarantines readings without a device or a value, and `store` publishes
`sensor_readings/date=.../hour_utc=.../minute_utc=.../` in the curated root.

Each message lands exactly once: the offset range of every partition is recorded in the ingest
dataset's manifest, a retry of a run re-reads exactly its range, the next run starts where the last
landed batch ended, and the consumer group's offsets (its own group,
`dataframe-pipeline.sensor_stream_pipeline`) are committed only after the data. Each reading is
validated against `include/schemas/sensor_reading.schema.json`; poison messages (not JSON, failing the
schema, too large) go to the quarantine and to the topic `sensor-readings-dlt`. One run at a time: the
batches of a stream follow each other.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import CronDataIntervalTimetable, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.ingest.operators import KafkaIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator

CONFIG = load_pipeline_config("sensor_stream_pipeline", steps=("clean",))
TOPIC = os.environ.get("SENSOR_TOPIC", "sensor-readings")
#: the shape of a reading (relative to include/); a message that fails it is quarantined as schema_violation
SCHEMA = "schemas/sensor_reading.schema.json"


@dag(
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    params=partition_params("2026-10-09T03:05"),
    tags=["streaming", "kafka", "example"],
    doc_md=__doc__,
)
def sensor_stream_pipeline():
    ingest = KafkaIngestOperator(
        task_id="ingest",
        kafka_config_id="kafka_default",
        topics=[TOPIC],
        max_messages=200_000,
        max_seconds=60,
        dead_letter_topic=f"{TOPIC}-dlt",
        columns=["device_id", "event_time", "temperature_c", "humidity_pct"],
        column_types={"temperature_c": "double", "humidity_pct": "double"},
        json_schema=SCHEMA,
        group_id="dataframe-pipeline.sensor_stream_pipeline",  # its own: sensor_stream_events reads the topic too
        pool="kafka_consumers",  # the broker's consumers (airflow_settings.yaml); fresh data goes first
        priority_weight=10,
    )
    clean = CleanOperator(task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"])
    store = DeltaStoreOperator(task_id="store", input_dataset=clean.output, dataset_name="sensor_readings")
    chain(ingest, clean, store)


sensor_stream_pipeline()
