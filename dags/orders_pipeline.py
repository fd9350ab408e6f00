"""
### orders_pipeline

Daily orders file -> ML-ready, validated, curated dataset.

The transforms of clean, enrich and refine are declared in `include/configs/orders_pipeline.yaml`.
`ingest` reads `orders_<date>.csv` from the landing folder (Variable `orders_landing_uri`), `clean`
drops exact duplicates, types and normalises every column (unparseable values are quarantined),
imputes missing amounts and quarantines far-out amounts, `enrich` one-hot encodes country, channel
and category and standard-scales the numbers, `refine` adds PCA components and a stratified,
seeded train/test split (each split also written as a dataset of its own) and draws a t-SNE picture
of the scaled numbers (`refine/tsne.png`), `validate` checks the schema contract
`include/contracts/orders_curated.yaml`, streams the Great Expectations suite
`include/expectations/orders_curated.json` (critical checks block publishing, warnings are reported;
quality metrics go to the history under `_quality/`) and `store` publishes the partition
`date=<date>/split=<split>/` of the curated Delta table `orders` as a new version, replacing it on
re-runs. `report` runs last, whatever happened before (also when validation blocked publishing), and
writes the run's quality report (`report/report.html`): the "Quality report" tab of the run and the
task's extra link open it.

Imputation values, outlier fences, categories, scales and the PCA are not fitted on the day's file:
they come from the state `orders_training` fitted over a window and published (`fitted_from`, version
from the Variable `orders_features`), so every partition of the curated table has the same columns and
the same scaling. Run `orders_training` once before the first run (`make run` does).

Every step returns a small dataset reference through XCom (never data) and logs its row accounting:
rows in = rows out + rows quarantined + rows dropped by a named rule.

Every step processes the run's partition, the day of its logical date, however the run was started
(schedule, manual, backfill); a manual run without a logical date names its day in the `partition` param.
The schedule ends with the demo data (2026-10-28, `ORDERS_END_DATE`): a manual run with a later logical
date (the UI's Trigger form proposes now) is refused when triggered, saying which days there are; clear
the logical date and name the day in the `partition` param instead.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.refine.operators import RefineOperator
from dataframe_pipeline.report.operators import QualityReportOperator, ReportFailureAlert
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.timetables import CronDataIntervalUntil
from dataframe_pipeline.validate.operators import ValidateOperator

START = pendulum.parse(os.environ.get("ORDERS_START_DATE", "2026-10-01"), tz="UTC")
END = os.environ.get("ORDERS_END_DATE", "2026-10-28")  # the demo data ends here; "" = no end
DAY = "{{ partition.ds }}"  # the run's partition, the same however the run was started
VERSION = "{{ var.value.get('orders_features', 'v1') }}"  # of the features orders_training published
CONFIG = load_pipeline_config("orders_pipeline")  # include/configs/orders_pipeline.yaml


@dag(
    # the schedule's last interval, not the DAG's end_date: Airflow copies an end_date to every task and
    # then creates no task instance for a manual run after it (a green run that did nothing)
    schedule=CronDataIntervalUntil("0 0 * * *", timezone="UTC", end=pendulum.parse(END, tz="UTC") if END else None),
    start_date=START,
    catchup=False,
    max_active_runs=3,
    default_args=default_args(),
    deadline=run_deadline(),
    render_template_as_native_obj=True,
    tags=["orders", "demo", "ml-ready"],
    doc_md=__doc__,
    params={
        **partition_params(),
        "test_fraction": Param(0.2, type="number", minimum=0.05, maximum=0.5, description="Share of the test split"),
        "pca_components": Param(2, type="integer", minimum=1, maximum=3, description="PCA components"),
    },
)
def orders_pipeline():
    ingest = FileIngestOperator(
        task_id="ingest",
        source="{{ var.value.get('orders_landing_uri', 'include/data/orders') }}/orders_" + DAY + ".csv",
    )
    # the fitted state published by orders_training: one feature schema and one scale for every day
    clean = CleanOperator(
        task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"], fitted_from="orders_clean_" + VERSION
    )
    enrich = EnrichOperator(
        task_id="enrich",
        input_dataset=clean.output,
        transforms=CONFIG["enrich"],
        fitted_from="orders_enrich_" + VERSION,
    )
    refine = RefineOperator(
        task_id="refine",
        input_dataset=enrich.output,
        transforms=CONFIG["refine"],
        fitted_from="orders_refine_" + VERSION,
        split_outputs="split",  # refine/split=train/ and refine/split=test/ for training and evaluation
        tsne_picture={  # refine/tsne.png, for the quality report
            "columns": ["quantity_scaled", "unit_price_scaled", "amount_scaled"],
            "color_by": "returned",
            "sample_size": 1000,
        },
    )
    validate = ValidateOperator(
        task_id="validate",
        input_dataset=refine.output,
        suite="include/expectations/orders_curated.json",
        contract="include/contracts/orders_curated.yaml",  # refused before publishing if the schema differs
    )
    store = DeltaStoreOperator(
        task_id="store",
        input_dataset=validate.output,
        dataset_name="orders",
        subpartition_by="split",
    )
    # runs when every step is done, also after a failure; alerts only when the report itself breaks
    report = QualityReportOperator(task_id="report", dataset_name="orders", on_failure_callback=[ReportFailureAlert()])
    chain(ingest, clean, enrich, refine, validate, store, report)


orders_pipeline()
