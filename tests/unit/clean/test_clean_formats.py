"""Unit tests of the format rules: NormalizeText, RenameColumns, ConvertUnits, ConvertTimezone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataframe_pipeline.clean.formats import ConvertTimezone, ConvertUnits, NormalizeText, RenameColumns
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from tests.batching import chunks

pytestmark = pytest.mark.unit


@pytest.fixture
def names() -> pd.DataFrame:
    return pd.DataFrame(
        {"name": pd.array(["  Café \t Crème ", "\uff21\uff22\uff23", None, "e\u0301"], dtype="str")}, index=[5, 6, 7, 8]
    )


def test_normalize_text_defaults(names: pd.DataFrame) -> None:
    out = NormalizeText(["name"]).transform(names).data["name"]
    assert out.dtype == names["name"].dtype
    assert out.tolist()[:2] == ["Café Crème", "\uff21\uff22\uff23"]
    assert out.isna().tolist() == [False, False, True, False]
    assert out[8] == "\u00e9"  # NFC composes e + combining acute


def test_normalize_text_options(names: pd.DataFrame) -> None:
    rule = NormalizeText(["name"], case="lower", unicode_form="NFKC", remove_accents=True)
    assert rule.transform(names).data["name"].tolist()[:2] == ["cafe creme", "abc"]
    keep_spaces = NormalizeText(["name"], strip=False, collapse_spaces=True, case="upper")
    assert keep_spaces.transform(names).data["name"][5] == " CAFÉ CRÈME "
    raw = NormalizeText(["name"], strip=False, collapse_spaces=False, unicode_form=None)
    pd.testing.assert_frame_equal(raw.transform(names).data, names)
    one = pd.concat([NormalizeText(["name"]).transform(b).data for b in chunks(names, 1)])
    pd.testing.assert_frame_equal(one, NormalizeText(["name"]).transform(names).data)
    assert NormalizeText(["name"]).transform(names.iloc[:0]).data.empty


@pytest.mark.parametrize(
    ("params", "field"),
    [({"case": "title"}, "case"), ({"unicode_form": "NFD"}, "unicode_form"), ({"strip": 1}, "strip")],
)
def test_normalize_text_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        NormalizeText(["name"], **params).check_params(["name"])
    assert error.value.field == field


def test_rename_columns() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]}, index=[3])
    rule = RenameColumns({"a": "x"})
    pd.testing.assert_frame_equal(rule.transform(frame).data, pd.DataFrame({"x": [1], "b": [2]}, index=[3]))
    assert rule.get_feature_names_out(["a", "b"]) == ["x", "b"]
    with pytest.raises(ConfigurationError, match="duplicate"):
        RenameColumns({"a": "b"}).check_params(["a", "b"])
    with pytest.raises(ConfigurationError):
        RenameColumns({"z": "y"}).check_params(["a", "b"])
    with pytest.raises(DataContractError):
        RenameColumns({"z": "y"}).transform(frame)


@pytest.fixture
def weights() -> pd.DataFrame:
    return pd.DataFrame(
        {"w": [500.0, 2.0, 7.0, np.nan, 3.0], "unit": ["g", "kg", "lb", None, None]}, index=pd.RangeIndex(10, 15)
    )


def test_convert_units_with_unit_column(weights: pd.DataFrame) -> None:
    result = ConvertUnits("w", unit_column="unit").transform(weights)
    expected = pd.DataFrame({"w": [0.5, 2.0, np.nan], "unit": ["kg", "kg", "kg"]}, index=[10, 11, 13])
    pd.testing.assert_frame_equal(result.data, expected.astype({"unit": weights["unit"].dtype}))
    assert result.rejected.index.tolist() == [12, 14]
    assert result.rejected["_rule"].tolist() == ["convert_units", "convert_units"]
    assert result.rejected["_reason"].tolist() == [
        "unit='lb' is not a known unit ['g', 'kg']",
        "unit is missing",
    ]
    assert len(weights) == len(result.data) + result.n_rejected


def test_convert_units_fixed_unit_and_params(weights: pd.DataFrame) -> None:
    ints = pd.DataFrame({"w": pd.array([1500, None], dtype="Int64")})
    out = ConvertUnits("w", from_unit="g").transform(ints).data["w"]
    pd.testing.assert_series_equal(out, pd.Series(pd.array([1.5, None], dtype="Float64"), name="w"))
    with pytest.raises(ConfigurationError) as error:
        ConvertUnits("w").check_params(["w"])
    assert error.value.field == "from_unit"
    with pytest.raises(ConfigurationError):
        ConvertUnits("w", unit_column="unit", factors={"g": "x"}).check_params(["w", "unit"])
    with pytest.raises(DataContractError):
        ConvertUnits("unit", from_unit="kg").transform(weights)


@pytest.mark.parametrize("from_unit", [None, "lb"])
def test_convert_units_transform_names_a_missing_or_unknown_from_unit(from_unit: str | None) -> None:
    # used from code without check_params: the same error naming the field, not a KeyError from the factors
    with pytest.raises(ConfigurationError) as error:
        ConvertUnits("w", from_unit=from_unit).transform(pd.DataFrame({"w": [1.0]}))
    assert (error.value.field, error.value.value) == ("from_unit", from_unit)


def test_convert_timezone() -> None:
    frame = pd.DataFrame(
        {
            "naive": pd.to_datetime(["2024-07-01 12:00", None, "2024-03-31 02:30"]),
            "aware": pd.to_datetime(["2024-01-01 00:00"] * 3).tz_localize("UTC"),
        }
    )
    out = ConvertTimezone(["naive", "aware"], to="Europe/Paris", from_tz="Europe/Paris").transform(frame).data
    assert str(out["aware"].dtype).endswith("Europe/Paris]")
    assert out["aware"][0] == pd.Timestamp("2024-01-01 01:00", tz="Europe/Paris")
    assert out["naive"][0] == pd.Timestamp("2024-07-01 12:00", tz="Europe/Paris")
    assert out["naive"].isna().tolist() == [False, True, True]  # 02:30 does not exist that night
    utc = ConvertTimezone(["naive"], from_tz="Europe/Paris").transform(frame).data["naive"]
    assert utc[0] == pd.Timestamp("2024-07-01 10:00", tz="UTC")
    with pytest.raises(DataContractError, match="naive"):
        ConvertTimezone(["naive"]).transform(frame)
    with pytest.raises(ConfigurationError) as error:
        ConvertTimezone(["naive"], to="Mars/Olympus").check_params(["naive"])
    assert error.value.field == "to"
