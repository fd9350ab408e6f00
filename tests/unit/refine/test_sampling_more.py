from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.refine.sampling_more import SystematicSample

pytestmark = pytest.mark.unit


def frame(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=float) * 10}, index=pd.RangeIndex(start, start + n))


def test_keeps_every_step_th_row_from_start() -> None:
    result = SystematicSample(step=3, start=1).transform(frame(10))
    assert result.data.index.tolist() == [1, 4, 7]
    assert result.data["x"].tolist() == [10.0, 40.0, 70.0]
    assert result.dropped == Counter({"systematic_sample": 7})
    assert result.n_rejected == 0


def test_step_one_keeps_all_rows_from_start() -> None:
    result = SystematicSample(step=1, start=2).transform(frame(5))
    assert result.data.index.tolist() == [2, 3, 4]
    assert result.dropped == Counter({"systematic_sample": 2})


def test_batch_split_invariance_and_accounting() -> None:
    df = frame(23)
    sampler = SystematicSample(step=4, start=2)
    whole = sampler.transform(df)
    parts = [sampler.transform(df.iloc[a:b]) for a, b in [(0, 5), (5, 6), (6, 17), (17, 23)]]
    assert_frame_equal(pd.concat([p.data for p in parts]), whole.data)
    assert whole.data.index.tolist() == [2, 6, 10, 14, 18, 22]
    assert sum(p.n_dropped for p in parts) == whole.n_dropped == 17
    assert len(whole.data) + whole.n_dropped == len(df)


def test_positions_not_starting_at_zero() -> None:
    # a later batch of a stream: positions 100..104; position 100 = start + 50 * step
    result = SystematicSample(step=2).transform(frame(5, start=100))
    assert result.data.index.tolist() == [100, 102, 104]


def test_start_past_the_end_drops_everything() -> None:
    result = SystematicSample(step=2, start=50).transform(frame(5))
    assert result.data.empty
    assert list(result.data.columns) == ["x"]
    assert result.dropped == Counter({"systematic_sample": 5})


def test_empty_and_one_row() -> None:
    empty = SystematicSample(step=2).transform(frame(0))
    assert empty.data.empty and empty.n_dropped == 0
    one = SystematicSample(step=2).transform(frame(1))
    assert one.data.index.tolist() == [0]


def test_all_null_column_is_sampled_like_any_other() -> None:
    df = pd.DataFrame({"x": [None, None, None]}, dtype="Float64")
    assert SystematicSample(step=2).transform(df).data.index.tolist() == [0, 2]


def test_non_positional_index_is_a_contract_error() -> None:
    df = pd.DataFrame({"x": [1, 2]}, index=["a", "b"])
    with pytest.raises(DataContractError, match="positions"):
        SystematicSample(step=2).transform(df)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"step": 0}, "step"), ({"step": 1.5}, "step"), ({"step": True}, "step"), ({"step": 2, "start": -1}, "start")],
)
def test_check_params(params: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        SystematicSample(**params).check_params(["x"])
    assert err.value.field == field


def test_stateless() -> None:
    assert SystematicSample(step=2).stateful is False
    assert SystematicSample(step=2).get_feature_names_out(["x", "y"]) == ["x", "y"]
