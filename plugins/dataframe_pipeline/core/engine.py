"""Run a chain of batch transformers over a dataset with bounded memory.

Stateful transformers are fitted one at a time, in order, each on the output of the transformers
before it (which are fitted already): that is what fitting them on the whole, transformed data in
memory would give, without holding the data. Then one last pass transforms and writes.

Without a scratch space, every fit pass re-applies the whole prefix of the chain to the input. With
one (``scratch``), a fit pass whose prefix holds stateless work (type parsing, text normalisation:
often the costly part) also writes the prefix's output to a scratch dataset, and the passes after
it start from there: each transformer then runs once per pass that needs it, not once per pass.
The rows the prefix rejected or dropped are final, so they are written and counted in that pass.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dataframe_pipeline.core.batch import RULE_COLUMN, BatchResult, RowAccounting

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import pandas as pd

    from dataframe_pipeline.core.transform import BatchTransformer

log = logging.getLogger(__name__)


class Scratch(Protocol):
    """Where a checkpoint of the chain is written: ``write`` batches (index = input position), then
    ``finish`` returns a callable that re-reads them as batches with the same index."""

    def write(self, batch: pd.DataFrame) -> None: ...

    def finish(self) -> Callable[[], Iterator[pd.DataFrame]]: ...


@dataclass
class _Tally:
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)

    def removed(self, result: BatchResult) -> None:
        self.rows_rejected += result.n_rejected
        self.dropped += result.dropped
        if result.n_rejected:
            self.quarantined.update(result.rejected[RULE_COLUMN].astype(str).tolist())

    def accounting(self) -> RowAccounting:
        return RowAccounting(
            self.rows_in, self.rows_out, self.rows_rejected, dict(self.dropped), dict(self.quarantined)
        )


def apply_chain(transformers: Sequence[BatchTransformer], batch: pd.DataFrame) -> BatchResult:
    """Apply fitted transformers in sequence to one batch."""
    result = BatchResult(data=batch)
    for transformer in transformers:
        # an emptied batch still goes through, so the output columns are the same for every batch
        result = result.then(transformer.transform(result.data))
    return result


def _to_fit(transformers: Sequence[BatchTransformer], prefitted: frozenset[int]) -> list[int]:
    return [i for i, t in enumerate(transformers) if t.stateful and i not in prefitted]


def fit_chain(
    transformers: Sequence[BatchTransformer],
    batches: Callable[[], Iterator[pd.DataFrame]],
    *,
    prefitted: frozenset[int],
    scratch: Callable[[], Scratch] | None,
    write_rejected: Callable[[pd.DataFrame], None],
    tally: _Tally,
) -> tuple[Callable[[], Iterator[pd.DataFrame]], int]:
    """Fit each stateful transformer (but the ``prefitted`` ones) on the output of those before it,
    one pass each, checkpointing when a ``scratch`` is given; returns the source of the last pass
    and the position of the first transformer it still has to apply."""
    source, start = batches, 0
    for position in _to_fit(transformers, prefitted):
        prefix = transformers[start:position]
        transformer = transformers[position]
        transformer._reset()
        checkpoint = scratch() if scratch is not None and any(not t.stateful for t in prefix) else None
        for batch in source():
            if start == 0 and checkpoint is not None:
                tally.rows_in += len(batch)
            result = apply_chain(prefix, batch) if prefix else BatchResult(data=batch)
            transformer.partial_fit(result.data)
            if checkpoint is not None:
                checkpoint.write(result.data)
                tally.removed(result)
                write_rejected(result.rejected)
        transformer.finish_fit()
        log.info("fitted %s%s", transformer, " (checkpointed the chain before it)" if checkpoint else "")
        if checkpoint is not None:
            source, start = checkpoint.finish(), position
    return source, start


def run_chain(
    transformers: Sequence[BatchTransformer],
    batches: Callable[[], Iterator[pd.DataFrame]],
    write_output: Callable[[pd.DataFrame], None],
    write_rejected: Callable[[pd.DataFrame], None],
    *,
    fit: bool = True,
    prefitted: frozenset[int] = frozenset(),
    scratch: Callable[[], Scratch] | None = None,
) -> RowAccounting:
    """Fit (unless ``fit`` is False and the transformers are fitted already), transform and write.

    :param batches: a callable returning a fresh iterator over the input batches each time.
    :param prefitted: positions of transformers fitted already (state loaded from an earlier run).
    :param scratch: makes a scratch dataset for checkpoints (see the module docstring); None: none.
    :returns: the row accounting of the whole run.
    """
    tally = _Tally()
    source, start = batches, 0
    if fit:
        source, start = fit_chain(
            transformers, batches, prefitted=prefitted, scratch=scratch, write_rejected=write_rejected, tally=tally
        )
    for batch in source():
        if start == 0:
            tally.rows_in += len(batch)
        result = apply_chain(transformers[start:], batch)
        tally.rows_out += len(result.data)
        tally.removed(result)
        write_output(result.data)
        write_rejected(result.rejected)
    return tally.accounting()
