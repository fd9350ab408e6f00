"""Tests of the validate step's Great Expectations logic (suite loading, running, reporting)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.exceptions import ConfigurationError, ValidationFailedError
from dataframe_pipeline.validate import ExpectationFailure, ValidationReport, load_suite, run_suite
from dataframe_pipeline.validate.expectations import json_safe, suite_problem

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.unit

SUITE_PATH = Path(__file__).resolve().parents[3] / "include" / "expectations" / "orders_curated.json"
N_EXPECTATIONS = 25  # 10 columns must exist + 15 value/table checks

UNIQUE = "expect_column_values_to_be_unique"
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
REGEX = "expect_column_values_to_match_regex"
EXISTS = "expect_column_to_exist"
ROW_COUNT = "expect_table_row_count_to_be_between"


@pytest.fixture(scope="module")
def suite() -> dict[str, Any]:
    return load_suite(SUITE_PATH)


def good_frame(n: int = 6, start: int = 0) -> pd.DataFrame:
    """Curated orders that satisfy the suite, indexed by row position from ``start``."""
    idx = pd.RangeIndex(start, start + n)
    channels = ["web", "app", "store", "phone", "partner"]
    return pd.DataFrame(
        {
            "order_id": [f"O26100100{i:02d}" for i in idx],
            "customer_id": [f"C{i:05d}" for i in idx],
            "customer_email": [f"user{i}@example.com" for i in idx],
            "order_ts": pd.date_range("2026-10-01 08:00", periods=n, freq="h", tz="UTC"),
            "country": ["US", "DE", "FR"] * (n // 3) + ["US"] * (n % 3),
            "channel": [channels[i % 5] for i in range(n)],
            "amount": [round(9.99 * (i + 1), 2) for i in range(n)],
            "quantity": [i % 10 + 1 for i in range(n)],
            "unit_price": [9.99] * n,
            "returned": [i % 2 for i in range(n)],
            "split": ["train" if i % 4 else "test" for i in range(n)],
            "channel__web": [float(i % 5 == 0) for i in range(n)],  # encoded columns are not checked
            "amount__scaled": np.linspace(-1.0, 1.0, n),
        },
        index=idx,
    )


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(f.expectation_type, f.column) for f in report.failures}


def only_failure(report: ValidationReport) -> ExpectationFailure:
    assert len(report.failures) == 1, report.summary()
    return report.failures[0]


# --- the suite file -------------------------------------------------------------------------------


def test_suite_file_is_canonical_gx_json(suite: dict[str, Any]) -> None:
    import great_expectations as gx

    # ``on_failure`` is this project's addition (validate/suite.py); the rest is GX's own JSON
    expectations = [{k: v for k, v in e.items() if k != "on_failure"} for e in suite["expectations"]]
    rebuilt = gx.ExpectationSuite(name=suite["name"], expectations=expectations, meta=suite["meta"])
    assert len(rebuilt.expectations) == N_EXPECTATIONS  # GX skips invalid ones, so this catches typos
    assert rebuilt.to_json_dict()["expectations"] == expectations
    assert suite["name"] == "orders_curated"


def test_suite_requires_the_curated_columns(suite: dict[str, Any]) -> None:
    required = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == EXISTS}
    assert required == {
        "order_id",
        "customer_id",
        "customer_email",
        "order_ts",
        "country",
        "channel",
        "amount",
        "quantity",
        "returned",
        "split",
    }


# --- passing data -----------------------------------------------------------------------------------


def test_good_frame_passes(suite: dict[str, Any]) -> None:
    report = run_suite(suite, good_frame())
    assert report == ValidationReport(
        suite_name="orders_curated",
        success=True,
        evaluated=N_EXPECTATIONS,
        successful=N_EXPECTATIONS,
        unsuccessful=0,
        rows=6,
        failures=(),
    )
    assert (
        report.summary()
        == f"suite orders_curated passed: {N_EXPECTATIONS}/{N_EXPECTATIONS} expectations passed on 6 rows"
    )
    report.raise_for_failure()  # no exception


def test_good_frame_with_nullable_and_arrow_dtypes_passes(suite: dict[str, Any]) -> None:
    df = good_frame().astype(
        {
            "order_id": "string[pyarrow]",
            "customer_email": "string[python]",
            "channel": "category",
            "amount": "Float64",
            "quantity": "Int64",
            "returned": "Int8",
            "split": "string[pyarrow]",
        }
    )
    assert run_suite(suite, df).success


def test_single_row_passes(suite: dict[str, Any]) -> None:
    report = run_suite(suite, good_frame(1))
    assert report.success
    assert report.rows == 1


def test_boolean_label_passes_as_documented(suite: dict[str, Any]) -> None:
    # the suite documents returned as 0/1 and that GX's in-set test compares by value
    df = good_frame().assign(returned=lambda d: d["returned"].astype(bool))
    assert run_suite(suite, df).success


def test_all_null_email_passes_but_all_null_label_fails(suite: dict[str, Any]) -> None:
    emails = good_frame().assign(customer_email=pd.Series([None] * 6, dtype="str"))
    assert run_suite(suite, emails).success  # e-mail may be null (documented in the suite's meta)

    labels = good_frame().assign(returned=pd.array([pd.NA] * 6, dtype="Int64"))
    failure = only_failure(run_suite(suite, labels))
    assert (failure.expectation_type, failure.column) == (NOT_NULL, "returned")
    assert failure.unexpected_count == 6
    assert failure.partial_unexpected == (None,) * 6
    assert failure.partial_unexpected_index == (0, 1, 2, 3, 4, 5)


def test_constant_columns_pass(suite: dict[str, Any]) -> None:
    df = good_frame().assign(channel="web", quantity=1, returned=0, split="train", amount=5.0)
    assert run_suite(suite, df).success


# --- each kind of violation -------------------------------------------------------------------------


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A mutation of :func:`good_frame` putting ``value`` at ``row`` of ``column``."""

    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        if value is None and out[column].dtype.kind in "iub":
            out[column] = out[column].astype("Int64")
        out.loc[row, column] = value
        return out

    return mutate


