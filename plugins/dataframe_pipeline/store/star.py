"""A star schema of the curated orders: a fact table and its dimensions, as pure functions on batches.

=====================  ===================================================  ==========================
table                  columns                                              loaded by
=====================  ===================================================  ==========================
dim_customer           customer_id (key), customer_email                    upsert on the natural key
dim_product_category   product_category (key)                               upsert
dim_channel            channel (key)                                        upsert
dim_country            country (key)                                        upsert
dim_date               date_key (key, yyyymmdd), date, year, quarter,       upsert
                       month, day, day_of_week (Monday 0), is_weekend
fact_orders            order_id, date_key, customer_id, product_category,   replace the run's partition
                       channel, country, quantity, unit_price, amount,      (``date``, added by the
                       returned, split, _source_file, _source_line          sink)
=====================  ===================================================  ==========================

Dimensions are keyed by their natural keys, so the fact's foreign keys are the values themselves and a
dimension row is never renumbered; re-running a day replaces the day's facts and re-upserts the same
dimension rows (idempotent). A dimension keeps one row per key over a load (the last one seen: a
customer's newest email wins), so its memory grows with the number of distinct keys in the partition,
not with its rows. Order times are in UTC, so ``date_key`` is the UTC day. No foreign-key constraints
are declared (the tables load as separate tasks, dimensions first).

The feature columns of the curated table (one-hot, scaled, PCA) are left out: they serve models, not
reports; the fact keeps the provenance columns, so each fact row traces back to its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from dataframe_pipeline.exceptions import DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FACT_COLUMNS = [
    "order_id",
    "date_key",
    "customer_id",
    "product_category",
    "channel",
    "country",
    "quantity",
    "unit_price",
    "amount",
    "returned",
    "split",
    "_source_file",
    "_source_line",
]


def _require(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"{table} needs column(s) {missing} of the curated orders; the data has {list(frame.columns)}"
        )


def _utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    return ts.dt.tz_convert("UTC") if ts.dt.tz is not None else ts.dt.tz_localize("UTC")


def date_keys(ts: pd.Series) -> pd.Series:
    """``yyyymmdd`` of the UTC day of each timestamp, as int64."""
    day = _utc(ts)
    return (day.dt.year * 10_000 + day.dt.month * 100 + day.dt.day).astype("int64")


def _distinct(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    return frame.dropna(subset=list(key)).drop_duplicates(subset=list(key), keep="last").reset_index(drop=True)


def dim_customer(orders: pd.DataFrame) -> pd.DataFrame:
    _require(orders, ["customer_id", "customer_email"], "dim_customer")
    return _distinct(orders[["customer_id", "customer_email"]], ["customer_id"])


def _single(column: str, table: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def build(orders: pd.DataFrame) -> pd.DataFrame:
        _require(orders, [column], table)
        return _distinct(orders[[column]].astype({column: "string"}), [column])

    build.__name__ = table
    build.__doc__ = f"One row per {column}."
    return build


dim_product_category = _single("product_category", "dim_product_category")
dim_channel = _single("channel", "dim_channel")
dim_country = _single("country", "dim_country")


def dim_date(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per UTC day of the orders' timestamps."""
    _require(orders, ["order_ts"], "dim_date")
    ts = _utc(orders["order_ts"].dropna())
    day = ts.dt.floor("D").drop_duplicates().sort_values()
    return pd.DataFrame(
        {
            "date_key": date_keys(day).to_numpy(),
            "date": day.dt.date.to_numpy(),
            "year": day.dt.year.astype("int16").to_numpy(),
            "quarter": day.dt.quarter.astype("int16").to_numpy(),
            "month": day.dt.month.astype("int16").to_numpy(),
            "day": day.dt.day.astype("int16").to_numpy(),
            "day_of_week": day.dt.day_of_week.astype("int16").to_numpy(),
            "is_weekend": (day.dt.day_of_week >= 5).to_numpy(),
        }
    )


def fact_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per order line of the curated table, with the dimensions' natural keys."""
    needed = [c for c in FACT_COLUMNS if c not in ("date_key", "split")] + ["order_ts"]
    _require(orders, needed, "fact_orders")
    fact = orders.assign(date_key=date_keys(orders["order_ts"]))
    if "split" not in fact.columns:
        fact = fact.assign(split=pd.Series(pd.NA, index=fact.index, dtype="string"))
    return fact[FACT_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class StarTable:
    """One table of the star schema: how its rows are built from a batch of orders and how they load.

    :param name: the table's name.
    :param build: curated orders batch -> the table's rows.
    :param mode: the sink's mode (``upsert`` for dimensions, ``replace_partition`` for the fact).
    :param key: the natural key (dimensions), also the primary key of a created table.
    """

    name: str
    build: Callable[[pd.DataFrame], pd.DataFrame]
    mode: str
    key: tuple[str, ...] = ()

    @property
    def is_dimension(self) -> bool:
        return self.mode == "upsert"


ORDERS_STAR: dict[str, StarTable] = {
    t.name: t
    for t in (
        StarTable("dim_customer", dim_customer, "upsert", ("customer_id",)),
        StarTable("dim_product_category", dim_product_category, "upsert", ("product_category",)),
        StarTable("dim_channel", dim_channel, "upsert", ("channel",)),
        StarTable("dim_country", dim_country, "upsert", ("country",)),
        StarTable("dim_date", dim_date, "upsert", ("date_key",)),
        StarTable("fact_orders", fact_orders, "replace_partition"),
    )
}
