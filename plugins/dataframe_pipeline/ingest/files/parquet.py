"""Parquet files, streamed with ``pyarrow.parquet.ParquetFile.iter_batches``.

A compressed or non-seekable Parquet file is copied to a temporary file first (Parquet is read from
its footer backwards).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from dataframe_pipeline.exceptions import (
    EmptySourceError,
    MalformedSourceError,
)
from dataframe_pipeline.ingest.files.compression import (
    is_empty,
    is_seekable,
    spooled,
)
from dataframe_pipeline.ingest.records.tabulate import _check_file_columns, _typed_batch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dataframe_pipeline.ingest.base import (
        SourceBatch,
    )
    from dataframe_pipeline.ingest.files.format import FileFormat


def _open_parquet(stack: ExitStack, stream: IO[bytes], source: str, temp_dir: str | None) -> Any:
    import pyarrow.parquet as pq

    if not is_seekable(stream):
        # Parquet is read from its footer backwards: a stream has to be copied first
        stream = stack.enter_context(spooled(stream, temp_dir, ".parquet"))
    if is_empty(stream):
        raise EmptySourceError(f"{source}: the file is empty")
    try:
        return pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedSourceError(f"{source}: not a readable Parquet file: {exc}") from exc


def _check_parquet(stream: IO[bytes], source: str, temp_dir: str | None) -> None:
    with ExitStack() as stack:
        _open_parquet(stack, stream, source, temp_dir)


def _read_parquet(stream: IO[bytes], source: str, fmt: FileFormat, temp_dir: str | None) -> Iterator[SourceBatch]:
    with ExitStack() as stack:
        parquet = _open_parquet(stack, stream, source, temp_dir)
        columns = _check_file_columns(parquet.schema_arrow.names, fmt, source)
        types = fmt.arrow_types()
        position = 1
        for batch in _parquet_batches(parquet, columns, fmt.batch_rows, source):
            yield _typed_batch(pa.Table.from_batches([batch]), source, position, types)
            position += batch.num_rows
        if position == 1:
            empty = parquet.schema_arrow.empty_table().select(columns)
            yield _typed_batch(empty, source, 1, types)


def _parquet_batches(parquet: Any, columns: list[str], batch_rows: int, source: str) -> Iterator[pa.RecordBatch]:
    batches = parquet.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedSourceError(f"{source}: corrupt Parquet data: {exc}") from exc
        if batch is None:
            return
        yield batch
