"""The audit of write-audit-publish: a suite validated while the dataset streams through the step.

Two pieces plug the validation into the step's :class:`~dataframe_pipeline.core.runner.StepRunner`:

- :class:`ValidationStep`, the step's only transformer: every batch goes through the
  :class:`~dataframe_pipeline.validate.streaming.StreamingValidator`; rows failing an expectation with
  ``on_failure: "quarantine"`` leave the batch for the step's quarantine (rule
  ``expectation:<type>:<column>``), so the row accounting reconciles (in = out + quarantined);
- :class:`ValidationAudit`, a routed output committed after the output: it turns the outcomes into the
  ``validation`` result, judges the monitors against the history, writes ``report.json`` and this
  partition's history file, and raises :class:`~dataframe_pipeline.exceptions.ValidationFailedError`
  when an ``error`` expectation or monitor failed, naming each with its counts and three examples, so
  the store step does not run and the last good version stays in place. ``warning`` failures are
  logged and reported, and publishing goes on.

The schema contract is checked before any row is read (:func:`check_contract`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ValidationFailedError
from dataframe_pipeline.validate.expectations import MAX_PARTIAL, json_safe

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import pandas as pd

    from dataframe_pipeline.core.batch import BatchResult
    from dataframe_pipeline.core.dataset import DatasetRef, Location
    from dataframe_pipeline.core.partition import Partition
    from dataframe_pipeline.core.runner import StepRunner
    from dataframe_pipeline.validate.contract import Contract
    from dataframe_pipeline.validate.suite import SuitePlan

log = logging.getLogger(__name__)

#: the contract section of a run without a contract
NO_CONTRACT: dict[str, Any] = {"success": True, "differences": []}


class ValidationStep(BatchTransformer):
    """Validate each batch as it streams; quarantine the rows of ``on_failure: "quarantine"`` checks.

    :param plan: the checked suite.
    :param freshness_column: the column whose newest value the metrics track (or None).
    """

    def __init__(self, plan: SuitePlan, freshness_column: str | None = None) -> None:
        self.plan = plan
        self.freshness_column = freshness_column

    rule_name = "validate"  # rows are quarantined under each expectation's own rule

    def begin_pass(self) -> None:
        from dataframe_pipeline.validate.monitoring import MetricsState
        from dataframe_pipeline.validate.streaming import StreamingValidator

        self.validator_ = StreamingValidator(self.plan, MetricsState(self.freshness_column))

    def may_remove_rows(self) -> bool:
        return self.plan.quarantines

    def writes_column(self, name: str) -> bool:
        return False

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        if not hasattr(self, "validator_"):
            self.begin_pass()
        return self.validator_.process(batch)


def check_contract(contract: Contract | None, columns: Mapping[str, str]) -> dict[str, Any]:
    """The contract section of the result: the dataset's columns against the contract."""
    if contract is None:
        return dict(NO_CONTRACT)
    from dataframe_pipeline.validate.contract import compare

    return compare(contract, columns)