class Violation(NamedTuple):
    """One broken value and what the report must say about it."""

    mutate: Callable[[pd.DataFrame], pd.DataFrame]
    expectation_type: str
    column: str
    values: tuple[object, ...]  # the unexpected values reported
    rows: tuple[int, ...]  # their row positions


EMAIL = "customer_email"
FIRST_ID = "O2610010001"  # good_frame()'s order_id at row 1
VIOLATIONS = {
    "duplicate order_id": Violation(_set("order_id", 4, FIRST_ID), UNIQUE, "order_id", (FIRST_ID, FIRST_ID), (1, 4)),
    "null order_id": Violation(_set("order_id", 2, None), NOT_NULL, "order_id", (None,), (2,)),
    "null amount": Violation(_set("amount", 3, None), NOT_NULL, "amount", (None,), (3,)),
    "zero amount": Violation(_set("amount", 0, 0.0), BETWEEN, "amount", (0.0,), (0,)),
    "negative amount": Violation(_set("amount", 5, -12.5), BETWEEN, "amount", (-12.5,), (5,)),
    "quantity 0": Violation(_set("quantity", 1, 0), BETWEEN, "quantity", (0,), (1,)),
    "quantity 11": Violation(_set("quantity", 2, 11), BETWEEN, "quantity", (11,), (2,)),
    "null quantity": Violation(_set("quantity", 2, None), NOT_NULL, "quantity", (None,), (2,)),
    "upper-case channel": Violation(_set("channel", 0, "WEB"), IN_SET, "channel", ("WEB",), (0,)),
    "unknown channel": Violation(_set("channel", 3, "fax"), IN_SET, "channel", ("fax",), (3,)),
    "email without @": Violation(_set(EMAIL, 1, "u1example.com"), REGEX, EMAIL, ("u1example.com",), (1,)),
    "email with space": Violation(_set(EMAIL, 2, "u 2@example.com"), REGEX, EMAIL, ("u 2@example.com",), (2,)),
    "email with @@": Violation(_set(EMAIL, 3, "u@@example.com"), REGEX, EMAIL, ("u@@example.com",), (3,)),
    "email without dot": Violation(_set(EMAIL, 4, "u@examplecom"), REGEX, EMAIL, ("u@examplecom",), (4,)),
    "label 2": Violation(_set("returned", 5, 2), IN_SET, "returned", (2,), (5,)),
    "null label": Violation(_set("returned", 0, None), NOT_NULL, "returned", (None,), (0,)),
    "split validation": Violation(_set("split", 1, "validation"), IN_SET, "split", ("validation",), (1,)),
    "null split": Violation(_set("split", 4, None), NOT_NULL, "split", (None,), (4,)),
}


