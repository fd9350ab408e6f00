"""Run a chain of batch transformers over a dataset with bounded memory.

Stateful transformers are fitted in order, each on the output of the transformers before it (which
are fitted already): that is what fitting them on the whole, transformed data in memory would give,
without holding the data. Then one last pass transforms and writes.

Each fit pass costs a read of the input, so the engine saves passes where the result is the same:

- transformers that do not depend on each other are fitted in the same pass: a later one joins the
  pass of an earlier one when the earlier keeps every row and writes no column the later one (or
  any transformer between them) reads (``may_remove_rows``, ``writes_column``, ``columns_read``);
- a fit pass reads only the columns its transformers read (``columns_read``), not the whole rows.

Without a scratch space, every fit pass re-applies the whole prefix of the chain to the input. With
one (``scratch``), a fit pass whose prefix holds stateless work (type parsing, text normalisation:
often the costly part) also writes the prefix's output to a scratch dataset, and the passes after
it start from there: each transformer then runs once per pass that needs it, not once per pass.
The rows the prefix rejected or dropped are final, so they are written and counted in that pass.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from dataframe_pipeline.core.batch import BatchResult, RowAccounting, RowTally

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Sequence

    import pandas as pd

    from dataframe_pipeline.core.transform import BatchTransformer

log = logging.getLogger(__name__)


class Batches(Protocol):
    """A source of batches (index = input position): each call starts a fresh pass. ``columns`` names
    the columns the pass needs (None: all); a source may return more."""

    def __call__(self, columns: Collection[str] | None = None, /) -> Iterator[pd.DataFrame]: ...


class Scratch(Protocol):
    """Where a checkpoint of the chain is written: ``write`` batches (index = input position), then
    ``finish`` returns a source that re-reads them as batches with the same index."""

    def write(self, batch: pd.DataFrame) -> None: ...

    def finish(self) -> Batches: ...


def apply_chain(transformers: Sequence[BatchTransformer], batch: pd.DataFrame) -> BatchResult:
    """Apply fitted transformers in sequence to one batch."""
    result = BatchResult(data=batch)
    for transformer in transformers:
        # an emptied batch still goes through, so the output columns are the same for every batch
        result = result.then(transformer.transform(result.data))
    return result


def _to_fit(transformers: Sequence[BatchTransformer], prefitted: frozenset[int]) -> list[int]:
    return [i for i, t in enumerate(transformers) if t.stateful and i not in prefitted]


def _independent(transformers: Sequence[BatchTransformer], j: int, k: int) -> bool:
    """Whether ``k`` (after ``j``) can be fitted without applying ``j``: ``j`` keeps every row, and
    neither ``k`` nor any transformer between them reads a column ``j`` writes."""
    if transformers[j].may_remove_rows():
        return False
    for i in range(j + 1, k + 1):
        reads = transformers[i].columns_read()
        if reads is None or any(transformers[j].writes_column(c) for c in reads):
            return False
    return True


def _fit_group(transformers: Sequence[BatchTransformer], pending: list[int]) -> list[int]:
    """The transformers fitted by the next pass: the first pending one and the pending ones right after
    it that depend on none of the group (e.g. one-hot encoding and scaling of other columns)."""
    group = [pending[0]]
    for candidate in pending[1:]:
        if not all(_independent(transformers, j, candidate) for j in group):
            break
        group.append(candidate)
    return group


def _begin_pass(transformers: Sequence[BatchTransformer]) -> None:
    for transformer in transformers:
        transformer.begin_pass()


def _columns_read(transformers: Sequence[BatchTransformer]) -> frozenset[str] | None:
    """The columns a pass through ``transformers`` needs from its source; None: all of them."""
    needed: set[str] = set()
    for transformer in transformers:
        reads = transformer.columns_read()
        if reads is None:
            return None
        needed.update(reads)
    return frozenset(needed)


def fit_chain(
    transformers: Sequence[BatchTransformer],
    batches: Batches,
    *,
    prefitted: frozenset[int],
    scratch: Callable[[], Scratch] | None,
    write_rejected: Callable[[pd.DataFrame], None],
    tally: RowTally,
) -> tuple[Batches, int]:
    """Fit the stateful transformers (but the ``prefitted`` ones), each on the output of those before
    it; returns the source of the last pass and the position of the first transformer it still has to
    apply.

    A pass fits a group of transformers that do not depend on each other (:func:`_fit_group`) and
    reads only the columns the pass needs, unless it writes a checkpoint (``scratch``), which holds
    every column.
    """
    source, start = batches, 0
    pending = _to_fit(transformers, prefitted)
    while pending:
        group = _fit_group(transformers, pending)
        pending = pending[len(group) :]
        first, last = group[0], group[-1]
        for position in group:
            transformers[position]._reset()
        _begin_pass(transformers)
        started = time.perf_counter()
        prefix = transformers[start:first]
        checkpoint = scratch() if scratch is not None and any(not t.stateful for t in prefix) else None
        columns = None if checkpoint is not None else _columns_read(transformers[start : last + 1])
        for batch in source(columns):
            if start == 0 and checkpoint is not None:
                tally.rows_in += len(batch)
            result = apply_chain(prefix, batch) if prefix else BatchResult(data=batch)
            if checkpoint is not None:
                checkpoint.write(result.data)
                tally.removed(result)
                write_rejected(result.rejected)
            data = result.data
            for position in range(first, last + 1):
                if position in group:
                    transformers[position].partial_fit(data)
                else:  # stateless, or fitted already: its output is what the next group member sees
                    data = transformers[position].transform(data).data
        for position in group:
            transformers[position].finish_fit()
        log.info(
            "fitted %s in one pass of %.2f s reading %s%s",
            ", ".join(str(transformers[p]) for p in group),
            time.perf_counter() - started,
            "all columns" if columns is None else sorted(columns),
            " (checkpointed the chain before it)" if checkpoint else "",
        )
        if checkpoint is not None:
            source, start = checkpoint.finish(), first
    return source, start


def run_chain(
    transformers: Sequence[BatchTransformer],
    batches: Batches,
    write_output: Callable[[pd.DataFrame], None],
    write_rejected: Callable[[pd.DataFrame], None],
    *,
    fit: bool = True,
    prefitted: frozenset[int] = frozenset(),
    scratch: Callable[[], Scratch] | None = None,
) -> RowAccounting:
    """Fit (unless ``fit`` is False and the transformers are fitted already), transform and write.

    :param batches: a callable returning a fresh iterator over the input batches each time; it is
        given the columns the pass needs (None: all), and may return more.
    :param prefitted: positions of transformers fitted already (state loaded from an earlier run).
    :param scratch: makes a scratch dataset for checkpoints (see the module docstring); None: none.
    :returns: the row accounting of the whole run.
    """
    tally = RowTally()
    source, start = batches, 0
    if fit:
        source, start = fit_chain(
            transformers, batches, prefitted=prefitted, scratch=scratch, write_rejected=write_rejected, tally=tally
        )
    _begin_pass(transformers[start:])
    started = time.perf_counter()
    for batch in source(None):
        if start == 0:
            tally.rows_in += len(batch)
        result = apply_chain(transformers[start:], batch)
        tally.rows_out += len(result.data)
        tally.removed(result)
        write_output(result.data)
        write_rejected(result.rejected)
    log.info("transformed and wrote %d rows in %.2f s", tally.rows_out, time.perf_counter() - started)
    return tally.accounting()
