"""What every ingest connector yields: :class:`SourceBatch`, with its own row accounting.

A connector (files, SQL, HTTP, ...) streams its source as a sequence of ``SourceBatch``: the good
rows as an Arrow table, tagged with where they came from, and the rows it rejected, in the form
the rest of the pipeline uses (:mod:`dataframe_pipeline.core.batch`: original columns plus
``_rule`` and ``_reason``), so the ingest operator writes both without knowing the connector.

Provenance columns, on good and rejected rows alike:

``_source_file`` (string)  the source: a file URI, ``table`` of a database URL (without credentials),
                           an HTTP URL (without secrets)
``_source_line`` (int64)   the position in that source: physical line of a text file, record number
                           (1-based) of a JSON/XML/Parquet file, a database row or an HTTP page
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

    from dataframe_pipeline.core.dataset import DatasetWriter
    from dataframe_pipeline.core.quarantine import QuarantineWriter

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


@dataclass
class IngestTally:
    """Row accounting of an ingest task, added up batch by batch (and file by file).

    Batches without rows are not written: a connector may yield a schema-less empty batch before
    its first good record fixes the columns. The first one is kept as the schema of an empty result.
    """

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    quarantined_by_rule: Counter[str] = field(default_factory=Counter)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    empty_table: pa.Table | None = None

    def for_file(self) -> IngestTally:
        """A tally for one file, merged into this one only if the file is kept."""
        return IngestTally()

    def add(self, batch: SourceBatch, output: DatasetWriter, quarantine: QuarantineWriter) -> None:
        acct = batch.accounting()
        if batch.table.num_rows:
            output.write(batch.table)
        elif self.empty_table is None:
            self.empty_table = batch.table
        quarantine.write(batch.rejected)
        self.rows_in += acct.rows_in
        self.rows_out += acct.rows_out
        self.rows_quarantined += acct.rows_quarantined
        self.dropped.update(acct.dropped_by_rule)
        self.quarantined_by_rule.update(acct.quarantined_by_rule)

    def merge(self, other: IngestTally) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rows_quarantined += other.rows_quarantined
        self.dropped.update(other.dropped)
        self.quarantined_by_rule.update(other.quarantined_by_rule)
        if self.empty_table is None:
            self.empty_table = other.empty_table

    def finish(self, output: DatasetWriter, columns: Mapping[str, pa.DataType] | None = None) -> None:
        """Give an output that received no row a schema: the connector's, else ``columns`` (the
        declared ones) with the provenance columns."""
        if output.schema is None:
            import pyarrow as pa

            if self.empty_table is not None and (columns is None or self.empty_table.num_columns > 2):
                output.write(self.empty_table)
                return
            fields = [*(columns or {}).items(), (SOURCE_FILE_COLUMN, pa.string()), (SOURCE_LINE_COLUMN, pa.int64())]
            output.write(pa.schema(fields).empty_table())

    def accounting(self) -> RowAccounting:
        """Records read (files quarantined whole are reported apart, in ``unreadable``)."""
        return RowAccounting(
            self.rows_in, self.rows_out, self.rows_quarantined, dict(self.dropped), dict(self.quarantined_by_rule)
        )


def write_batches(batches: Iterable[SourceBatch], output: DatasetWriter, quarantine: QuarantineWriter) -> RowAccounting:
    """Write a connector's batches and its rejected rows; return the summed row accounting.

    This is the whole of an ingest task's data work, shared by the operators and the benchmark.
    """
    tally = IngestTally()
    for batch in batches:
        tally.add(batch, output, quarantine)
    tally.finish(output)
    return tally.accounting()
