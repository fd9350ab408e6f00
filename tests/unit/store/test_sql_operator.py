"""SqlStoreOperator's configuration checks and how it finds the curated table version (no database)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.store.operators import SqlStoreOperator, announced_version

GOOD = {"task_id": "load", "conn_id": "warehouse_db", "table": "t", "input_dataset": "file:///lake/x"}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "upsert"}, "key"),
        ({"mode": "replace"}, "mode"),
        ({"table": "t; drop table t"}, "table"),
        ({"key": ["id", "id"], "mode": "upsert"}, "key"),
        ({"partition_columns": ["date"], "mode": "upsert", "key": ["id"]}, "partition_columns"),
        ({"columns": "amount"}, "columns"),
        ({"columns": {"amount": "amount eur"}}, "columns"),
        ({"star_table": "dim_nothing"}, "star_table"),
        ({"star_table": "dim_customer", "key": ["email"]}, "mode"),
        ({"star_table": "fact_orders", "columns": ["a"]}, "columns"),
        ({"input_table": "file:///curated/orders"}, "input_table"),
        ({"input_dataset": None}, "input_table"),
        ({"conn_id": ""}, "conn_id"),
        ({"create": "yes"}, "create"),
    ],
)
def test_bad_configuration_names_the_field(options: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        SqlStoreOperator(**{**GOOD, **options}).validate_config()
    assert err.value.field == field


def test_a_star_table_brings_its_mode_and_key() -> None:
    op = SqlStoreOperator(**{**GOOD, "star_table": "dim_customer"})
    op.validate_config()
    assert op._mode_and_key() == ("upsert", ["customer_id"])
    SqlStoreOperator(**{**GOOD, "mode": "upsert", "key": ["id"], "columns": {"a": "b"}}).validate_config()


def test_the_version_comes_from_the_triggering_event_of_the_table() -> None:
    uri = "file:///p/data/curated/orders"
    events = {
        "curated/orders": [
            SimpleNamespace(extra={"table": uri, "version": 3, "partition": {"date": "2026-10-01"}}),
            SimpleNamespace(extra={"table": uri + "/", "version": 4}),
        ],
        "curated/other": [SimpleNamespace(extra={"table": "file:///p/data/curated/other", "version": 9})],
    }
    assert announced_version({"triggering_asset_events": events}, uri) == 4
    assert announced_version({"triggering_asset_events": {}}, uri) is None
    asset_only = {"a": [SimpleNamespace(extra={"version": 7}, asset=SimpleNamespace(uri=uri))]}
    assert announced_version({"triggering_asset_events": asset_only}, uri) == 7
