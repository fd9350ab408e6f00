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

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import pyarrow as pa

    from dataframe_pipeline.core.dataset import DatasetWriter
    from dataframe_pipeline.core.quarantine import QuarantineWriter

SOURCE_FILE_COLUMN = "_source_file"
SOURCE_LINE_COLUMN = "_source_line"


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


def write_batches(batches: Iterable[SourceBatch], output: DatasetWriter, quarantine: QuarantineWriter) -> RowAccounting:
    """Write a connector's batches and its rejected rows; return the summed row accounting.

    This is the whole of an ingest task's data work, shared by the operators and the benchmark.
    """
    rows_in = rows_out = rows_rejected = 0
    dropped: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    for batch in batches:
        acct = batch.accounting()
        output.write(batch.table)
        quarantine.write(batch.rejected)
        rows_in += acct.rows_in
        rows_out += acct.rows_out
        rows_rejected += acct.rows_quarantined
        dropped.update(acct.dropped_by_rule)
        by_rule.update(acct.quarantined_by_rule)
    return RowAccounting(rows_in, rows_out, rows_rejected, dict(dropped), dict(by_rule))
