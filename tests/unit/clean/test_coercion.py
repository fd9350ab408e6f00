"""Unit tests of TypeCoercion: expected values written by hand, per type and per edge case."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataframe_pipeline.clean.coercion import (
    _EMAIL_RE,
    _EMAIL_RE2,
    TypeCoercion,
    TypeSpec,
    convert,
    fullmatch,
    parse_spec,
)
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError
from tests.batching import chunks

pytestmark = pytest.mark.unit

NA = None


def text(*values: str | None, index: list[int] | None = None) -> pd.Series:
    return pd.Series(list(values), dtype="str", index=index)


def coerce(spec: str | dict, *values: str | None) -> tuple[list, list[bool], str]:
    """Values, failure flags and dtype of one column converted with ``spec``."""
    converted, failed = convert(text(*values), parse_spec("types.x", spec))
    return converted.astype(object).where(converted.notna(), None).tolist(), failed.tolist(), str(converted.dtype)


# -- one type at a time ------------------------------------------------------------------------


def test_int() -> None:
    values, failed, dtype = coerce(
        "int", " 12 ", "12.0", "12.5", "+7", "-0", "", None, "1e3", "1,000", "٣", "abc", "007", "12."
    )
    assert values == [12, 12, None, 7, 0, None, None, None, None, None, None, 7, 12]
    assert failed == [False, False, True, False, False, False, False, True, True, True, True, False, False]
    assert dtype == "Int64"


def test_int_range_is_int64() -> None:
    values, failed, _ = coerce("int", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "0" * 25)
    assert values == [2**63 - 1, -(2**63), None, 0]
    assert failed == [False, False, True, False]


def test_float() -> None:
    values, failed, dtype = coerce(
        "float", "1.5", " -2 ", ".5", "5.", "1e-5", "1E3", "", None, "1,234.50", "inf", "nan", "1e999", "0x1"
    )
    assert values == [1.5, -2.0, 0.5, 5.0, 1e-5, 1000.0, None, None, None, None, None, None, None]
    assert failed == [False] * 8 + [True] * 5
    assert dtype == "float64"


def test_float_parsing_is_correctly_rounded() -> None:
    literals = ["0.1", "2.2250738585072014e-308", "1.7976931348623157e308", "0.30000000000000004"]
    values, _, _ = coerce("float", *literals)
    assert values == [float(v) for v in literals]


def test_bool() -> None:
    words = ["true", "FALSE", "Yes", "no", "T", "f", "y", "N", "1", "0", " yes ", "", None, "maybe", "2", "1.0"]
    values, failed, dtype = coerce("bool", *words)
    assert values == [True, False, True, False, True, False, True, False, True, False, True] + [None] * 5
    assert failed == [False] * 13 + [True] * 3
    assert dtype == "boolean"


def test_string_strips_and_empties_become_null() -> None:
    values, failed, dtype = coerce("string", "  Ada ", "", "   ", None, "b c")
    assert values == ["Ada", None, None, None, "b c"]
    assert not any(failed)
    assert dtype == "str"


@pytest.mark.parametrize(("case", "expected"), [("lower", "ökö x"), ("upper", "ÖKÖ X")])
def test_string_case(case: str, expected: str) -> None:
    values, _, _ = coerce({"type": "string", "case": case}, " Ökö x ")
    assert values == [expected]


def test_email() -> None:
    values, failed, dtype = coerce(
        "email",
        " Ada@Example.COM ",
        "a.b+c@mail.co.uk",
        "a@b",
        "a b@c.de",
        "@c.de",
        "a@@c.de",
        "a@c..de",
        "a@.de",
        "",
        None,
    )
    assert values == ["ada@example.com", "a.b+c@mail.co.uk", None, None, None, None, None, None, None, None]
    assert failed == [False, False, True, True, True, True, True, True, False, False]
    assert dtype == "str"


def test_datetime_iso_naive_by_default() -> None:
    values, failed, dtype = coerce(
        "datetime", "2024-03-01", "2024-03-01T10:30:00", "2024-03-01 10:30:00+02:00", "2024-02-30", "x", "", None
    )
    assert values == [
        pd.Timestamp("2024-03-01"),
        pd.Timestamp("2024-03-01 10:30"),
        pd.Timestamp("2024-03-01 08:30"),  # converted to UTC, then naive
        None,
        None,
        None,
        None,
    ]
    assert failed == [False, False, False, True, True, False, False]
    assert dtype == "datetime64[ns]"


def test_datetime_utc_with_format() -> None:
    spec = {"type": "datetime", "format": "%d/%m/%Y %H:%M", "utc": True}
    values, failed, dtype = coerce(spec, "01/02/2024 10:00", "2024-02-01 10:00", "31/02/2024 10:00")
    assert values == [pd.Timestamp("2024-02-01 10:00", tz="UTC"), None, None]
    assert failed == [False, True, True]
    assert dtype == "datetime64[ns, UTC]"


def test_datetime_outside_the_nanosecond_range_is_an_error() -> None:
    values, failed, _ = coerce("datetime", "2300-01-01", "1600-01-01", "2262-04-11")
    assert values == [None, None, pd.Timestamp("2262-04-11")]
    assert failed == [True, True, False]


def test_datetime_keeps_nanoseconds() -> None:
    values, _, dtype = coerce({"type": "datetime", "utc": True}, "2024-01-01T00:00:00.123456789Z")
    assert values == [pd.Timestamp("2024-01-01 00:00:00.123456789", tz="UTC")]
    assert dtype == "datetime64[ns, UTC]"


def test_category_with_fixed_categories() -> None:
    values, failed, dtype = coerce({"type": "category", "categories": ["red", "blue"]}, " red", "blue", "pink", "")
    assert values == ["red", "blue", None, None]
    assert failed == [False, False, True, False]
    assert dtype == "category"


# -- the transformer ---------------------------------------------------------------------------


@pytest.fixture
def raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["1", "2", "x", "4", "5.5"],
            "price": ["9.99", "", "3", "abc", "1e2"],
            "paid": ["yes", "no", "maybe", None, "1"],
            "note": [" a ", "b", "", None, "c"],
            "_source_line": ["2", "3", "4", "5", "6"],
        },
        index=pd.RangeIndex(50, 55),
        dtype="str",
    )


TYPES = {"id": "int", "price": "float", "paid": "bool"}


def test_quarantine_rejects_a_row_once_with_joined_reasons(raw: pd.DataFrame) -> None:
    result = TypeCoercion(TYPES).transform(raw)
    expected = pd.DataFrame(
        {
            "id": pd.array([1, 2], dtype="Int64"),
            "price": [9.99, np.nan],
            "paid": pd.array([True, False], dtype="boolean"),
            "note": pd.array([" a ", "b"], dtype="str"),  # columns not listed are left alone
            "_source_line": pd.array(["2", "3"], dtype="str"),
        },
        index=[50, 51],
    )
    pd.testing.assert_frame_equal(result.data, expected)
    rejected = raw.loc[[52, 53, 54]].assign(
        _rule="coerce_types",
        _reason=[
            "id: cannot parse 'x' as int; paid: cannot parse 'maybe' as bool",
            "price: cannot parse 'abc' as float",
            "id: cannot parse '5.5' as int",
        ],
    )
    pd.testing.assert_frame_equal(result.rejected, rejected)  # the raw values, untouched
    assert len(raw) == len(result.data) + result.n_rejected + result.n_dropped


def test_on_error_null_counts(raw: pd.DataFrame) -> None:
    coercion = TypeCoercion(TYPES, on_error="null")
    result = coercion.transform(raw)
    assert result.rejected.empty
    assert result.data["id"].tolist() == [1, 2, pd.NA, 4, pd.NA]
    assert result.data["price"].tolist()[2:] == [3.0, pytest.approx(np.nan, nan_ok=True), 100.0]
    assert coercion.n_nulled_ == Counter({"id": 2, "price": 1, "paid": 1})
    coercion.transform(raw.iloc[:3])
    assert coercion.n_nulled_ == Counter({"id": 3, "price": 1, "paid": 2})


def test_reason_shows_the_raw_value_quoted() -> None:
    frame = pd.DataFrame({"n": ["it's\n"]}, dtype="str")
    result = TypeCoercion({"n": "int"}).transform(frame)
    assert result.rejected["_reason"].tolist() == ['n: cannot parse "it\'s\\n" as int']


ALL_TYPES = {
    "s": {"type": "string", "case": "upper"},
    "e": "email",
    "i": "int",
    "f": "float",
    "b": "bool",
    "c": {"type": "category", "categories": ["a", "b"]},
    "d": {"type": "datetime", "utc": True},
    "n": "datetime",
}
EXPECTED_DTYPES = {
    "s": "str",
    "e": "str",
    "i": "Int64",
    "f": "float64",
    "b": "boolean",
    "c": pd.CategoricalDtype(["a", "b"]),
    "d": "datetime64[ns, UTC]",
    "n": "datetime64[ns]",
}


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_output_dtypes_never_depend_on_the_batch(rows: int) -> None:
    full = pd.DataFrame(
        {
            "s": ["x", "", None],
            "e": ["a@b.co", None, ""],
            "i": ["1", None, ""],
            "f": ["1.5", None, ""],
            "b": ["y", None, ""],
            "c": ["a", None, ""],
            "d": ["2024-01-01", None, ""],
            "n": ["2024-01-01", None, ""],
        },
        dtype="str",
    )
    batch = full.iloc[1:] if rows == 3 else full.iloc[1 : 1 + rows]  # rows 1, 2 are all null / empty
    data = TypeCoercion(ALL_TYPES).transform(batch).data
    assert dict(data.dtypes) == {c: pd.api.types.pandas_dtype(t) for c, t in EXPECTED_DTYPES.items()}
    assert data.isna().all().all()


def test_batches_concatenate_to_the_one_batch_result(raw: pd.DataFrame) -> None:
    coercion = TypeCoercion({**TYPES, "note": "string"})
    whole = coercion.transform(raw)
    parts = [coercion.transform(batch) for batch in chunks(raw, 2)]
    pd.testing.assert_frame_equal(pd.concat([p.data for p in parts]), whole.data)
    pd.testing.assert_frame_equal(pd.concat([p.rejected for p in parts if len(p.rejected)]), whole.rejected)


def test_typed_inputs_are_converted_without_text_round_trips() -> None:
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2], dtype="int64"),
            "f": pd.array([3, None], dtype="Int64"),
            "b": [True, False],
            "d": pd.to_datetime(["2024-01-01 12:00", None]).tz_localize("Europe/Oslo"),
            "o": pd.Series([7, None], dtype=object),
            "x": [12.0, 12.5],
        }
    )
    types = {"i": "int", "f": "float", "b": "bool", "d": "datetime", "o": "int", "x": "int"}
    result = TypeCoercion(types, on_error="null").transform(frame)
    expected = pd.DataFrame(
        {
            "i": pd.array([1, 2], dtype="Int64"),
            "f": [3.0, np.nan],
            "b": pd.array([True, False], dtype="boolean"),
            "d": pd.to_datetime(["2024-01-01 11:00", None]).astype("datetime64[ns]"),
            "o": pd.array([7, None], dtype="Int64"),
            "x": pd.array([12, None], dtype="Int64"),
        }
    )
    pd.testing.assert_frame_equal(result.data, expected)


def test_category_learnt_by_fitting(raw: pd.DataFrame) -> None:
    frame = pd.DataFrame({"c": [" b", "a", None, "", "b", "c "]}, dtype="str")
    coercion = TypeCoercion({"c": "category"})
    assert coercion.stateful
    assert not TypeCoercion({"c": {"type": "category", "categories": ["a"]}}).stateful
    with pytest.raises(NotFittedError):
        coercion.transform(frame)
    coercion.fit_batches(chunks(frame, 2))
    assert coercion.categories_ == {"c": ["a", "b", "c"]}
    data = pd.concat([coercion.transform(batch).data for batch in chunks(frame, 1)])
    pd.testing.assert_series_equal(
        data["c"], pd.Series(["b", "a", None, None, "b", "c"], name="c", dtype=pd.CategoricalDtype(["a", "b", "c"]))
    )
    unseen = coercion.transform(pd.DataFrame({"c": ["zebra"]}, dtype="str"))
    assert unseen.rejected["_reason"].tolist() == ["c: cannot parse 'zebra' as category"]


def test_single_row_and_empty_input(raw: pd.DataFrame) -> None:
    coercion = TypeCoercion(TYPES)
    one = coercion.transform(raw.loc[[50]])
    assert one.data.loc[50, "id"] == 1
    assert one.data.index.tolist() == [50]
    empty = coercion.transform(raw.iloc[:0])
    assert list(empty.data.columns) == list(raw.columns)
    assert len(empty.data) == 0
    assert empty.n_rejected == 0


def test_constant_and_all_null_columns() -> None:
    frame = pd.DataFrame({"k": ["7", "7", "7"], "z": [None, None, None]}, dtype="str")
    data = TypeCoercion({"k": "int", "z": "float"}).transform(frame).data
    pd.testing.assert_frame_equal(
        data, pd.DataFrame({"k": pd.array([7, 7, 7], dtype="Int64"), "z": [np.nan, np.nan, np.nan]})
    )


def test_missing_column_in_batch(raw: pd.DataFrame) -> None:
    with pytest.raises(DataContractError, match="'zip' is not in the batch"):
        TypeCoercion({"zip": "int"}).transform(raw)


# -- configuration ----------------------------------------------------------------------------


def test_parse_spec() -> None:
    assert parse_spec("f", "int") == TypeSpec("int")
    assert parse_spec("f", {"type": "category", "categories": ["a"]}) == TypeSpec("category", categories=("a",))
    spec = parse_spec("f", {"type": "datetime", "format": "%Y", "utc": True})
    assert spec == TypeSpec("datetime", format="%Y", utc=True)


def test_check_params_accepts_every_type() -> None:
    TypeCoercion(ALL_TYPES, on_error="null").check_params(list(ALL_TYPES))


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"types": {"a": "integer"}}, "types.a", "integer"),
        ({"types": {"a": {"type": ["int"]}}}, "types.a", {"type": ["int"]}),
        ({"types": {"a": {"kind": "int"}}}, "types.a", {"kind": "int"}),
        ({"types": {"a": {"type": "int", "case": "lower"}}}, "types.a", {"type": "int", "case": "lower"}),
        ({"types": {"a": {"type": "string", "case": "title"}}}, "types.a.case", "title"),
        ({"types": {"a": {"type": "datetime", "utc": "yes"}}}, "types.a.utc", "yes"),
        ({"types": {"a": {"type": "datetime", "format": "YYYY"}}}, "types.a.format", "YYYY"),
        ({"types": {"a": {"type": "category", "categories": "ab"}}}, "types.a.categories", "ab"),
        ({"types": {"a": {"type": "category", "categories": ["a", "a"]}}}, "types.a.categories", ["a", "a"]),
        ({"types": {"a": {"type": "category", "categories": [" a"]}}}, "types.a.categories", [" a"]),
        ({"types": {"zip": "int"}}, "types", "zip"),
        ({"types": {}}, "types", {}),
        ({"types": {"a": "int"}, "on_error": "ignore"}, "on_error", "ignore"),
    ],
)
def test_check_params_rejects(params: dict, field: str, value: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        TypeCoercion(**params).check_params(["a", "b"])
    assert error.value.field == field
    assert error.value.value == value


# Characters Python's re counts as whitespace and RE2's \s does not, and near misses.
_TRICKY = "ab.@ \t\n\x0b\x0c\r\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u3000\u200bé"


_PART = st.text(alphabet=_TRICKY, min_size=1, max_size=4)
_ADDRESS_LIKE = st.builds(lambda a, b, c: f"{a}@{b}.{c}", _PART, _PART, _PART)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ADDRESS_LIKE | st.text(alphabet=_TRICKY, max_size=12), min_size=1, max_size=20))
def test_email_arrow_regex_agrees_with_python_re(values: list[str]) -> None:
    """The RE2 spelling of the e-mail pattern accepts exactly what Python's re accepts."""
    arrow_backed = pd.Series(values, dtype="str")
    python_side = [re.fullmatch(_EMAIL_RE, v) is not None for v in values]
    assert fullmatch(arrow_backed, _EMAIL_RE, _EMAIL_RE2).tolist() == python_side
    assert fullmatch(arrow_backed.astype(object), _EMAIL_RE, _EMAIL_RE2).tolist() == python_side


