"""
### orders_training

Fits the orders features once, over a window of days, and publishes them for the daily runs.

An ML team needs one feature schema and one scale for every partition of the curated `orders` table:
the same one-hot columns (the 12 most frequent countries of the window, the same channels and
categories), the same scaling of quantity, price and amount, the same imputation values and outlier
fences, the same PCA. This DAG reads the orders files of the window (`first_day` to `last_day`,
params), runs clean, enrich and refine with the chains of `include/configs/orders_pipeline.yaml`, and
publishes each step's fitted state as `orders_<step>_<version>` (`<storage root>/_fitted/`), where the
version is the Variable `orders_features` (default `v1`). `orders_pipeline` applies that state
(`fitted_from`) instead of fitting on each day alone.

To refit (new data, a changed chain): set the Variable `orders_features` to a new version (`v2`),
trigger this DAG with the new window, then backfill `orders_pipeline` over the days already published
(`reprocess_behavior: completed`), so that every partition is computed with the same state again.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, chain, dag

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.config import load_pipeline_config
from dataframe_pipeline.defaults import daily_paths, default_args, partition_params, run_deadline
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.refine.operators import RefineOperator

CONFIG = load_pipeline_config("orders_pipeline")  # the daily chains: training fits what they apply
FILES = "var.value.get('orders_landing_uri', 'include/data/orders') ~ '/orders_{day}.csv'"
VERSION = "{{ var.value.get('orders_features', 'v1') }}"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    render_template_as_native_obj=True,
    user_defined_macros={"daily_paths": daily_paths},
    tags=["orders", "demo", "ml-ready", "training"],
    doc_md=__doc__,
    params={
        **partition_params(),
        "first_day": Param("2026-10-01", type="string", format="date", description="First day of the window"),
        "last_day": Param("2026-10-21", type="string", format="date", description="Last day of the window"),
        "test_fraction": Param(0.2, type="number", minimum=0.05, maximum=0.5, description="Share of the test split"),
        "pca_components": Param(2, type="integer", minimum=1, maximum=3, description="PCA components"),
    },
)
def orders_training():
    ingest = FileIngestOperator(
        task_id="ingest",
        source="{{ daily_paths(" + FILES + ", params.first_day, params.last_day) }}",  # the window's files
    )
    clean = CleanOperator(
        task_id="clean", input_dataset=ingest.output, transforms=CONFIG["clean"],
        publish_fitted_as="orders_clean_" + VERSION,
    )  # fmt: skip
    enrich = EnrichOperator(
        task_id="enrich", input_dataset=clean.output, transforms=CONFIG["enrich"],
        publish_fitted_as="orders_enrich_" + VERSION,
    )  # fmt: skip
    refine = RefineOperator(
        task_id="refine", input_dataset=enrich.output, transforms=CONFIG["refine"],
        publish_fitted_as="orders_refine_" + VERSION,
    )  # fmt: skip
    chain(ingest, clean, enrich, refine)


orders_training()
