"""Streaming validation equals Great Expectations on the whole frame, whatever the batch size.

The batches are slices of one Arrow table converted to pandas, as the step reads them: an integer
column with a null in some batches is float64 there and int64 in the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataframe_pipeline.validate.expectations import json_safe
from dataframe_pipeline.validate.streaming import StreamingValidator
from dataframe_pipeline.validate.suite import plan_suite

pytestmark = pytest.mark.unit

N = 41


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    amount = rng.lognormal(3, 1, N).round(2)
    amount[[3, 17, 30]] = np.nan
    quantity = pd.array(rng.integers(1, 11, N), dtype="Int64")
    quantity[[5, 25]] = pd.NA
    order_id = np.arange(1000, 1000 + N)
    order_id[[20, 33]] = order_id[[2, 10]]  # ids repeated across batches
    channel = rng.choice(["web", "app", "store", "phone"], N).astype(object)
    channel[[8, 9]] = None
    email = np.array([f"u{i}@example.com" for i in range(N)], dtype=object)
    email[[4, 12]] = ["bad", "also bad@"]
    email[15] = None
    return pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": [f"C{i % 9}" for i in range(N)],
            "channel": channel,
            "country": rng.choice(["US", "DE", "FRA"], N),
            "email": email,
            "amount": amount,
            "quantity": quantity,
            "day": [f"2026-10-{1 + i % 28:02d}" if i != 7 else "2026/10/07" for i in range(N)],
        }
    )


def _e(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": f"expect_{kind}", "kwargs": kwargs}


EXPECTATIONS = [
    _e("column_values_to_not_be_null", column="amount"),
    _e("column_values_to_not_be_null", column="quantity", mostly=0.9),
    _e("column_values_to_be_null", column="channel"),
    _e("column_values_to_be_between", column="amount", min_value=0, max_value=50, mostly=0.6),
    _e("column_values_to_be_between", column="quantity", min_value=1, max_value=8, strict_min=True),
    _e("column_values_to_be_in_set", column="channel", value_set=["web", "app", "store"]),
    _e("column_values_to_not_be_in_set", column="channel", value_set=["phone"]),
    _e("column_values_to_match_regex", column="email", regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    _e("column_values_to_not_match_regex", column="email", regex="bad"),
    _e("column_values_to_match_regex_list", column="email", regex_list=["^u", "^a"], match_on="any"),
    _e("column_value_lengths_to_be_between", column="channel", min_value=3, max_value=4),
    _e("column_value_lengths_to_equal", column="country", value=2),
    _e("column_values_to_match_strftime_format", column="day", strftime_format="%Y-%m-%d"),
    _e("column_to_exist", column="order_id"),
    _e("column_to_exist", column="channel", column_index=2),
    _e("column_to_exist", column="nope"),
    _e("table_columns_to_match_ordered_list", column_list=list(frame().columns)),
    _e("table_columns_to_match_ordered_list", column_list=["order_id"]),
    _e("table_columns_to_match_set", column_set=["order_id", "amount"], exact_match=False),
    _e("table_columns_to_match_set", column_set=["order_id", "amount"]),
    _e("table_column_count_to_equal", value=8),
    _e("table_column_count_to_be_between", min_value=1, max_value=5),
    _e("table_row_count_to_equal", value=N),
    _e("table_row_count_to_be_between", min_value=1, max_value=40),
    _e("table_row_count_to_be_between", min_value=N, strict_min=True),
    _e("column_values_to_be_of_type", column="amount", type_="float64"),
    _e("column_values_to_be_of_type", column="order_id", type_="float64"),
    _e("column_values_to_be_in_type_list", column="order_id", type_list=["int32", "int64"]),
    _e("column_values_to_be_unique", column="order_id"),
    _e("column_values_to_be_unique", column="customer_id", mostly=0.1),
    _e("column_values_to_be_unique", column="email"),
    _e("compound_columns_to_be_unique", column_list=["customer_id", "channel"]),
    _e("column_distinct_values_to_be_in_set", column="channel", value_set=["web", "app", "store", "phone"]),
    _e("column_distinct_values_to_be_in_set", column="country", value_set=["US", "DE"]),
    _e("column_distinct_values_to_contain_set", column="country", value_set=["US"]),
    _e("column_distinct_values_to_equal_set", column="quantity", value_set=list(range(1, 11))),
    _e("column_unique_value_count_to_be_between", column="customer_id", min_value=9, max_value=9),
    _e("column_unique_value_count_to_be_between", column="quantity", max_value=5),
    _e("column_min_to_be_between", column="amount", min_value=1),
    _e("column_max_to_be_between", column="quantity", max_value=10),
    _e("column_mean_to_be_between", column="amount", min_value=10, max_value=40),
    _e("column_sum_to_be_between", column="quantity", min_value=100),
    _e("column_stdev_to_be_between", column="amount", max_value=30),
    _e("column_median_to_be_between", column="amount", min_value=15, max_value=30),
    _e("column_median_to_be_between", column="quantity", min_value=1, max_value=10),
    _e(
        "column_quantile_values_to_be_between",
        column="amount",
        quantile_ranges={"quantiles": [0.1, 0.5, 0.9], "value_ranges": [[0, 20], [10, 30], [None, 100]]},
    ),
]


def batches(table: pa.Table, size: int) -> list[pd.DataFrame]:
    out = []
    for start in range(0, table.num_rows, size):
        part = table.slice(start, size).to_pandas()
        part.index = pd.RangeIndex(start, start + len(part))
        out.append(part)
    return out


@pytest.fixture(scope="module")
def whole_frame_results() -> tuple[pa.Table, dict[int, Any]]:
    """GX on the whole frame: each expectation's result, by suite position."""
    from dataframe_pipeline.validate.expectations import _build_suite, _ephemeral_context

    table = pa.Table.from_pandas(frame(), preserve_index=False)
    tagged = [{**e, "meta": {"position": i}} for i, e in enumerate(EXPECTATIONS)]
    suite = {"name": "equivalence", "expectations": tagged}
    context = _ephemeral_context()
    asset = context.data_sources.add_pandas("whole").add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": table.to_pandas()}
    )
    result = batch.validate(
        _build_suite(suite), result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10}
    )
    by_position = {int(res.expectation_config.meta["position"]): res for res in result.results}
    assert len(by_position) == len(EXPECTATIONS)
    return table, by_position


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, float) and isinstance(ours, int | float):
        return ours == pytest.approx(theirs, rel=1e-12)
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in theirs)
    if isinstance(theirs, list) and isinstance(ours, list):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    return ours == theirs


