"""The window step through the StepRunner: output windows, the late-data dataset, the accounting, and
an input without rows (a wake-up with nothing new)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fsspec
import pandas as pd

from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter, Location
from dataframe_pipeline.core.partition import Partition
from dataframe_pipeline.core.runner import DatasetInput, StepRunner
from dataframe_pipeline.enrich.windows.aggregate import WindowSpec
from dataframe_pipeline.enrich.windows.state import StatePlan
from dataframe_pipeline.enrich.windows.step import LateEvents, WindowRun, WindowSink

SPEC = WindowSpec(("device_id",), ("temperature_c",), 60)
T0 = pd.Timestamp("2026-12-01T12:00:00Z")


def dataset(path, frame: pd.DataFrame) -> Location:
    writer = DatasetWriter(fsspec.filesystem("file"), str(path), background=False)
    writer.write(frame)
    writer.commit({})
    return Location.local(str(path))


def run_step(tmp_path, source: Location, base: dict | None = None) -> tuple[dict, WindowRun]:
    run = WindowRun(SPEC, [], StatePlan(1, base, None, True))
    inputs = DatasetInput(source)
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    runner = StepRunner(
        step="enrich", place=Location.local(str(tmp_path / "task")),
        partition=Partition(start, start + timedelta(minutes=5), "minute"), input=inputs,
        sink=lambda r: WindowSink(run, r.open_dataset("output")),
        routed=[lambda r: LateEvents(run, r.open_dataset("late"), lambda: pd.DataFrame(columns=inputs.columns))],
    )  # fmt: skip
    return runner.run().as_dict(), run


def read(uri: str) -> pd.DataFrame:
    return DatasetReader(fsspec.filesystem("file"), uri.removeprefix("file://")).read_pandas()


def test_windows_late_rows_and_accounting(tmp_path) -> None:
    frame = pd.DataFrame({"device_id": ["a", "a", "b"], "event_time": [T0, T0 + pd.Timedelta("90s"), T0],
                          "temperature_c": [1.0, 2.0, 3.0]})  # fmt: skip
    first, run = run_step(tmp_path / "1", dataset(tmp_path / "in1", frame))
    assert first["accounting"]["rows_in"] == first["accounting"]["rows_out"] == 3
    assert read(first["dataset"]["uri"])["events"].tolist() == [1, 1]
    late = pd.DataFrame({"device_id": ["b"], "event_time": [T0 + pd.Timedelta("5s")], "temperature_c": [9.0]})
    second, _ = run_step(tmp_path / "2", dataset(tmp_path / "in2", late), base=run.snapshot(set()))
    assert second["windows"]["routed_late"] == 1 and second["windows"]["events"] == 1
    assert read(second["late"]["uri"])["temperature_c"].tolist() == [9.0]
    assert read(second["dataset"]["uri"]).empty


def test_an_input_without_rows_writes_empty_outputs(tmp_path) -> None:
    empty = pd.DataFrame(
        {
            "device_id": pd.Series([], dtype=str),
            "event_time": pd.Series([], dtype="datetime64[ms, UTC]"),
            "temperature_c": pd.Series([], dtype=float),
        }
    )
    result, _ = run_step(tmp_path, dataset(tmp_path / "in", empty))
    assert result["dataset"]["rows"] == 0 and result["late"]["rows"] == 0
    assert result["windows"]["events"] == 0