@pytest.mark.parametrize("case", list(VIOLATIONS.values()), ids=list(VIOLATIONS))
def test_each_violation_is_reported(suite: dict[str, Any], case: Violation) -> None:
    report = run_suite(suite, case.mutate(good_frame()))
    failure = only_failure(report)
    assert (failure.expectation_type, failure.column) == (case.expectation_type, case.column)
    assert failure.unexpected_count == len(case.rows)
    assert failure.partial_unexpected == case.values
    assert failure.partial_unexpected_index == case.rows
    assert failure.exception is None
    counts = (report.success, report.evaluated, report.successful, report.unsuccessful)
    assert counts == (False, N_EXPECTATIONS, N_EXPECTATIONS - 1, 1)


def test_missing_column_is_reported_with_its_dependent_checks(suite: dict[str, Any]) -> None:
    report = run_suite(suite, good_frame().drop(columns="split"))
    assert failed(report) == {(EXISTS, "split"), (NOT_NULL, "split"), (IN_SET, "split")}
    exists, not_null, in_set = report.failures  # suite order
    assert exists.expectation_type == EXISTS
    assert exists.exception is None
    assert (not_null.expectation_type, in_set.expectation_type) == (NOT_NULL, IN_SET)
    assert not_null.exception == 'Error: The column "split" in BatchData does not exist.'
    assert report.unsuccessful == 3


def test_empty_frame_fails_only_the_row_count(suite: dict[str, Any]) -> None:
    report = run_suite(suite, good_frame().iloc[:0])
    failure = only_failure(report)
    assert failure.as_dict() == {
        "expectation_type": ROW_COUNT,
        "column": None,
        "kwargs": {"min_value": 1},
        "unexpected_count": None,
        "partial_unexpected": [],
        "partial_unexpected_index": [],
        "observed_value": 0,
        "exception": None,
    }
    assert report.rows == 0


def test_failures_follow_suite_order_and_index_is_row_position(suite: dict[str, Any]) -> None:
    df = good_frame(12, start=100)
    df.loc[111, "split"] = "dev"
    df.loc[105, "channel"] = "Web "
    df.loc[[101, 107], "amount"] = [-1.0, 0.0]
    df.loc[103, "order_id"] = df.loc[102, "order_id"]
    report = run_suite(suite, df)
    assert [(f.expectation_type, f.column) for f in report.failures] == [
        (UNIQUE, "order_id"),
        (BETWEEN, "amount"),
        (IN_SET, "channel"),
        (IN_SET, "split"),
    ]
    assert [f.partial_unexpected_index for f in report.failures] == [(102, 103), (101, 107), (105,), (111,)]
    assert report.failures[1].partial_unexpected == (-1.0, 0.0)


def test_partial_unexpected_is_capped_at_ten(suite: dict[str, Any]) -> None:
    df = good_frame(30).assign(channel="WEB")
    failure = only_failure(run_suite(suite, df))
    assert failure.unexpected_count == 30
    assert failure.partial_unexpected == ("WEB",) * 10
    assert failure.partial_unexpected_index == tuple(range(10))


# --- report -----------------------------------------------------------------------------------------