def test_fullmatch_of_nulls_is_false() -> None:
    values = pd.Series(["a@b.c", None], dtype="str")
    assert fullmatch(values, _EMAIL_RE, _EMAIL_RE2).tolist() == [True, False]


# -- the Arrow fast paths give what the general (pandas) path gives ------------------------------


def _python_text(text: pd.Series) -> pd.Series:
    """The same values as Python-backed strings, which take the general path."""
    return text.astype(pd.StringDtype("python"))


FLOAT_EDGES = [
    "1.5", "+1.5", "-0", "-0.0", "1.", ".5", "+.5e-3", "1e5", "1E-5", "00012.5000", "1e999", "-1e999",
    "4.9e-324", "2.4703282292062328e-324", "2.4703282292062327e-324", "1.7976931348623157e308",
    "1.7976931348623159e308", "0.1000000000000000055511151231257827", "123456789012345678901234567890",
    "nan", "inf", "0x10", "1_0", "1e", "e1", ".", "٣", "1,5", None,
]  # fmt: skip


def _general_float(text: pd.Series) -> pd.Series:
    from dataframe_pipeline.clean.coercion import _parse_float

    general = _parse_float(_python_text(text), TypeSpec("float"))
    return general.astype("float64")


def test_float_fast_path_matches_the_general_path_bit_for_bit() -> None:
    from dataframe_pipeline.clean.coercion import _arrow_floats, _parse_float, _text

    text = _text(pd.Series(FLOAT_EDGES, dtype="str"))
    assert _arrow_floats(text) is not None  # the fast path is taken
    fast, general = _parse_float(text, TypeSpec("float")), _general_float(text)
    assert fast.dtype == np.float64
    np.testing.assert_array_equal(fast.to_numpy().view(np.uint64), general.to_numpy().view(np.uint64))
    assert fast.isna().sum() == 13  # the nine malformed, the null and the three beyond float64


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.from_regex(r"[+-]?(?:[0-9]{1,25}(?:\.[0-9]{0,25})?|\.[0-9]{1,25})(?:[eE][+-]?[0-9]{1,3})?", fullmatch=True),
        max_size=40,
    )
)
def test_float_fast_path_rounds_like_python(literals: list[str]) -> None:
    from dataframe_pipeline.clean.coercion import _parse_float, _text

    text = _text(pd.Series(literals, dtype="str"))
    fast, general = _parse_float(text, TypeSpec("float")), _general_float(text)
    np.testing.assert_array_equal(fast.to_numpy().view(np.uint64), general.to_numpy().view(np.uint64))


