from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.core.batch import RowAccounting
from dataframe_pipeline.enrich.lookup import LookupJoin
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError


@pytest.fixture
def airports() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "faa": ["JFK", "LGA", "EWR", None],
            "name": ["John F Kennedy Intl", "La Guardia", "Newark Liberty Intl", "ghost"],
            "lat": [40.64, 40.78, 40.69, 0.0],
            "alt": [13, 22, 18, 0],
        }
    )


@pytest.fixture
def flights() -> pd.DataFrame:
    return pd.DataFrame(
        {"origin": ["EWR", "XXX", "JFK", None, "EWR"], "dep": [517, 533, 542, 544, 554]},
        index=pd.RangeIndex(100, 105),
    )


def test_left_join_by_hand_keeps_index_order_and_dtypes(airports, flights) -> None:
    join = LookupJoin(airports, on={"left": ["origin"], "right": ["faa"]}, columns=["name", "alt"], prefix="o_")
    out = join.fit(flights).transform(flights).data
    expected = flights.assign(
        o_name=pd.Series(
            ["Newark Liberty Intl", None, "John F Kennedy Intl", None, "Newark Liberty Intl"],
            dtype="str",
            index=flights.index,
        ),
        o_alt=pd.array([18, None, 13, None, 18], dtype="Int64"),
    )
    assert_frame_equal(out, expected)


def test_matches_pandas_merge_oracle(airports, flights) -> None:
    join = LookupJoin(airports.rename(columns={"faa": "origin"}), on=["origin"]).fit(flights)
    out = join.transform(flights).data
    ref = airports.rename(columns={"faa": "origin"}).dropna(subset=["origin"])
    oracle = flights.merge(ref, on="origin", how="left").set_axis(flights.index)
    assert_frame_equal(out, oracle, check_dtype=False)
    assert out["alt"].dtype == "Int64"


def test_quarantine_unmatched_with_reason(airports, flights) -> None:
    for kwargs in ({"how": "inner"}, {"on_missing": "quarantine"}):
        join = LookupJoin(airports, on={"left": ["origin"], "right": ["faa"]}, name="airports", **kwargs).fit(flights)
        result = join.transform(flights)
        assert list(result.data.index) == [100, 102, 104]
        assert list(result.rejected.index) == [101, 103]
        assert result.rejected["_reason"].tolist() == [
            "no airports match for key='XXX'",
            "no airports match for key=None",
        ]
        assert list(result.rejected.columns) == ["origin", "dep", "_rule", "_reason"]
        assert RowAccounting(len(flights), len(result.data), result.n_rejected).balanced


def test_composite_key_and_file_reference(tmp_path: Path) -> None:
    ref = pd.DataFrame({"k1": ["a", "a", "b"], "k2": [1, 2, 1], "v": [0.5, 1.5, 2.5]})
    path = tmp_path / "weights.parquet"
    ref.to_parquet(path)
    batch = pd.DataFrame({"k1": ["b", "a", "a"], "k2": [1, 2, 3]}, index=[9, 4, 6])
    join = LookupJoin(str(path), on=["k1", "k2"], how="inner").fit(batch)
    result = join.transform(batch)
    assert result.data["v"].tolist() == [2.5, 1.5]
    assert list(result.data.index) == [9, 4]
    assert result.rejected["_reason"].tolist() == ["no weights match for key=('a', 3)"]

    csv = tmp_path / "weights.csv"
    ref.to_csv(csv, index=False)
    same = LookupJoin(csv, on=["k1", "k2"]).fit(batch).transform(batch).data
    assert same["v"].tolist()[:2] == [2.5, 1.5]
    assert np.isnan(same["v"].tolist()[2])


def test_duplicate_reference_key_is_an_error(airports) -> None:
    dup = pd.concat([airports, airports.iloc[[0]]])
    with pytest.raises(DataContractError, match="JFK"):
        LookupJoin(dup, on={"left": ["origin"], "right": ["faa"]}).fit(pd.DataFrame())


def test_edge_cases_and_batch_invariance(airports, flights) -> None:
    join = LookupJoin(airports, on={"left": ["origin"], "right": ["faa"]}, on_missing="quarantine").fit(flights)
    whole = join.transform(flights)
    parts = [join.transform(flights.iloc[a:b]) for a, b in ((0, 1), (1, 1), (1, 5))]
    assert_frame_equal(pd.concat([p.data for p in parts]), whole.data)
    empty = join.transform(flights.iloc[:0]).data
    assert list(empty.columns) == list(whole.data.columns)
    assert (empty.dtypes == whole.data.dtypes).all()
    nulls = pd.DataFrame({"origin": pd.Series([None, None], dtype="str"), "dep": [1, 2]})
    assert join.transform(nulls).n_rejected == 2
    one = LookupJoin(airports.iloc[[0]], on={"left": ["origin"], "right": ["faa"]}, columns=["lat"]).fit(flights)
    assert one.transform(flights).data["lat"].tolist()[2] == 40.64


def test_errors(airports, flights) -> None:
    with pytest.raises(NotFittedError):
        LookupJoin(airports, on=["faa"]).transform(flights)
    with pytest.raises(DataContractError, match="lacks"):
        LookupJoin(airports, on=["nope"]).fit(flights)
    join = LookupJoin(airports, on={"left": ["origin"], "right": ["faa"]}, columns=["dep"])
    with pytest.raises(DataContractError, match="lacks"):
        join.fit(flights)
    clash = LookupJoin(airports.rename(columns={"lat": "dep"}), on={"left": ["origin"], "right": ["faa"]}).fit(flights)
    with pytest.raises(DataContractError, match="already exist"):
        clash.transform(flights)
    for kwargs, field in (
        ({"on": []}, "on"),
        ({"on": {"left": ["a"], "right": ["b", "c"]}}, "on"),
        ({"on": ["a"], "how": "outer"}, "how"),
        ({"on": ["a"], "on_missing": "drop"}, "on_missing"),
        ({"on": ["zz"]}, "on"),
    ):
        with pytest.raises(ConfigurationError) as info:
            LookupJoin(airports, **kwargs).check_params(["a"])
        assert info.value.field == field
    with pytest.raises(ConfigurationError, match="reference"):
        LookupJoin("ref.xlsx", on=["a"]).fit(flights)


def test_fitted_join_saves_with_skops_without_the_dataframe(airports, flights) -> None:
    import skops.io

    join = LookupJoin(airports, on={"left": ["origin"], "right": ["faa"]}).fit(flights)
    expected = join.transform(flights).data
    data = skops.io.dumps(join)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert loaded.reference is None
    assert_frame_equal(loaded.transform(flights).data, expected)


def test_reference_from_a_dataset_written_by_an_ingest_step(tmp_path) -> None:
    import fsspec

    from dataframe_pipeline.core.dataset import DatasetWriter
    from dataframe_pipeline.enrich.lookup import read_reference

    with DatasetWriter(fsspec.filesystem("file"), str(tmp_path / "airports" / "output")) as writer:
        writer.write(pd.DataFrame({"faa": ["EWR", "JFK"], "name": ["Newark", "Kennedy"]}))
        writer.write(pd.DataFrame({"faa": ["LGA"], "name": ["La Guardia"]}))
        ref = writer.commit()
    for source in (ref.uri if "://" in ref.uri else f"file://{ref.uri}", str(tmp_path / "airports" / "output")):
        frame = read_reference(source)
        assert frame["faa"].tolist() == ["EWR", "JFK", "LGA"]
        assert list(frame.index) == [0, 1, 2]
