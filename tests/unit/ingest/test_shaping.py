from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.ingest.base import SourceBatch
from dataframe_pipeline.ingest.shaping import Shaping, shape_batch


def batch(**columns) -> SourceBatch:
    n = len(next(iter(columns.values())))
    table = pa.table({**columns, "_source_file": ["f.csv"] * n, "_source_line": list(range(2, n + 2))})
    return SourceBatch(table=table)


def test_rename_cast_filter_select_in_that_order_with_exact_accounting() -> None:
    src = batch(cc=["DE", "FR", "US", "DE", None], amt=["10.5", "x", "3", "-1", "7"], note=["a", "b", "c", "d", "e"])
    shaping = Shaping(
        rename={"cc": "country", "amt": "amount"},
        dtypes={"amount": "double"},
        filters=[["country", "in", ["DE", "FR"]], ["amount", ">", 0]],
        columns=["country", "amount"],
    )
    shaping.validate()
    out = shape_batch(src, shaping)
    assert out.table.column_names == ["country", "amount", "_source_file", "_source_line"]
    assert out.table.to_pydict()["country"] == ["DE"]
    assert out.table.to_pydict()["amount"] == [10.5]
    assert out.rejected["_reason"].tolist() == ["amount: cannot convert 'x' to double"]
    assert out.rejected.index.tolist() == [3]  # the source line
    acct = out.accounting()
    assert (acct.rows_in, acct.rows_out, acct.rows_quarantined) == (5, 1, 1)
    assert acct.dropped_by_rule == {'filter:country in ["DE", "FR"]': 2, "filter:amount > 0": 1}
    assert acct.balanced


def test_null_filters_and_keeping_earlier_rejections() -> None:
    earlier = pd.DataFrame({"_raw_line": ["bad"], "_rule": ["csv_malformed_row"], "_reason": ["too many fields"]})
    src = SourceBatch(table=batch(email=["a@x", None]).table, rejected=earlier, rows_in=3)
    out = shape_batch(src, Shaping(filters=[["email", "is not null"]]))
    acct = out.accounting()
    assert (acct.rows_in, acct.rows_out, acct.rows_quarantined, acct.rows_dropped) == (3, 1, 1, 1)


def test_schema_less_empty_batch_passes_through() -> None:
    empty = SourceBatch(
        table=pa.table({"_source_file": pa.array([], pa.string()), "_source_line": pa.array([], pa.int64())})
    )
    assert shape_batch(empty, Shaping(columns=["a"])) is empty


@pytest.mark.parametrize(
    ("shaping", "field"),
    [
        (Shaping(filters=[["a", "~", 1]]), "filters[0].operator"),
        (Shaping(filters=[["a", "in", 1]]), "filters[0].value"),
        (Shaping(filters=["a > 1"]), "filters[0]"),
        (Shaping(dtypes={"a": "integer"}), "dtypes.a"),
        (Shaping(columns="a"), "columns"),
    ],
)
def test_bad_configuration_names_the_field(shaping: Shaping, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        shaping.validate()


def test_unknown_columns_and_incomparable_filters_are_contract_errors() -> None:
    with pytest.raises(DataContractError, match=r"\['nope'\]"):
        shape_batch(batch(a=["1"]), Shaping(columns=["nope"]))
    with pytest.raises(DataContractError, match="does not compare"):
        shape_batch(batch(a=["1"]), Shaping(filters=[["a", ">", "x"]], dtypes={"a": "int64"}))
