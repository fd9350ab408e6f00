"""The refine step writes each split as a dataset of its own, and a t-SNE picture for the quality report."""

from __future__ import annotations

import logging
import re
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


def test_tsne_picture_is_drawn_from_a_streamed_sample(
    tmp_path: Path, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    spec = {"columns": ["id", "x"], "color_by": "label", "sample_size": 60, "random_state": 1}
    transforms = [{"pca": {"columns": ["id", "x"], "n_components": 1}}]  # any chain; the picture is of the output
    with caplog.at_level(logging.INFO, logger="dataframe_pipeline.refine"):
        result = refine_with_x(tmp_path, upstream, transforms, tsne_picture=spec)
    assert re.search(r"t-SNE of 60 rows: 500 iterations in \d+\.\d\d s \(KL divergence", caplog.text), caplog.text
    assert re.search(r"t-SNE picture of 60 sampled rows of \S+ in \d+\.\d\d s: ", caplog.text), caplog.text
    png = Path(result["pictures"]["tsne"].removeprefix("file://"))
    assert png.name == "tsne.png" and png.parent.name == "refine"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stream_sample_matches_the_whole_frame_choice() -> None:
    from dataframe_pipeline.refine.tsne import sample_complete_rows, stream_sample

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000)}, index=pd.RangeIndex(3, 1003))
    frame.loc[frame.index[::7], "b"] = np.nan
    expected = sample_complete_rows(frame, ["a", "b"], 50, 9)
    batches = [frame.iloc[i : i + 64] for i in range(0, len(frame), 64)]
    assert stream_sample(batches, ["a", "b"], 50, 9).index.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"color_by": "label"}, "tsne_picture"),
        ({"columns": "x"}, "tsne_picture.columns"),
        ({"columns": ["x"], "sample_size": 1}, "tsne_picture.sample_size"),
        ({"columns": ["x"], "perplexity": 5}, "tsne_picture"),
        ({"columns": ["x"], "max_iter": 100}, "tsne_picture.max_iter"),
    ],
)
def test_tsne_picture_configuration_is_checked_first(tmp_path: Path, upstream: str, spec: dict, field: str) -> None:
    with pytest.raises(AirflowFailException, match=f"{field}="):
        refine(tmp_path, upstream, tsne_picture=spec)


def refine_with_x(tmp_path: Path, upstream: str, transforms: list, **kwargs) -> dict:
    """Refine an input that also has a float column ``x``."""
    reader = DatasetReader(fsspec.filesystem("file"), upstream.removeprefix("file://"))
    frame = reader.read_pandas()
    frame["x"] = np.sin(frame["id"].to_numpy() / 10.0)
    path = tmp_path / "lake" / "with_x"
    with DatasetWriter(fsspec.filesystem("file"), str(path)) as writer:
        writer.write(frame)
        writer.commit()
    return refine(tmp_path, path.as_uri(), transforms=transforms, **kwargs)


@pytest.mark.parametrize("rows", [0, 1])
def test_splits_of_an_empty_or_one_row_input(tmp_path: Path, rows: int) -> None:
    frame = pd.DataFrame({"id": np.arange(rows), "label": ["a"] * rows})
    path = tmp_path / "lake" / "tiny"
    with DatasetWriter(fsspec.filesystem("file"), str(path)) as writer:
        writer.write(frame)
        writer.commit()
    result = refine(tmp_path, path.as_uri(), split_outputs="split")
    assert sum(ref["rows"] for ref in result["splits"].values()) == rows
    assert set(result["splits"]) == set(FRACTIONS)
