"""The refine step writes each train/validation/test split as a dataset of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import fsspec
import numpy as np
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter
from dataframe_pipeline.refine.operators import RefineOperator

pytestmark = pytest.mark.unit

FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


def context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "scheduled__x",
    }


def read(ref: dict) -> pd.DataFrame:
    return DatasetReader(fsspec.filesystem("file"), ref["uri"].removeprefix("file://")).read_pandas()


@pytest.fixture
def upstream(tmp_path: Path) -> str:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": np.arange(500), "label": rng.choice(["a", "b", "c"], 500, p=[0.6, 0.3, 0.1])})
    path = tmp_path / "lake" / "upstream"
    with DatasetWriter(fsspec.filesystem("file"), str(path)) as writer:
        for start in range(0, 500, 128):
            writer.write(frame.iloc[start : start + 128])
        writer.commit()
    return path.as_uri()


def refine(tmp_path: Path, upstream: str, **kwargs) -> dict:
    split = {"stratified_split": {"fractions": FRACTIONS, "stratify_by": "label", "random_state": 7}}
    op = RefineOperator(
        task_id="refine",
        input_dataset=upstream,
        storage_root=(tmp_path / "lake").as_uri(),
        transforms=kwargs.pop("transforms", [split]),
        batch_rows=100,
        **kwargs,
    )
    return op.execute(context())


def test_each_split_is_a_dataset_of_its_own_and_they_partition_the_output(tmp_path: Path, upstream: str) -> None:
    result = refine(tmp_path, upstream, split_outputs="split")
    whole = read(result["dataset"])
    assert list(result["splits"]) == ["train", "validation", "test"]
    parts = {name: read(ref) for name, ref in result["splits"].items()}
    assert {name: len(p) for name, p in parts.items()} == {"train": 350, "validation": 75, "test": 75}
    for name, part in parts.items():
        assert set(part["split"].astype(str)) == {name}
        assert result["splits"][name]["uri"].endswith(f"/refine/split={name}")
    union = pd.concat(parts.values()).sort_values("id")["id"].tolist()
    assert union == sorted(whole["id"].tolist()) == list(range(500))
    # stratified: each split holds the labels in (about) the same shares as the whole
    for part in parts.values():
        shares = part["label"].value_counts(normalize=True)
        assert abs(shares["a"] - 0.6) < 0.08


def test_the_same_input_gives_byte_identical_splits(tmp_path: Path, upstream: str) -> None:
    first = refine(tmp_path, upstream, split_outputs="split")["splits"]
    second = refine(tmp_path, upstream, split_outputs="split")["splits"]
    assert {n: r["fingerprint"] for n, r in first.items()} == {n: r["fingerprint"] for n, r in second.items()}


def test_an_empty_split_is_still_written(tmp_path: Path, upstream: str) -> None:
    transforms = [{"stratified_split": {"fractions": {"train": 1.0, "test": 0.0}}}]
    result = refine(tmp_path, upstream, split_outputs="split", transforms=transforms)
    assert result["splits"]["test"]["rows"] == 0
    assert list(read(result["splits"]["test"]).columns) == ["id", "label", "split"]


def test_split_outputs_must_name_a_column_a_stratified_split_writes(tmp_path: Path, upstream: str) -> None:
    with pytest.raises(AirflowFailException, match=r"split_outputs='fold'.*no stratified_split writes"):
        refine(tmp_path, upstream, split_outputs="fold")
