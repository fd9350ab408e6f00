"""Routed outputs of the refine step: one dataset per split, and the t-SNE picture of the output.

Both receive every batch of the step's output as it is written (see
:class:`~dataframe_pipeline.core.runner.RoutedOutput`), so neither reads the output again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pandas as pd

    from dataframe_pipeline.core.dataset import DatasetRef, DatasetWriter, Location
    from dataframe_pipeline.core.runner import StepRunner

log = logging.getLogger(__name__)

#: the keys of ``RefineOperator(tsne_picture={...})``
TSNE_KEYS = frozenset({"columns", "color_by", "sample_size", "random_state", "max_iter"})


def check_tsne_spec(spec: Any) -> None:
    """Raise ``ConfigurationError`` unless ``spec`` is a valid ``tsne_picture`` mapping."""
    if spec is None:
        return
    if not isinstance(spec, dict) or "columns" not in spec:
        raise ConfigurationError("tsne_picture", spec, "must be a mapping with at least 'columns'")
    unknown = sorted(set(spec) - TSNE_KEYS)
    if unknown:
        raise ConfigurationError("tsne_picture", unknown, f"unknown keys; known: {sorted(TSNE_KEYS)}")
    columns = spec["columns"]
    if isinstance(columns, str) or not isinstance(columns, list) or not columns:
        raise ConfigurationError("tsne_picture.columns", columns, "must be a non-empty list of column names")
    size = spec.get("sample_size", 2000)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ConfigurationError("tsne_picture.sample_size", size, "must be an integer >= 2")
    if "max_iter" in spec:
        from dataframe_pipeline.refine.tsne import check_max_iter

        check_max_iter(spec["max_iter"], "tsne_picture.max_iter")


def split_columns(chain: list[dict[str, Any]]) -> list[str]:
    """The columns the ``stratified_split`` transforms of a declared chain write."""
    return [
        (params or {}).get("column", "split")
        for item in chain
        for name, params in item.items()
        if name == "stratified_split"
    ]


class SplitOutputs:
    """One committed dataset per split, ``<task>/<column>=<name>/``: each batch's rows routed by the split
    column (an empty split is written too, with the output's columns)."""

    def __init__(self, column: str, writers: dict[str, DatasetWriter]) -> None:
        self.column = column
        self.writers = writers

    @classmethod
    def factory(cls, column: str) -> Callable[[StepRunner], SplitOutputs]:
        """Splits of the last ``stratified_split`` of the runner's chain that writes ``column``."""

        def make(runner: StepRunner) -> SplitOutputs:
            from dataframe_pipeline.refine.sampling import StratifiedSplit

            splits = [t for t in runner.chain if isinstance(t, StratifiedSplit) and t.column == column]
            if not splits:
                raise ConfigurationError("split_outputs", column, "no stratified_split of the chain writes it")
            names = [str(name) for name in splits[-1].fractions]
            return cls(column, {name: runner.open_dataset(f"{column}={name}") for name in names})

        return make

    def write(self, batch: pd.DataFrame) -> None:
        labels = batch[self.column].astype("object")
        for name, writer in self.writers.items():
            part = batch[(labels == name).to_numpy()]
            if len(part) or writer.schema is None:  # an empty part only to fix the schema
                writer.write(part)

    def commit(self, output: DatasetRef) -> Mapping[str, Any]:
        refs = {
            name: writer.commit({"step": "refine", "split": name, "of": output.uri})
            for name, writer in self.writers.items()
        }
        total = sum(ref.rows for ref in refs.values())
        if total != output.rows:
            raise DataContractError(f"the splits hold {total} rows, the output {output.rows}")
        log.info("splits: %s", ", ".join(f"{name}={ref.rows}" for name, ref in refs.items()))
        return {"splits": {name: ref.as_dict() for name, ref in refs.items()}}

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


class TsnePicture:
    """The t-SNE picture of the output: a seeded sample gathered from the batches as they are written
    (numbered by their position in the output), drawn once the output is committed, at ``target``."""

    def __init__(self, spec: Mapping[str, Any], target: Location) -> None:
        from dataframe_pipeline.refine.tsne import StreamSample

        self.columns, self.color_by = list(spec["columns"]), spec.get("color_by")
        self.sample_size, self.random_state = spec.get("sample_size", 2000), spec.get("random_state", 0)
        self.options = {"max_iter": spec["max_iter"]} if "max_iter" in spec else {}
        self.wanted = [*self.columns, self.color_by] if self.color_by not in (None, *self.columns) else self.columns
        self.sample = StreamSample(self.columns, self.sample_size, self.random_state)
        self.target = target
        self._rows = 0

    @classmethod
    def factory(cls, spec: Mapping[str, Any]) -> Callable[[StepRunner], TsnePicture]:
        return lambda runner: cls(spec, runner.place / "tsne.png")

    def write(self, batch: pd.DataFrame) -> None:
        import pandas as pd

        missing = [c for c in self.wanted if c not in batch.columns]
        if missing:
            raise ConfigurationError("tsne_picture", missing, f"not columns of the output {list(batch.columns)}")
        part = batch[self.wanted].set_axis(pd.RangeIndex(self._rows, self._rows + len(batch)))
        self._rows += len(batch)
        self.sample.add(part)

    def commit(self, output: DatasetRef) -> Mapping[str, Any]:
        import tempfile
        from pathlib import Path

        from dataframe_pipeline.refine.tsne import tsne_picture

        started = time.perf_counter()
        sample = self.sample.result()
        with tempfile.TemporaryDirectory() as tmp:
            png, _ = tsne_picture(
                sample,
                self.columns,
                self.color_by,
                self.sample_size,
                self.random_state,
                path=Path(tmp) / "tsne.png",
                **self.options,
            )
            self.target.write_bytes(png.read_bytes())
        log.info(
            "t-SNE picture of %d sampled rows of %s in %.2f s: %s",
            len(sample), output.uri, time.perf_counter() - started, self.target,
        )  # fmt: skip
        return {"pictures": {"tsne": self.target.uri}}

    def abort(self) -> None:
        return None  # nothing is written before commit()
