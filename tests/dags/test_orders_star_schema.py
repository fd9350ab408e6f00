"""The star-schema DAG runs on the curated orders table's Asset and loads dimensions before the fact."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from dataframe_pipeline.assets import curated_asset, curated_uri
from dataframe_pipeline.store.operators import SqlStoreOperator
from dataframe_pipeline.store.star import ORDERS_STAR

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_scheduled_on_the_curated_orders_asset_dimensions_first() -> None:
    dag = DagBag(dag_folder=str(DAGS / "orders_star_schema.py")).dags["orders_star_schema"]
    assert list(dag.timetable.asset_condition.objects) == [curated_asset("orders")]
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {f"load_{name}" for name in ORDERS_STAR}
    fact = tasks["load_fact_orders"]
    assert fact.upstream_task_ids == {f"load_{n}" for n in ORDERS_STAR if n != "fact_orders"}
    for task in tasks.values():
        assert isinstance(task, SqlStoreOperator)
        assert (task.conn_id, task.input_table, task.create) == ("warehouse_db", curated_uri("orders"), True)
        assert task.star_table == task.table
