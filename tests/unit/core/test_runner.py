"""StepRunner: one lifecycle for every step (sources and datasets in, outputs, quarantine, routed outputs, result)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter, Location
from dataframe_pipeline.core.partition import RunFacts, Schedule, resolve_partition
from dataframe_pipeline.core.result import StepResult, input_uri
from dataframe_pipeline.core.runner import DatasetInput, PassThrough, SourceInput, SourcePart, StepRunner
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, MalformedSourceError
from dataframe_pipeline.ingest.base import SourceBatch

PARTITION = resolve_partition(RunFacts("r", logical_date=datetime(2026, 10, 9, tzinfo=UTC)), Schedule())


def source_batch(values: list[int], name: str, first_line: int = 1) -> SourceBatch:
    lines = list(range(first_line, first_line + len(values)))
    return SourceBatch(pa.table({"x": values, "_source_file": [name] * len(values), "_source_line": lines}))


def runner(tmp_path: Path, source, **kwargs) -> StepRunner:
    return StepRunner(step=kwargs.pop("step", "ingest"), place=Location.local(str(tmp_path / "task")),
                      partition=PARTITION, input=source, **kwargs)  # fmt: skip


def read(ref) -> pd.DataFrame:
    return DatasetReader(Location.local(ref.uri).fs, ref.uri.removeprefix("file://")).read_pandas()


def committed_dataset(tmp_path: Path, frame: pd.DataFrame) -> Location:
    place = Location.local(str(tmp_path / "upstream"))
    with DatasetWriter(place.fs, place.path, uri=place.uri) as writer:
        writer.write(frame)
        writer.commit()
    return place


def test_a_part_malformed_as_a_whole_is_taken_out_and_quarantined_whole(tmp_path: Path) -> None:
    def broken():
        yield source_batch([7, 8], "b.csv")
        raise MalformedSourceError("b.csv: not valid at line 3")

    parts = [
        SourcePart("a.csv", lambda: iter([source_batch([1, 2], "a.csv")]), whole_rule=lambda err: "malformed_file"),
        SourcePart("b.csv", broken, whole_rule=lambda err: "malformed_file"),
    ]
    result = runner(tmp_path, SourceInput(parts)).run()
    assert read(result.dataset)["x"].tolist() == [1, 2]  # nothing of b.csv
    quarantine = read(result.quarantine)
    assert quarantine[["rule", "source"]].values.tolist() == [["malformed_file", "b.csv"]]
    assert result.details["files_quarantined"] == [{"file": "b.csv", "reason": "b.csv: not valid at line 3"}]
    assert result.accounting.as_dict()["rows_in"] == 2


def test_a_part_that_cannot_be_quarantined_whole_fails_the_step_and_commits_nothing(tmp_path: Path) -> None:
    def broken():
        yield source_batch([1], "table")
        raise DataContractError("the page is not JSON")

    with pytest.raises(DataContractError, match="not JSON"):
        runner(tmp_path, SourceInput([SourcePart("table", broken)])).run()
    assert not list((tmp_path / "task").rglob("_manifest.json"))


def test_an_empty_source_gets_the_declared_columns(tmp_path: Path) -> None:
    result = runner(tmp_path, SourceInput([], columns={"a": pa.int64()})).run()
    assert list(result.dataset.columns) == ["a", "_source_file", "_source_line"]
    assert result.dataset.rows == 0
    assert "files_quarantined" not in result.details  # no part could be quarantined whole


class Loses(BatchTransformer):
    """Drops a row without counting it: the runner must refuse to report that."""

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        return BatchResult(data=batch.iloc[1:])


def test_rows_lost_without_a_rule_fail_the_step(tmp_path: Path) -> None:
    upstream = committed_dataset(tmp_path, pd.DataFrame({"x": [1, 2, 3]}))
    with pytest.raises(DataContractError, match="does not reconcile"):
        runner(tmp_path, DatasetInput(upstream), step="clean", chain=[Loses()]).run()


class Recorder:
    """A routed output that keeps what it was given."""

    def __init__(self, fail_on_commit: bool = False) -> None:
        self.rows: list[int] = []
        self.fail_on_commit = fail_on_commit
        self.aborted = False

    def write(self, batch: pd.DataFrame) -> None:
        self.rows += batch["x"].tolist()

    def commit(self, output) -> dict:
        if self.fail_on_commit:
            raise DataContractError("the recorder refuses")
        return {"recorded": len(self.rows), "of": output.uri}

    def abort(self) -> None:
        self.aborted = True


def test_routed_outputs_see_every_output_batch_and_add_to_the_result(tmp_path: Path) -> None:
    upstream = committed_dataset(tmp_path, pd.DataFrame({"x": list(range(10))}))
    recorder = Recorder()
    result = runner(tmp_path, DatasetInput(upstream), step="refine", routed=[lambda _: recorder], batch_rows=3).run()
    assert recorder.rows == list(range(10))
    assert result.details == {"recorded": 10, "of": result.dataset.uri}
    assert result.as_dict()["recorded"] == 10


def test_a_failing_routed_output_fails_the_step_and_the_others_are_aborted(tmp_path: Path) -> None:
    upstream = committed_dataset(tmp_path, pd.DataFrame({"x": [1, 2]}))
    good, bad = Recorder(), Recorder(fail_on_commit=True)
    with pytest.raises(DataContractError, match="refuses"):
        runner(tmp_path, DatasetInput(upstream), step="refine", routed=[lambda _: bad, lambda _: good]).run()
    assert bad.aborted and good.aborted


def test_pass_through_names_the_dataset_it_read(tmp_path: Path) -> None:
    upstream = committed_dataset(tmp_path, pd.DataFrame({"x": [1, 2]}))
    source = DatasetInput(upstream)
    result = runner(tmp_path, source, step="validate", sink=lambda _: PassThrough(source.ref)).run()
    assert result.dataset == source.ref
    assert (result.accounting.rows_in, result.accounting.rows_out) == (2, 2)
    assert not (tmp_path / "task" / "output").exists()


class FailingSink:
    def __init__(self) -> None:
        self.aborted = False

    def write(self, batch) -> None:
        raise OSError("disk full")

    def commit(self, meta):  # pragma: no cover - never reached
        raise AssertionError

    def abort(self) -> None:
        self.aborted = True

    def details(self) -> dict:
        return {}


def test_a_sink_that_fails_is_aborted_and_the_error_propagates_for_retries(tmp_path: Path) -> None:
    upstream = committed_dataset(tmp_path, pd.DataFrame({"x": [1]}))
    sink = FailingSink()
    with pytest.raises(OSError, match="disk full"):
        runner(tmp_path, DatasetInput(upstream), step="store", sink=lambda _: sink).run()
    assert sink.aborted


def test_the_result_has_one_shape_for_every_step(tmp_path: Path) -> None:
    result = runner(tmp_path, SourceInput([SourcePart("a", lambda: iter([source_batch([1], "a")]))])).run()
    assert set(result.as_dict()) == {"step", "partition", "dataset", "quarantine", "accounting", "fitted_uri"}
    assert result.as_dict()["partition"]["path"] == "date=2026-10-09"
    assert "/task/output" in result.dataset.uri
    with pytest.raises(ValueError, match="result's own keys"):
        StepResult("x", {}, result.dataset, result.quarantine, result.accounting, details={"dataset": 1})


def test_the_input_is_an_upstream_result_a_reference_or_a_uri(tmp_path: Path) -> None:
    ref = {"uri": "file:///d", "rows": 1, "columns": {}, "fingerprint": "f"}
    assert input_uri({"step": "clean", "dataset": ref}) == "file:///d"
    assert input_uri(ref) == "file:///d"
    assert input_uri("s3://conn@bucket/d") == "s3://conn@bucket/d"
    for bad in (None, "", {"uri": "file:///d"}, {"dataset": "x"}, 3):
        with pytest.raises(ConfigurationError, match="input_dataset"):
            input_uri(bad)
