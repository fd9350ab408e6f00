"""
### orders_star_schema

The curated `orders` table as a small star schema in the warehouse: `fact_orders` and its dimensions
`dim_customer`, `dim_product_category`, `dim_channel`, `dim_country` and `dim_date`
(model: `plugins/dataframe_pipeline/store/star.py`).

Scheduled on the curated table's Asset: it runs when `orders_pipeline` publishes a partition, and loads
that partition (the asset event's `partition`) of the version the event announces (its `version`).
Dimensions are upserted on their natural keys first, then the day's facts replace the day's partition
of `fact_orders` (`date` column), each table in one transaction: a re-run of a day leaves one copy.

The warehouse is the Airflow connection `warehouse_db` (default in `airflow_settings.yaml`: the SQLite
file `data/warehouse.db`; point it at PostgreSQL or MariaDB for a real warehouse); tables are created
from the data's schema on the first run. A manual run names its day in the `partition` param.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import chain, dag

from dataframe_pipeline.assets import curated_asset, curated_uri
from dataframe_pipeline.defaults import default_args, partition_params, run_deadline
from dataframe_pipeline.store.operators import SqlStoreOperator

WAREHOUSE = os.environ.get("ORDERS_WAREHOUSE_CONN_ID", "warehouse_db")
DIMENSIONS = ("dim_customer", "dim_product_category", "dim_channel", "dim_country", "dim_date")


@dag(
    schedule=[curated_asset("orders")],
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # dimension upserts of two days would otherwise race for the same keys
    default_args=default_args(),
    deadline=run_deadline(),
    render_template_as_native_obj=True,
    tags=["orders", "demo", "warehouse"],
    doc_md=__doc__,
    params=partition_params(),
)
def orders_star_schema():
    def load(table: str) -> SqlStoreOperator:
        return SqlStoreOperator(
            task_id=f"load_{table}",
            conn_id=WAREHOUSE,
            table=table,
            star_table=table,
            create=True,
            input_table=curated_uri("orders"),
            pool="warehouse_database",  # loads into the warehouse, one transaction each (airflow_settings.yaml)
        )

    chain([load(table) for table in DIMENSIONS], load("fact_orders"))


orders_star_schema()