@pytest.mark.parametrize("size", [1, 6, 16, N])
def test_streaming_equals_gx_on_the_whole_frame(whole_frame_results, size: int) -> None:
    table, gx_results = whole_frame_results
    plan = plan_suite({"name": "equivalence", "expectations": EXPECTATIONS})
    validator = StreamingValidator(plan)
    for part in batches(table, size):
        assert len(validator.process(part).data) == len(part)  # nothing quarantines here
    outcomes = validator.outcomes()
    successes = {o.success for o in outcomes}
    assert successes == {True, False}  # the suite has both, so a constant verdict cannot pass
    for position, outcome in enumerate(outcomes):
        res = gx_results[position]
        label = f"{EXPECTATIONS[position]['type']}{EXPECTATIONS[position]['kwargs']}"
        detail = res.result or {}
        assert outcome.success == res.success, label
        assert outcome.exception is None or res.exception_info, label
        if "observed_value" in detail:
            assert _same(outcome.observed_value, detail["observed_value"]), (label, outcome.observed_value, detail)
        for key in ("element_count", "unexpected_count", "missing_count"):
            if key in detail:
                assert getattr(outcome, key) == detail[key], (label, key)
        if "element_count" in detail:
            assert outcome.missing_count == detail.get("missing_count"), label
            assert _same(outcome.unexpected_percent, detail["unexpected_percent"]), label
        examples = detail.get("partial_unexpected_list") or detail.get("partial_missing_list") or []
        kind = EXPECTATIONS[position]["type"]
        if "unique" in kind:
            assert all(e in examples or isinstance(e, dict) for e in outcome.examples[:3]), label
        elif "distinct" in kind:
            assert sorted(map(str, outcome.examples)) == sorted(map(str, examples)), label
        else:
            assert _same(json_safe(outcome.examples), json_safe(examples)), (label, outcome.examples, examples)


# -- property: any data, any cut into batches -------------------------------------------------------

WHOLE_COLUMN = [
    _e("column_values_to_be_unique", column="key"),
    _e("compound_columns_to_be_unique", column_list=["key", "group"]),
    _e("column_unique_value_count_to_be_between", column="key", min_value=3),
    _e("column_median_to_be_between", column="value", min_value=0, max_value=5),
    _e("column_mean_to_be_between", column="value", min_value=0, max_value=5),
    _e("column_values_to_be_between", column="value", min_value=0, max_value=6),
    _e("table_row_count_to_be_between", min_value=10),
]


@given(
    keys=st.lists(st.one_of(st.none(), st.integers(0, 12)), min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_whole_column_expectations_do_not_depend_on_the_batches(keys: list[int | None], cuts: list[int]) -> None:
    from dataframe_pipeline.validate.expectations import _build_suite, _ephemeral_context

    n = len(keys)
    frame = pd.DataFrame(
        {
            "key": pd.array(keys, dtype="Int64"),
            "group": [("a", "b", None)[i % 3] for i in range(n)],
            "value": [None if k is None else (k * 7 % 11) / 2 for k in keys],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tagged = [{**e, "meta": {"position": i}} for i, e in enumerate(WHOLE_COLUMN)]
    context = _ephemeral_context()
    asset = context.data_sources.add_pandas("whole").add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": table.to_pandas()}
    )
    gx = batch.validate(_build_suite({"name": "p", "expectations": tagged}), result_format={"result_format": "SUMMARY"})
    theirs = {int(r.expectation_config.meta["position"]): r for r in gx.results}
    validator = StreamingValidator(plan_suite({"name": "p", "expectations": WHOLE_COLUMN}))
    start, i = 0, 0
    while start < n:  # batches of the sizes drawn, in turn
        size = cuts[i % len(cuts)]
        part = table.slice(start, size).to_pandas()
        part.index = pd.RangeIndex(start, start + len(part))
        validator.process(part)
        start, i = start + size, i + 1
    for position, outcome in enumerate(validator.outcomes()):
        res, label = theirs[position], WHOLE_COLUMN[position]["type"]
        detail = res.result or {}
        assert outcome.success == res.success, label
        for key in ("element_count", "unexpected_count", "missing_count"):
            if key in detail:
                assert getattr(outcome, key) == detail[key], (label, key)
        if detail.get("observed_value") is not None:
            assert _same(outcome.observed_value, detail["observed_value"]), label
