"""What every ingest connector yields: :class:`SourceBatch`, with its own row accounting.

A connector (files, SQL, HTTP, ...) streams its source as a sequence of ``SourceBatch``: the good
rows as an Arrow table, tagged with where they came from, and the rows it rejected, in the form
the rest of the pipeline uses (:mod:`dataframe_pipeline.core.batch`: original columns plus
``_rule`` and ``_reason``), so the step runner (:mod:`dataframe_pipeline.core.runner`) writes both
without knowing the connector.

Provenance columns, on good and rejected rows alike:

``_source_file`` (string)  the source: a file URI, ``table`` of a database URL (without credentials),
                           an HTTP URL (without secrets)
``_source_line`` (int64)   the position in that source: physical line of a text file, record number
                           (1-based) of a JSON/XML/Parquet file, a database row or an HTTP page;
                           the message offset of a Kafka message (``_source_file`` ``kafka://<topic>``)

Kafka rows (:mod:`dataframe_pipeline.ingest.kafka`) also carry, on good and rejected rows alike:

``_kafka_partition`` (int32)            the partition of the message (with topic and offset, its name)
``_kafka_key`` (string)                 the message key as UTF-8 text, null when it has none
``_kafka_timestamp`` (timestamp[ms, UTC])  the message timestamp (create or log-append time)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from dataframe_pipeline.core.batch import RULE_COLUMN, RowAccounting
from dataframe_pipeline.exceptions import DataContractError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import pyarrow as pa


SOURCE_FILE_COLUMN = "_source_file"
SOURCE_LINE_COLUMN = "_source_line"
#: provenance columns every reader adds: a source may not have columns of these names
RESERVED_COLUMNS = frozenset({SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN})


def check_source_columns(
    names: list[str], expected: list[str] | None, typed: Iterable[str], source: str, where: str
) -> None:
    """Check a source's column names (``where``: ``"the header"``, ``"the file"``): distinct, not
    reserved, the ``expected`` ones when given, and covering the columns ``column_types`` names.

    :raises DataContractError: naming the source and the columns at fault.
    """
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise DataContractError(f"{source}: duplicate column names in {where}: {duplicates}")
    reserved = sorted(RESERVED_COLUMNS.intersection(names))
    if reserved:
        raise DataContractError(f"{source}: {where} uses reserved column names {reserved}")
    if expected is not None and set(expected) != set(names):
        missing = [name for name in expected if name not in names]
        extra = [name for name in names if name not in expected]
        raise DataContractError(
            f"{source}: {where} does not match the expected columns: missing {missing}, extra {extra}"
        )
    unknown = sorted(set(typed) - set(names))
    if unknown:
        raise DataContractError(f"{source}: column_types names columns not in the file: {unknown}")


@dataclass(frozen=True)
class SourceBatch:
    """One batch read from a source.

    :param table: the good rows, with ``_source_file`` and ``_source_line``.
    :param rejected: the rejected rows (any columns, plus ``_rule`` and ``_reason``); empty if none.
    :param rows_in: how many source records this batch covers (good + rejected + dropped).
    :param dropped: records skipped on purpose, per named rule (e.g. blank lines, filters).
    """

    table: pa.Table
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows_in: int | None = None
    dropped: Mapping[str, int] = field(default_factory=dict)

    def accounting(self) -> RowAccounting:
        n_rejected = len(self.rejected)
        n_dropped = sum(self.dropped.values())
        rows_in = self.rows_in if self.rows_in is not None else self.table.num_rows + n_rejected + n_dropped
        by_rule = (
            self.rejected[RULE_COLUMN].astype(str).value_counts().to_dict()
            if n_rejected and RULE_COLUMN in self.rejected
            else {}
        )
        return RowAccounting(rows_in, self.table.num_rows, n_rejected, dict(self.dropped), by_rule)