def test_report_as_dict_is_json_safe_and_exact(suite: dict[str, Any]) -> None:
    df = _set("amount", 2, None)(_set("channel", 4, "WEB")(good_frame()))
    report = run_suite(suite, df)
    as_dict = report.as_dict()
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    assert as_dict == {
        "suite_name": "orders_curated",
        "success": False,
        "evaluated": N_EXPECTATIONS,
        "successful": N_EXPECTATIONS - 2,
        "unsuccessful": 2,
        "rows": 6,
        "failures": [
            {
                "expectation_type": NOT_NULL,
                "column": "amount",
                "kwargs": {"column": "amount"},
                "unexpected_count": 1,
                "partial_unexpected": [None],
                "partial_unexpected_index": [2],
                "observed_value": None,
                "exception": None,
            },
            {
                "expectation_type": IN_SET,
                "column": "channel",
                "kwargs": {"column": "channel", "value_set": ["app", "partner", "phone", "store", "web"]},
                "unexpected_count": 1,
                "partial_unexpected": ["WEB"],
                "partial_unexpected_index": [4],
                "observed_value": None,
                "exception": None,
            },
        ],
    }


def test_summary_and_raise_for_failure(suite: dict[str, Any]) -> None:
    df = good_frame().drop(columns="split")
    df.loc[0, "channel"] = "WEB"
    df.loc[1, "quantity"] = 20
    df.loc[2, "returned"] = 3
    report = run_suite(suite, df)
    expected = (
        f"suite orders_curated FAILED: {N_EXPECTATIONS - 6}/{N_EXPECTATIONS} expectations passed on 6 rows; "
        "failed: expect_column_to_exist(split): failed; "
        "expect_column_values_to_be_between(quantity): 1 unexpected; "
        "expect_column_values_to_be_in_set(channel): 1 unexpected; "
        "expect_column_values_to_be_in_set(returned): 1 unexpected; "
        'expect_column_values_to_not_be_null(split): not evaluated (Error: The column "split" in BatchData '
        "does not exist.); and 1 more"
    )
    assert report.summary() == expected
    with pytest.raises(ValidationFailedError) as err:
        report.raise_for_failure()
    assert str(err.value) == expected


def test_same_input_gives_same_report(suite: dict[str, Any]) -> None:
    df = _set("order_id", 5, "O2610010000")(good_frame())
    assert run_suite(suite, df).as_dict() == run_suite(suite, df.copy()).as_dict()


def test_input_frame_is_not_modified(suite: dict[str, Any]) -> None:
    df = _set("channel", 1, "WEB")(good_frame())
    before = df.copy()
    run_suite(suite, df)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.float64("nan"), None),
        (float("inf"), None),
        (np.bool_(True), True),
        (pd.NA, None),
        (pd.NaT, None),
        (np.datetime64("NaT"), None),
        (pd.Timestamp("2026-10-01 12:00", tz="UTC"), "2026-10-01T12:00:00+00:00"),
        (np.datetime64("2026-10-01T12:00:00"), "2026-10-01T12:00:00"),
        (dt.date(2026, 10, 1), "2026-10-01"),
        (Decimal("1.50"), "1.50"),
        ({1: [np.int8(1), None]}, {"1": [1, None]}),
        ({"b", "a"}, ["a", "b"]),
        ((1.5, "x"), [1.5, "x"]),
    ],
)
def test_json_safe(value: object, expected: object) -> None:
    assert json_safe(value) == expected
    json.dumps(json_safe(value), allow_nan=False)


def test_nullable_and_datetime_unexpected_values_are_json_safe() -> None:
    suite = {
        "name": "types",
        "expectations": [
            {"type": NOT_NULL, "kwargs": {"column": "n"}},
            {"type": IN_SET, "kwargs": {"column": "ts", "value_set": ["2026-10-01"]}},
        ],
    }
    df = pd.DataFrame(
        {
            "n": pd.array([1, None], dtype="Int64"),
            "ts": pd.to_datetime(["2026-10-02 10:00", "2026-10-03 11:30"]),
        }
    )
    report = run_suite(suite, df)
    as_dict = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert [f["partial_unexpected"] for f in as_dict["failures"]] == [
        [None],
        ["2026-10-02T10:00:00", "2026-10-03T11:30:00"],
    ]


# --- bad suites -------------------------------------------------------------------------------------


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(content, encoding="utf-8")
    return path


GOOD_EXPECTATION = {"type": NOT_NULL, "kwargs": {"column": "a"}}