DATETIME_EDGES = [
    "2026-01-01 10:00:00", "2024-02-29 00:00:00", "2026-01-01T10:00:00", "2026-1-01 10:00:00",
    "2026-01-01 1:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "1677-09-21 00:12:43",
    "1677-09-21 00:12:44", "2262-04-11 23:47:16", "2262-04-11 23:47:17", "2026-01-01 10:00:00+02:00",
    "2026-01-01T10:00:00Z", "2026-01-01", "2026-01-01 10:00:00.5", "not a date",
    "\uff11\uff12\uff13\uff14-01-01 10:00:00", None,
]  # fmt: skip
# of the form Arrow parses, but impossible: Arrow refuses them, and pandas parses the whole batch
IMPOSSIBLE = [
    "2026-02-29 00:00:00",
    "2026-02-30 12:00:00",
    "2026-13-01 00:00:00",
    "2026-01-01 24:00:00",
    "2026-01-01 23:59:60",
]


def _general_datetime(text: pd.Series, spec: TypeSpec) -> pd.Series:
    from dataframe_pipeline.clean.coercion import _parse_datetime

    return _parse_datetime(_python_text(text), spec)


@pytest.mark.parametrize("utc", [True, False])
@pytest.mark.parametrize(
    "values",
    [
        DATETIME_EDGES,
        *([*DATETIME_EDGES, impossible] for impossible in IMPOSSIBLE),
        [],
        [None, None],
        ["not a date", "2026-02-29", "12:00:00"],
        ["2026-03-04 05:06:07"] * 3,
    ],
    ids=[
        "edges",
        *(f"impossible-{i}" for i in range(len(IMPOSSIBLE))),
        "empty",
        "all-null",
        "all-invalid",
        "all-simple",
    ],
)
def test_datetime_fast_path_matches_the_general_path(values: list[str | None], utc: bool) -> None:
    from dataframe_pipeline.clean.coercion import _arrow_datetimes, _parse_datetime, _text

    spec = TypeSpec("datetime", utc=utc)
    text = _text(pd.Series(values, dtype="str", index=pd.RangeIndex(7, 7 + len(values))))
    # the fast path is taken unless Arrow refuses a value
    assert (_arrow_datetimes(text, spec) is None) == any(v in IMPOSSIBLE for v in values)
    fast = _parse_datetime(text, spec)
    pd.testing.assert_series_equal(fast, _general_datetime(text, spec))
    assert str(fast.dtype) == ("datetime64[ns, UTC]" if utc else "datetime64[ns]")


