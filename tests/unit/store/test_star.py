"""The orders star schema on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from dataframe_pipeline.exceptions import DataContractError
from dataframe_pipeline.store.star import FACT_COLUMNS, ORDERS_STAR, date_keys, dim_customer, dim_date, fact_orders


def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c2", "c1"],
            "customer_email": ["old@x.org", "c2@x.org", "new@x.org"],
            # 23:30 in New York is the next UTC day
            "order_ts": pd.to_datetime(["2026-10-03 10:00", "2026-10-03 23:30", "2026-10-04 01:00"]).tz_localize(
                "America/New_York"
            ),
            "country": ["US", "US", None],
            "channel": ["web", "app", "web"],
            "product_category": ["books", "toys", "books"],
            "quantity": [1, 2, 3],
            "unit_price": [1.0, 2.0, 3.0],
            "amount": [1.0, 4.0, 9.0],
            "returned": [0, 1, 0],
            "country_US": [1, 1, 0],
            "_source_file": ["f.csv"] * 3,
            "_source_line": [2, 3, 4],
        }
    )


def test_date_keys_are_utc_days() -> None:
    assert date_keys(orders()["order_ts"]).tolist() == [20261003, 20261004, 20261004]


def test_dim_customer_keeps_the_last_row_per_customer() -> None:
    assert dim_customer(orders()).to_dict("records") == [
        {"customer_id": "c2", "customer_email": "c2@x.org"},
        {"customer_id": "c1", "customer_email": "new@x.org"},
    ]


def test_single_column_dimensions_drop_missing_keys() -> None:
    assert ORDERS_STAR["dim_country"].build(orders())["country"].tolist() == ["US"]
    assert sorted(ORDERS_STAR["dim_channel"].build(orders())["channel"]) == ["app", "web"]


def test_dim_date_one_row_per_utc_day() -> None:
    dates = dim_date(orders())
    assert dates["date_key"].tolist() == [20261003, 20261004]
    assert dates["day_of_week"].tolist() == [5, 6] and dates["is_weekend"].tolist() == [True, True]
    assert dates["quarter"].tolist() == [4, 4]


def test_fact_has_the_dimension_keys_and_provenance_not_the_features() -> None:
    fact = fact_orders(orders())
    assert list(fact.columns) == FACT_COLUMNS
    assert fact["date_key"].tolist() == [20261003, 20261004, 20261004]
    assert fact["split"].isna().all()  # the curated table without a split column
    assert "country_US" not in fact.columns


def test_a_missing_column_is_named() -> None:
    with pytest.raises(DataContractError, match=r"dim_customer needs column\(s\) \['customer_email'\]"):
        dim_customer(orders().drop(columns=["customer_email"]))


def test_dimensions_upsert_on_natural_keys_and_the_fact_replaces_a_partition() -> None:
    modes = {name: (t.mode, t.key) for name, t in ORDERS_STAR.items()}
    assert modes["fact_orders"] == ("replace_partition", ())
    assert all(mode == "upsert" and key for name, (mode, key) in modes.items() if name.startswith("dim_"))