def _suite_json(**fields: object) -> str:
    """A suite's JSON: one good expectation, with ``fields`` replacing or adding top-level keys."""
    return json.dumps({"name": "s", "expectations": [GOOD_EXPECTATION], **fields})


def _one(expectation: object) -> str:
    return _suite_json(expectations=[expectation])


BAD_FILES = {
    "not json": ("{not json", "not valid JSON"),
    "a list": ("[]", "the suite must be a JSON object, got list"),
    "no name": (json.dumps({"expectations": [GOOD_EXPECTATION]}), "'name' must be a non-empty string, got None"),
    "blank name": (_suite_json(name=" "), "'name' must be a non-empty string"),
    "no expectations": (_suite_json(expectations=[]), "'expectations' must be a non-empty list"),
    "expectations not a list": (_suite_json(expectations={}), "'expectations' must be a non-empty list"),
    "unknown key": (_suite_json(expectation=[]), "unknown top-level keys ['expectation']"),
    "meta not an object": (_suite_json(meta=[]), "'meta' must be a JSON object"),
    "expectation a string": (_one("expect_x"), "expectations[0] must be a JSON object, got str"),
    "no type": (
        _suite_json(expectations=[GOOD_EXPECTATION, {"kwargs": {}}]),
        "expectations[1].type must be a non-empty string, got None",
    ),
    "kwargs a list": (
        _one({"type": NOT_NULL, "kwargs": ["a"]}),
        "expectations[0].kwargs must be a JSON object, got ['a']",
    ),
    "no kwargs": (_one({"type": NOT_NULL}), "expectations[0].kwargs must be a JSON object, got None"),
    "typo in a key": (_one({**GOOD_EXPECTATION, "kwarg": {}}), "expectations[0] has unknown keys ['kwarg']"),
}


@pytest.mark.parametrize(("content", "problem"), list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_load_suite_rejects_bad_files(tmp_path: Path, content: str, problem: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ConfigurationError) as err:
        load_suite(path)
    assert err.value.field == "suite_path"
    assert err.value.value == str(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)


def test_load_suite_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError, match="no such file") as err:
        load_suite(path)
    assert err.value.value == str(path)


def test_load_suite_returns_the_json(tmp_path: Path) -> None:
    data = {"name": "s", "expectations": [GOOD_EXPECTATION], "meta": {"x": 1}}
    assert load_suite(_write(tmp_path, json.dumps(data))) == data
    assert suite_problem(data) is None


INVALID_EXPECTATIONS = {
    "unknown type": (
        {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "a"}},
        "expect_column_values_to_be_purple not found",
    ),
    "misspelt kwarg": ({"type": BETWEEN, "kwargs": {"colum": "a", "min_value": 1}}, "is invalid"),
    "bad kwarg value": ({"type": BETWEEN, "kwargs": {"column": "a", "min_value": "one"}}, "is invalid"),
}


@pytest.mark.parametrize(
    ("expectation", "problem"), list(INVALID_EXPECTATIONS.values()), ids=list(INVALID_EXPECTATIONS)
)
def test_run_suite_rejects_unknown_or_invalid_expectations(expectation: dict, problem: str) -> None:
    suite = {"name": "bad", "expectations": [GOOD_EXPECTATION, expectation]}
    with pytest.raises(ConfigurationError) as err:
        run_suite(suite, pd.DataFrame({"a": [1]}))
    assert err.value.field == "suite"
    assert err.value.value == "bad"
    assert "expectations[1]" in str(err.value)
    assert problem in str(err.value)


def test_run_suite_checks_the_shape_too() -> None:
    with pytest.raises(ConfigurationError, match="'expectations' must be a non-empty list"):
        run_suite({"name": "s", "expectations": []}, pd.DataFrame({"a": [1]}))


# --- side effects -----------------------------------------------------------------------------------


def test_no_files_and_no_output(
    suite: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run_suite(suite, good_frame())
    run_suite(suite, good_frame().drop(columns="order_id"))
    assert list(tmp_path.iterdir()) == []  # no gx/ folder, no uncommitted/ data docs
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no progress bars, no logging to the console