def test_datetime_fast_path_through_the_transform_quarantines_the_same_rows() -> None:
    raw = pd.DataFrame(
        {"ts": pd.array(DATETIME_EDGES, dtype="str")}, index=pd.RangeIndex(100, 100 + len(DATETIME_EDGES))
    )
    fast = TypeCoercion({"ts": {"type": "datetime", "utc": True}}).transform(raw)
    general = TypeCoercion({"ts": {"type": "datetime", "utc": True}}).transform(
        raw.astype({"ts": pd.StringDtype("python")})
    )
    pd.testing.assert_series_equal(fast.data["ts"], general.data["ts"])
    assert fast.rejected["_reason"].tolist() == general.rejected["_reason"].tolist()
    assert len(fast.rejected) == 6  # four out of the nanosecond range, two not dates


INT_EDGES = [
    "1", "+1", "-1", "007", "-0", "12.", "12.000", "12.5", "1e3", "", "\u0663", "123456789012345678",
    "-123456789012345678", None, "+", "-", ".0", "0.0", "1.00e0", "0x1",
]  # fmt: skip


@pytest.mark.parametrize(
    "extra",
    [[], ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "1" * 30]],
    ids=["short", "long-digits"],
)
def test_int_fast_path_matches_the_general_path(extra: list[str]) -> None:
    from dataframe_pipeline.clean.coercion import _arrow_ints, _parse_int, _text

    text = _text(pd.Series(INT_EDGES + extra, dtype="str"))
    # more than 18 digits: the general path checks the int64 range value by value
    assert (_arrow_ints(text) is None) == bool(extra)
    fast = _parse_int(text, TypeSpec("int"))
    pd.testing.assert_series_equal(fast, _parse_int(_python_text(text), TypeSpec("int")))
    assert str(fast.dtype) == "Int64"
    assert fast.iloc[:9].tolist() == [1, 1, -1, 7, 0, 12, 12, pd.NA, pd.NA]


def test_int_fast_path_on_an_empty_batch() -> None:
    from dataframe_pipeline.clean.coercion import _arrow_ints, _text

    values = _arrow_ints(_text(pd.Series([], dtype="str")))
    assert values is not None and str(values.dtype) == "Int64" and len(values) == 0