def statistics(expectations: Sequence[Mapping[str, Any]], monitors: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of the ``validation`` result. A quarantining expectation that found rows is a warning
    (its rows were removed and publishing goes on); one that could not be evaluated is an error."""
    items = [*expectations, *monitors]
    failed = [i for i in items if not i["success"]]
    errors = [i for i in failed if i["severity"] == "error" and (not _quarantined(i) or i.get("exception"))]
    return {
        "evaluated": len(items),
        "successful": len(items) - len(failed),
        "failed_errors": len(errors),
        "failed_warnings": len(failed) - len(errors),
    }


def _quarantined(item: Mapping[str, Any]) -> bool:
    return item.get("on_failure", "fail") == "quarantine"


class ValidationAudit:
    """Verdict, report, history. See the module docstring.

    :param step: the step's transformer (holds the validator fed during the pass).
    :param suite_path: where the suite was read from (recorded in the report).
    :param target: the report file.
    :param contract: the contract section (:func:`check_contract`).
    :param upstream: the upstream steps' results (for the duplicate and outlier rates).
    :param history: the history folder of this task (``validate/history.py``), or None.
    :param run: ``dag_id``, ``task_id``, ``run_id`` for the history.
    :param partition: the run's partition.
    """

    def __init__(
        self,
        step: ValidationStep,
        suite_path: str,
        target: Location,
        *,
        contract: Mapping[str, Any],
        upstream: Sequence[Mapping[str, Any]],
        history: Location | None,
        run: Mapping[str, str],
        partition: Partition,
    ) -> None:
        self.step = step
        self.suite_path = suite_path
        self.target = target
        self.contract = contract
        self.upstream = upstream
        self.history = history
        self.run = run
        self.partition = partition

    @classmethod
    def factory(cls, step: ValidationStep, suite_path: str, **options: Any) -> Callable[[StepRunner], ValidationAudit]:
        return lambda runner: cls(step, suite_path, runner.place / "report.json", partition=runner.partition, **options)

    def write(self, batch: pd.DataFrame) -> None:
        return None  # the batches were validated on their way through ValidationStep

    def _monitors(self, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
        from dataframe_pipeline.validate.history import previous_row_counts, read_history, write_history
        from dataframe_pipeline.validate.monitoring import evaluate_monitors

        previous: list[float] = []
        if self.history is not None:
            previous = previous_row_counts(read_history(self.history), self.partition)
            write_history(
                self.history,
                dag_id=self.run["dag_id"],
                task_id=self.run["task_id"],
                run_id=self.run["run_id"],
                partition=self.partition,
                metrics=metrics,
            )
        return json_safe(evaluate_monitors(self.step.plan.monitors, metrics, previous))

    def body(self, examples: int) -> dict[str, Any]:
        """The ``validation`` result (``examples``: how many examples per expectation)."""
        if not hasattr(self.step, "validator_"):
            self.step.begin_pass()  # no batch at all
        validator = self.step.validator_
        outcomes = validator.outcomes()
        if validator.metrics is None:  # ValidationStep.begin_pass always gives its validator one
            raise RuntimeError("the validation step's validator keeps no metrics")
        metrics = json_safe(validator.metrics.metrics(self.upstream, self.partition.end))
        if not hasattr(self, "_monitor_results"):
            self._monitor_results = self._monitors(metrics)
        expectations = [o.as_dict(examples) for o in outcomes]
        stats = statistics(expectations, self._monitor_results)
        history_uri = None
        if self.history is not None:
            from dataframe_pipeline.validate.history import history_file

            history_uri = history_file(self.history, self.partition).uri
        return {
            "success": stats["failed_errors"] == 0 and bool(self.contract["success"]),
            "suite": self.step.plan.name,
            "report_uri": self.target.uri,
            "statistics": stats,
            "expectations": expectations,
            "contract": dict(self.contract),
            "metrics": metrics,
            "monitors": self._monitor_results,
            "history_uri": history_uri,
        }

    def commit(self, output: DatasetRef) -> Mapping[str, Any]:
        validation = self.body(examples=3)
        report = {"dataset": output.as_dict(), "suite_path": self.suite_path, **self.body(examples=MAX_PARTIAL)}
        self.target.write_bytes(json.dumps(report, indent=1, default=str).encode())
        message = failure_message(self.step, validation)
        log.info("validation report: %s", self.target)
        if not validation["success"]:
            raise ValidationFailedError(f"{message} (report: {self.target})")
        log.info("%s", message)
        return {"success": True, "report_uri": self.target.uri, "validation": validation}

    def abort(self) -> None:
        return None  # the report of a failed suite stays: it says why publishing was blocked


def failure_message(step: ValidationStep, validation: Mapping[str, Any]) -> str:
    """One message naming every failed error expectation and monitor (counts, three examples); warnings
    are logged on their own lines."""
    outcomes = {o.check.index: o for o in step.validator_.outcomes()}
    errors: list[str] = []
    warnings: list[str] = []
    for outcome in outcomes.values():
        if outcome.success:
            continue
        removed = outcome.check.quarantines and outcome.exception is None  # its rows left: not a failure
        bucket = errors if outcome.check.severity == "error" and not removed else warnings
        bucket.append(outcome.describe() + (" (rows quarantined)" if removed else ""))
    for monitor in validation["monitors"]:
        if not monitor["success"]:
            (errors if monitor["severity"] == "error" else warnings).append(
                f"monitor {monitor['name']} [{monitor['severity']}]: {monitor['message']}"
            )
    for warning in warnings:
        log.warning("validation warning: %s", warning)
    stats = validation["statistics"]
    status = "passed" if validation["success"] else "FAILED"
    head = (
        f"suite {validation['suite']} {status}: {stats['successful']}/{stats['evaluated']} checks passed on "
        f"{validation['metrics']['row_count']} rows, {stats['failed_errors']} errors, "
        f"{stats['failed_warnings']} warnings"
    )
    return head + (": " + "; ".join(errors) if errors else "")
