"""Threshold alerts over emitted windows, once per breach and not once per message. Pure: no Airflow.

A rule such as ``mean(temperature_c) > 80`` is evaluated per key on each window as it is emitted, in
window order. A **breach opens** on the first window that crosses the threshold and **closes** on the
first window back under it; exactly one alert is raised per opening. The open breaches and the last
window evaluated per key are state, persisted with the windows, so a retry or the next run does not
alert again. A window emitted again (``revision > 0``, a late event merged) or older than the last one
evaluated for its key does not change the timeline; a window without a value (no reading) neither.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.enrich.windows.aggregate import AGGREGATES, EVENTS, REVISION, WINDOW_END, WINDOW_START
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

    from dataframe_pipeline.enrich.windows.aggregate import WindowSpec

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class ThresholdRule:
    """``<aggregate>(<column>) <op> <threshold>`` per key, e.g. ``mean(temperature_c) > 80``.

    :param name: the rule's name (in the alert and the state).
    :param column: a value column of the windows, or ``events`` (the event count; aggregate ``count``).
    :param aggregate: ``count``, ``sum``, ``mean``, ``min`` or ``max``.
    :param op: ``>``, ``>=``, ``<`` or ``<=``.
    :param threshold: the number compared with.
    """

    name: str
    column: str
    aggregate: str
    op: str
    threshold: float

    @property
    def field(self) -> str:
        return EVENTS if self.column == EVENTS else f"{self.column}_{self.aggregate}"

    def describe(self) -> str:
        return f"{self.aggregate}({self.column}) {self.op} {self.threshold:g}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], position: int) -> ThresholdRule:
        where = f"alerts[{position}]"
        if not isinstance(config, dict):
            raise ConfigurationError(where, config, "must be a mapping (name, column, aggregate, op, threshold)")
        unknown = sorted(set(config) - {"name", "column", "aggregate", "op", "threshold"})
        if unknown:
            raise ConfigurationError(where, config, f"unknown keys {unknown}")
        column, aggregate = config.get("column"), config.get("aggregate", "mean")
        name = config.get("name") or f"{aggregate}_{column}_{config.get('op')}_{config.get('threshold')}"
        return cls(str(name), column, aggregate, config.get("op"), config.get("threshold"))  # type: ignore[arg-type]

    def validate(self, spec: WindowSpec, position: int) -> None:
        where = f"alerts[{position}]"
        if self.column != EVENTS and self.column not in spec.values:
            raise ConfigurationError(
                f"{where}.column", self.column, f"must be one of the values {list(spec.values)} or 'events'"
            )
        if self.aggregate not in AGGREGATES or (self.column == EVENTS and self.aggregate != "count"):
            raise ConfigurationError(
                f"{where}.aggregate", self.aggregate, f"must be one of {list(AGGREGATES)} ('count' for events)"
            )
        if self.op not in OPERATORS:
            raise ConfigurationError(f"{where}.op", self.op, f"must be one of {list(OPERATORS)}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ConfigurationError(f"{where}.threshold", self.threshold, "must be a number")


@dataclass(frozen=True)
class Breach:
    """A breach that opened (``closed_at`` None) or closed in a run."""

    rule: str
    key: dict[str, Any]
    opened_at: str
    value: float
    description: str
    closed_at: str | None = None

    @property
    def alert_id(self) -> str:
        """One alert per opening: the rule, the key and the window it opened on."""
        return f"{self.rule}|{json.dumps(self.key, sort_keys=True, default=str)}|{self.opened_at}"

    def title(self) -> str:
        who = ", ".join(f"{k}={v}" for k, v in self.key.items())
        since = f"since window {self.opened_at} (value {self.value:g})"
        return f"threshold breach {self.rule}: {self.description} for {who} {since}"

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "alert_id": self.alert_id}


@dataclass
class BreachTracker:
    """The open breaches per rule and key, and the last window evaluated per key.

    :param rules: the threshold rules.
    :param keys: the key columns of the windows.
    """

    rules: Sequence[ThresholdRule]
    keys: Sequence[str]
    #: rule -> key (JSON) -> {"opened_at", "value"}
    open: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: rule -> key (JSON) -> the start (ISO) of the last window evaluated
    last: dict[str, dict[str, str]] = field(default_factory=dict)

    def observe(self, windows: pd.DataFrame) -> tuple[list[Breach], list[Breach]]:
        """Evaluate emitted windows; returns the breaches opened and those closed, in window order."""
        opened: list[Breach] = []
        closed: list[Breach] = []
        if not len(windows) or not self.rules:
            return opened, closed
        first = windows[windows[REVISION] == 0].sort_values([WINDOW_START, *self.keys])
        for rule in self.rules:
            compare = OPERATORS[rule.op]
            is_open, last = self.open.setdefault(rule.name, {}), self.last.setdefault(rule.name, {})
            for row in first[[*self.keys, WINDOW_START, WINDOW_END, rule.field]].itertuples(index=False):
                key = {k: _plain(v) for k, v in zip(self.keys, row[: len(self.keys)], strict=True)}
                key_text = json.dumps(key, sort_keys=True, default=str)
                start, value = row[len(self.keys)].isoformat(), row[-1]
                if key_text in last and start <= last[key_text]:
                    continue
                last[key_text] = start
                if value is None or math.isnan(value):  # no value in the window: the breach stays as it is
                    continue
                crossed = bool(compare(float(value), float(rule.threshold)))
                if crossed and key_text not in is_open:
                    is_open[key_text] = {"opened_at": start, "value": float(value)}
                    opened.append(Breach(rule.name, key, start, float(value), rule.describe()))
                elif not crossed and key_text in is_open:
                    was = is_open.pop(key_text)
                    closed.append(
                        Breach(rule.name, key, was["opened_at"], float(value), rule.describe(), closed_at=start)
                    )
        return opened, closed

    def as_dict(self) -> dict[str, Any]:
        return {"open": self.open, "last": self.last}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, rules: Sequence[ThresholdRule], keys: Sequence[str]
    ) -> BreachTracker:
        data = data or {}
        names = {r.name for r in rules}
        return cls(
            rules,
            keys,
            {k: dict(v) for k, v in (data.get("open") or {}).items() if k in names},
            {k: dict(v) for k, v in (data.get("last") or {}).items() if k in names},
        )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
