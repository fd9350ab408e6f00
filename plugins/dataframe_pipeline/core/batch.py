"""The contract every step's logic follows: DataFrame batches in, a :class:`BatchResult` out.

A step's input is streamed as pandas DataFrames whose **index is the row's position in the step's
input dataset** (0-based, int64, strictly increasing across batches). Logic never resets that index:
rows it removes simply disappear from ``data``, rows it rejects move to ``rejected`` with a reason,
so every input row can be traced and the row accounting reconciles::

    rows in = len(data) + len(rejected) + sum(dropped.values())

Stateful transforms follow scikit-learn's conventions: ``partial_fit(batch)`` accumulates mergeable
statistics and returns ``self``; ``finish_fit()`` turns them into fitted attributes (names end in
``_``); ``transform(batch)`` uses only fitted attributes, so it gives the same answer for a batch
whatever the batch size. No logic in ``__init__``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REASON_COLUMN = "_reason"
RULE_COLUMN = "_rule"


@dataclass
class BatchResult:
    """What one rule or step did to one batch.

    :param data: the rows kept (index preserved from the input).
    :param rejected: the rejected input rows with their original values plus ``_rule`` and
        ``_reason`` columns; they go to quarantine.
    :param dropped: rows removed on purpose (not quarantined), counted per named rule.
    """

    data: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def then(self, other: BatchResult) -> BatchResult:
        """Combine with the result of a rule applied to ``self.data`` (rules run in sequence)."""
        return BatchResult(
            data=other.data,
            rejected=concat_rejected([self.rejected, other.rejected]),
            dropped=self.dropped + other.dropped,
        )


def reject(rows: pd.DataFrame, rule: str, reasons: pd.Series | str) -> pd.DataFrame:
    """Mark ``rows`` as rejected by ``rule``; ``reasons`` is one string or a Series aligned on the index."""
    out = rows.copy()
    out[RULE_COLUMN] = rule
    out[REASON_COLUMN] = reasons
    return out


def concat_rejected(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate rejected-row frames, ignoring empty ones (their columns may differ)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return pd.DataFrame()
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, axis=0, sort=False)


def split_rows(batch: pd.DataFrame, bad: pd.Series, rule: str, reasons: pd.Series | str) -> BatchResult:
    """Keep rows where ``bad`` is False; quarantine the others under ``rule`` with ``reasons``."""
    bad = bad.fillna(False).astype(bool)
    if not bad.any():
        return BatchResult(data=batch)
    if isinstance(reasons, pd.Series):
        reasons = reasons[bad]
    return BatchResult(data=batch[~bad], rejected=reject(batch[bad], rule, reasons))


def drop_rows(batch: pd.DataFrame, drop: pd.Series, rule: str) -> BatchResult:
    """Remove rows where ``drop`` is True, counting them under ``rule`` (not quarantined)."""
    drop = drop.fillna(False).astype(bool)
    n = int(drop.sum())
    if not n:
        return BatchResult(data=batch)
    return BatchResult(data=batch[~drop], dropped=Counter({rule: n}))


@dataclass(frozen=True)
class RowAccounting:
    """Rows in = rows out + rows quarantined + rows dropped by a named rule."""

    rows_in: int
    rows_out: int
    rows_quarantined: int
    dropped_by_rule: Mapping[str, int] = field(default_factory=dict)
    #: breakdown of ``rows_quarantined`` per rule (informative; may be empty)
    quarantined_by_rule: Mapping[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped_by_rule.values())

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_quarantined + self.rows_dropped

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_quarantined": self.rows_quarantined,
            "rows_dropped": self.rows_dropped,
            "dropped_by_rule": dict(sorted(self.dropped_by_rule.items())),
            "quarantined_by_rule": dict(sorted(self.quarantined_by_rule.items())),
            "balanced": self.balanced,
        }

    def summary(self) -> str:
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped_by_rule.items())) or "none"
        text = (
            f"rows in={self.rows_in} out={self.rows_out} quarantined={self.rows_quarantined} "
            f"dropped={self.rows_dropped} (by rule: {dropped})"
        )
        if self.quarantined_by_rule:
            text += " quarantined by rule: " + ", ".join(
                f"{k}={v}" for k, v in sorted(self.quarantined_by_rule.items())
            )
        return text


@dataclass
class RowTally:
    """Row accounting added up batch by batch, for every step: what came in, what went out, what was
    quarantined (per rule) and dropped (per rule). :meth:`accounting` freezes it."""

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)

    def removed(self, result: BatchResult) -> None:
        """Count the rows a transform step rejected or dropped in one batch."""
        self.rows_quarantined += result.n_rejected
        self.dropped += result.dropped
        if result.n_rejected:
            self.quarantined.update(result.rejected[RULE_COLUMN].astype(str).tolist())

    def add(self, other: RowAccounting | RowTally) -> None:
        """Add the accounting of a part (one source batch, one file)."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rows_quarantined += other.rows_quarantined
        dropped = other.dropped if isinstance(other, RowTally) else other.dropped_by_rule
        quarantined = other.quarantined if isinstance(other, RowTally) else other.quarantined_by_rule
        self.dropped.update(dropped)
        self.quarantined.update(quarantined)

    def accounting(self) -> RowAccounting:
        return RowAccounting(
            self.rows_in, self.rows_out, self.rows_quarantined, dict(self.dropped), dict(self.quarantined)
        )
