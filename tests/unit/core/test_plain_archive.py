"""Fitted state written and read without importing skops: the archives are skops's own format, so
skops and the plain reader/writer of ``core/artifacts.py`` read each other's files to the same objects,
and anything the plain path does not know goes through skops's audited loader (and its allow-list)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import skops.io
from pandas.testing import assert_frame_equal

from dataframe_pipeline.core import artifacts
from dataframe_pipeline.core.artifacts import load_fitted, save_fitted
from dataframe_pipeline.exceptions import ArtifactError
from tests.fresh_python import run_fresh_python
from tests.unit.core.test_artifacts import CASES, TRAIN, fitted_examples

pytestmark = pytest.mark.unit

CLASSES = set(artifacts.REUSABLE)


def fitted() -> list:
    return [*fitted_examples(), *(t.fit(TRAIN) for t in CASES)]


def same(left: object, right: object) -> bool:
    """Equal values of equal types, all the way down (NaN equals NaN; instances by their __dict__)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, np.ndarray):
        assert isinstance(right, np.ndarray)
        if left.dtype != right.dtype or left.shape != right.shape:
            return False
        if left.dtype == object:
            return all(same(a, b) for a, b in zip(left.ravel(), right.ravel(), strict=True))
        return bool(np.array_equal(left, right, equal_nan=left.dtype.kind in "fc"))
    if isinstance(left, dict):
        assert isinstance(right, dict)
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        assert isinstance(right, list | tuple)
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float):
        return left == right or (np.isnan(left) and np.isnan(right))
    if hasattr(left, "__dict__") and not isinstance(left, type):
        return same(vars(left), vars(right))
    return left == right


def test_every_reusable_transformer_but_the_forest_is_written_without_skops() -> None:
    plain = []
    for transformer in fitted():
        try:
            artifacts._PlainWriter(CLASSES).dump([transformer])
            plain.append(type(transformer).__name__)
        except artifacts._NotPlain:
            pass
    assert set(plain) == {t.__class__.__name__ for t in fitted()} - {"IsolationForestOutliers"}


@pytest.mark.parametrize("index", range(len(fitted())))
def test_skops_and_the_plain_path_read_each_others_archives_alike(index: int) -> None:
    transformer = fitted()[index]
    by_skops = skops.io.dumps([transformer])
    if type(transformer).__name__ == "IsolationForestOutliers":  # scikit-learn's trees: skops's own loader
        with pytest.raises(artifacts._NotPlain, match="sklearn"):
            artifacts._PlainReader(by_skops, CLASSES).load()
        return
    by_plain = artifacts._PlainWriter(CLASSES).dump([transformer])
    for data in (by_skops, by_plain):
        reference = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
        read = artifacts._PlainReader(data, CLASSES).load()
        assert same(read, reference)
        assert same(read, [transformer])
    with zipfile.ZipFile(io.BytesIO(by_plain)) as archive:
        assert json.loads(archive.read("schema.json"))["protocol"] == 2


def test_an_archive_the_plain_reader_does_not_know_goes_through_the_allow_list() -> None:
    """A crafted archive naming a class off the allow-list: refused, the class's module never imported."""
    node = {"__class__": "Dummy", "__module__": "antigravity", "__loader__": "ObjectNode", "__id__": 1}
    schema = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [node]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps({**schema, "__id__": 2, "protocol": 2}))
    with pytest.raises(artifacts._NotPlain):
        artifacts._PlainReader(buffer.getvalue(), CLASSES).load()
    with pytest.raises(ArtifactError, match=r"refusing to load untrusted types \['antigravity.Dummy'\]"):
        load_fitted(io.BytesIO(buffer.getvalue()))


def test_saving_and_loading_plain_state_imports_neither_skops_nor_scikit_learn() -> None:
    code = """
import io, sys
import pandas as pd
from dataframe_pipeline.clean.missing import MissingValues
from dataframe_pipeline.clean.outliers import IQROutliers
from dataframe_pipeline.enrich.encoding import OneHotEncoder
from dataframe_pipeline.enrich.scaling import StandardScaler
from dataframe_pipeline.core.artifacts import load_fitted, save_fitted
df = pd.DataFrame({"a": [1.0, 2.0, None, 40.0], "c": pd.Series(["x", "y", "x", None], dtype="str")})
chain = [MissingValues({"a": "mean"}).fit(df), IQROutliers(["a"]).fit(df), OneHotEncoder(["c"]).fit(df),
         StandardScaler(["a"]).fit(df)]
buffer = io.BytesIO()
save_fitted(chain, buffer)
loaded = load_fitted(io.BytesIO(buffer.getvalue()))
assert [type(t) for t in loaded] == [type(t) for t in chain]
print(sorted({m.split(".")[0] for m in sys.modules} & {"skops", "sklearn", "scipy"}))
"""
    assert run_fresh_python(code).strip().splitlines()[-1] == "[]"


def test_the_forest_still_round_trips_through_skops() -> None:
    forest = next(t for t in fitted() if type(t).__name__ == "IsolationForestOutliers")
    buffer = io.BytesIO()
    save_fitted([forest], buffer)
    (loaded,) = load_fitted(io.BytesIO(buffer.getvalue()))
    assert_frame_equal(loaded.transform(TRAIN).data, forest.transform(TRAIN).data)
