"""Validate a dataset batch by batch, in bounded memory, with results equal to GX on the whole frame.

:class:`StreamingValidator` takes a :class:`~dataframe_pipeline.validate.suite.SuitePlan` and is fed
one batch at a time (index = row position in the input):

1. the expectations with ``on_failure: "quarantine"`` are evaluated on the batch (column-map ones by GX
   with ``COMPLETE`` results, which name the failing rows; row checks by ``validate/rules.py``); the
   rows failing any of them are taken out, with the first such expectation as their rule and the value
   in the reason;
2. every other expectation is evaluated on the rows kept, which are what the step passes on: column-map
   ones by GX (``SUMMARY`` results, counts summed), aggregate ones by streaming state
   (``validate/aggregates.py``), row checks by their masks.

One ephemeral GX context and its batch definition are built once (at the first batch), not per batch.
Memory: one batch, GX's per-batch work, and the aggregate states (hashes of distinct values, running
sums, the values of quantile columns).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, reject
from dataframe_pipeline.validate.aggregates import GuardedState
from dataframe_pipeline.validate.results import MapCounts, Outcome
from dataframe_pipeline.validate.rules import RowCheck

if TYPE_CHECKING:
    from dataframe_pipeline.validate.monitoring import MetricsState
    from dataframe_pipeline.validate.suite import Check, SuitePlan

log = logging.getLogger(__name__)

_SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": 10, "return_unexpected_index_query": False}
_TAG = "dataframe_pipeline_check"
_COMPLETE = {"result_format": "COMPLETE", "partial_unexpected_count": 10, "return_unexpected_index_query": False}


class _GxBatches:
    """GX over one batch at a time: the context, the suites (one per result format) and the lookup of a
    result's expectation, built once."""

    def __init__(self, checks: list[Check], name: str) -> None:
        from dataframe_pipeline.validate.expectations import _build_suite, _ephemeral_context

        self.checks = {c.index: c for c in checks}
        # GX normalises kwargs (drops defaults), so results are matched to checks by a meta tag
        items = [{**c.item, "meta": {**(c.item.get("meta") or {}), _TAG: c.index}} for c in checks]
        self.suite = _build_suite({"name": name, "expectations": items})
        context = _ephemeral_context()
        asset = context.data_sources.add_pandas(f"dataframe_pipeline_{name}").add_dataframe_asset("batch")
        self.definition = asset.add_batch_definition_whole_dataframe("batch")
        # GX only gets the columns its expectations read: it fingerprints every column of a batch it is
        # given (a hash of the whole frame), which cost more than the checks on a wide dataset
        self.columns = list(dict.fromkeys(c.column for c in checks if c.column is not None))

    def validate(
        self, batch: pd.DataFrame, result_format: dict[str, Any]
    ) -> list[tuple[Check, dict[str, Any], str | None]]:
        """Each check's GX result details and the error GX met running it (None if none)."""
        from dataframe_pipeline.validate.expectations import _exception_message, _expectation_of

        frame = batch[[c for c in self.columns if c in batch.columns]]
        gx_batch = self.definition.get_batch(batch_parameters={"dataframe": frame})
        result = gx_batch.validate(self.suite, result_format=result_format)
        pairs = []
        for res in result.results:
            check = self.checks[int(_expectation_of(res).meta[_TAG])]
            pairs.append((check, res.result or {}, _exception_message(res.exception_info)))
        return pairs


class StreamingValidator:
    """Feed batches with :meth:`process`, then read :meth:`outcomes` (in suite order).

    :param plan: the checked suite.
    :param metrics: per-run quality metrics, also fed with the rows kept (optional).
    """

    def __init__(self, plan: SuitePlan, metrics: MetricsState | None = None) -> None:
        self.plan = plan
        self.metrics = metrics
        self.map_counts: dict[int, MapCounts] = {c.index: MapCounts() for c in plan.of_kind("map")}
        self.rows = {c.index: RowCheck(c) for c in plan.of_kind("row")}
        self.aggregates = {c.index: GuardedState(c) for c in plan.of_kind("aggregate")}
        self._gx: dict[str, _GxBatches | None] | None = None
        self.rows_in = self.rows_quarantined = 0

    def _engines(self) -> dict[str, _GxBatches | None]:
        if self._gx is None:
            quarantine = self.plan.of_kind("map", quarantine=True)
            report = self.plan.of_kind("map", quarantine=False)
            self._gx = {
                "quarantine": _GxBatches(quarantine, f"{self.plan.name}_quarantine") if quarantine else None,
                "report": _GxBatches(report, self.plan.name) if report else None,
            }
        return self._gx

    def process(self, batch: pd.DataFrame) -> BatchResult:
        """Validate one batch; returns the rows kept and the rows quarantined (with rule and reason)."""
        engines = self._engines()
        self.rows_in += len(batch)
        bad = pd.Series(False, index=batch.index)
        rules = pd.Series(None, index=batch.index, dtype=object)
        reasons = pd.Series(None, index=batch.index, dtype=object)

        def mark(check: Check, failing: pd.Series, why: pd.Series | str) -> None:
            new = failing & ~bad
            if new.any():
                rules[new] = check.rule
                reasons[new] = why.reindex(batch.index)[new] if isinstance(why, pd.Series) else why
                bad[new] = True

        if engines["quarantine"] is not None and len(batch):
            for check, details, exception in engines["quarantine"].validate(batch, _COMPLETE):
                self.map_counts[check.index].add_gx(details, exception)
                failing = batch.index.isin(details.get("unexpected_index_list") or [])
                failing = pd.Series(failing, index=batch.index)
                if failing.any():
                    values = batch.loc[failing, check.column].astype(str)
                    mark(check, failing, f"{check.type}: {check.column}=" + values)
        for check in self.plan.of_kind("row", quarantine=True):
            failing = self.rows[check.index].update(batch)
            if failing.any():
                mark(check, failing, self.rows[check.index].reasons(batch, failing))
        result = BatchResult(data=batch)
        if bad.any():
            rejected = reject(batch[bad], "", reasons[bad])
            rejected["_rule"] = rules[bad]
            result = BatchResult(data=batch[~bad], rejected=rejected)
            self.rows_quarantined += int(bad.sum())
        self._report(result.data, engines["report"])
        return result

    def _report(self, kept: pd.DataFrame, engine: _GxBatches | None) -> None:
        if engine is not None and len(kept):
            for check, details, exception in engine.validate(kept, _SUMMARY):
                self.map_counts[check.index].add_gx(details, exception)
        for check in self.plan.of_kind("row", quarantine=False):
            self.rows[check.index].update(kept)
        for state in self.aggregates.values():
            state.update(kept)
        if self.metrics is not None:
            self.metrics.update(kept)

    def outcomes(self) -> list[Outcome]:
        """Each expectation's outcome on everything processed, in suite order."""
        out = []
        for check in self.plan.checks:
            if check.kind == "map":
                out.append(self.map_counts[check.index].outcome(check))
            elif check.kind == "row":
                out.append(self.rows[check.index].counts.outcome(check))
            else:
                out.append(self.aggregates[check.index].outcome())
        return out
