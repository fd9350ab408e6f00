"""Checkpoints of a transform chain: scratch datasets that keep each row's input position, so the
engine's later fit passes start from the checkpoint instead of re-running the costly stateless prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter, Location

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

    import pandas as pd


def select(available: list[str], wanted: Collection[str] | None) -> list[str] | None:
    """The ``available`` columns that are ``wanted`` (None: all of them), in ``available`` order."""
    if wanted is None:
        return None
    return [c for c in available if c in wanted]


class ScratchSpace:
    """Checkpoints of a transform chain: Parquet datasets under the task's ``_scratch`` folder that
    keep each row's input position, removed when the step ends."""

    POSITION = "__input_position"

    def __init__(self, root: Location, batch_rows: int) -> None:
        self.root = root
        self.batch_rows = batch_rows
        self.count = 0

    def new(self) -> _Checkpoint:
        self.count += 1
        return _Checkpoint(self.root / f"checkpoint-{self.count}", self.batch_rows)

    def remove(self) -> None:
        if self.count and self.root.exists():
            self.root.fs.rm(self.root.path, recursive=True)


class _Checkpoint:
    """One checkpoint: batches written with their input positions, read back with the same index."""

    def __init__(self, location: Location, batch_rows: int) -> None:
        self.location = location
        self.batch_rows = batch_rows
        # scratch favours speed over size
        self.writer = DatasetWriter(location.fs, location.path, uri=location.uri, compression="lz4")

    def write(self, batch: pd.DataFrame) -> None:
        self.writer.write(batch.assign(**{ScratchSpace.POSITION: batch.index.to_numpy()}))

    def finish(self) -> Callable[..., Iterator[pd.DataFrame]]:
        self.writer.commit()
        reader = DatasetReader(self.location.fs, self.location.path)
        position, batch_rows = ScratchSpace.POSITION, self.batch_rows

        def batches(columns: Collection[str] | None = None) -> Iterator[pd.DataFrame]:
            wanted = select(list(reader.columns), columns)
            if wanted is not None:
                wanted.append(position)
            for frame in reader.iter_batches(batch_rows, wanted):
                yield frame.set_index(position, drop=True).rename_axis(None)

        return batches
