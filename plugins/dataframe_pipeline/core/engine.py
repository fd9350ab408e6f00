"""Run a chain of batch transformers over a dataset with bounded memory.

Stateful transformers are fitted one at a time, in order, each on the output of the transformers
before it (which are fitted already): that is what fitting them on the whole, transformed data in
memory would give, without holding the data. Then one last pass transforms and writes. So a chain
with k stateful transformers reads its input k + 1 times; reading Parquet is cheap next to parsing.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from dataframe_pipeline.core.batch import RULE_COLUMN, BatchResult, RowAccounting

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import pandas as pd

    from dataframe_pipeline.core.transform import BatchTransformer

log = logging.getLogger(__name__)


def apply_chain(transformers: Sequence[BatchTransformer], batch: pd.DataFrame) -> BatchResult:
    """Apply fitted transformers in sequence to one batch."""
    result = BatchResult(data=batch)
    for transformer in transformers:
        # an emptied batch still goes through, so the output columns are the same for every batch
        result = result.then(transformer.transform(result.data))
    return result


def fit_chain(
    transformers: Sequence[BatchTransformer],
    batches: Callable[[], Iterator[pd.DataFrame]],
    prefitted: frozenset[int] = frozenset(),
) -> None:
    """Fit each stateful transformer on the output of the ones before it, one pass each.

    :param prefitted: positions of transformers whose fitted state was loaded (not refitted).
    """
    for position, transformer in enumerate(transformers):
        if not transformer.stateful or position in prefitted:
            continue
        before = transformers[:position]
        transformer._reset()
        for batch in batches():
            data = apply_chain(before, batch).data if before else batch
            transformer.partial_fit(data)
        transformer.finish_fit()
        log.info("fitted %s", transformer)


def run_chain(
    transformers: Sequence[BatchTransformer],
    batches: Callable[[], Iterator[pd.DataFrame]],
    write_output: Callable[[pd.DataFrame], None],
    write_rejected: Callable[[pd.DataFrame], None],
    *,
    fit: bool = True,
    prefitted: frozenset[int] = frozenset(),
) -> RowAccounting:
    """Fit (unless ``fit`` is False and the transformers are fitted already), transform and write.

    :param batches: a callable returning a fresh iterator over the input batches each time.
    :param prefitted: positions of transformers fitted already (state loaded from an earlier run).
    :returns: the row accounting of the whole run.
    """
    if fit:
        fit_chain(transformers, batches, prefitted)
    rows_in = rows_out = rows_rejected = 0
    dropped: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    for batch in batches():
        result = apply_chain(transformers, batch)
        rows_in += len(batch)
        rows_out += len(result.data)
        rows_rejected += result.n_rejected
        dropped += result.dropped
        if result.n_rejected:
            quarantined.update(result.rejected[RULE_COLUMN].astype(str).tolist())
        write_output(result.data)
        write_rejected(result.rejected)
    return RowAccounting(rows_in, rows_out, rows_rejected, dict(dropped), dict(quarantined))
