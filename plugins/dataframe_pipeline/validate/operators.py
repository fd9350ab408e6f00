"""Airflow operator of the validate step (the audit in write-audit-publish)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import StepOperator, location
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import StepRunner
    from dataframe_pipeline.validate.suite import SuitePlan


class ValidateOperator(StepOperator):
    """Validate the upstream dataset batch by batch with a suite; an ``error`` failure blocks publishing.

    The schema contract (if given) is checked on the dataset's schema before any row is read. The suite
    streams with bounded memory (``validate/streaming.py``); its result, the run's quality metrics and
    monitors are returned under ``validation`` and stored as ``report.json`` beside the step's outputs;
    the metrics also go to the quality history ``<storage root>/_quality/<dag_id>/<task_id>/``. A failed
    ``error`` expectation, monitor or contract fails the task without retry (the data will not change
    by retrying), so the store step does not run and the last good version stays in place.

    A run that passes with failed ``warning`` monitors (volume drop, stale data, rates) publishes and sends
    one alert naming them (:func:`~dataframe_pipeline.alerts.alert_validation_warnings`); a failed run
    alerts through the task's failure callback.

    Without ``on_failure: "quarantine"`` expectations the step passes its input on (its result names
    the dataset it validated); with them it writes its own output without the quarantined rows.

    :param suite: path of the suite JSON; relative paths are under the project directory. (templated)
    :param contract: path of the schema contract YAML (``include/contracts/``), or None. (templated)
    """

    template_fields: Sequence[str] = (*StepOperator.template_fields, "suite", "contract")
    step = "validate"
    ui_color = "#fde2e2"

    def __init__(self, *, suite: str, contract: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.contract = contract

    @staticmethod
    def _project_path(value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else settings.PROJECT_DIR / path

    def suite_path(self) -> Path:
        return self._project_path(self.suite)

    def plan(self) -> SuitePlan:
        from dataframe_pipeline.validate.expectations import load_suite
        from dataframe_pipeline.validate.suite import plan_suite

        return plan_suite(load_suite(self.suite_path()))

    def validate_config(self) -> None:
        from dataframe_pipeline.validate.contract import load_contract

        super().validate_config()
        if not isinstance(self.suite, str) or not self.suite_path().is_file():
            raise ConfigurationError("suite", self.suite, f"no such file: {self.suite_path()}")
        self.plan()
        if self.contract is not None:
            if not isinstance(self.contract, str) or not self.contract:
                raise ConfigurationError("contract", self.contract, "must be the path of a contract file")
            load_contract(self._project_path(self.contract))

    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        from dataframe_pipeline.alerts import alert_validation_warnings

        alert_validation_warnings(context, result)
        return result

    def upstream_results(self, context: Context) -> list[Any]:
        """The results (XCom) of every task upstream of this one, for the duplicate and outlier rates."""
        ti = context.get("ti")
        if ti is None or not self.has_dag() or not hasattr(ti, "xcom_pull"):
            return []
        task_ids = sorted(self.get_flat_relative_ids(upstream=True))
        if not task_ids:
            return []
        pulled = ti.xcom_pull(task_ids=task_ids)
        return [r for r in (pulled if isinstance(pulled, list) else [pulled]) if isinstance(r, dict)]

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput, PassThrough
        from dataframe_pipeline.validate.audit import ValidationAudit, ValidationStep, check_contract
        from dataframe_pipeline.validate.contract import load_contract

        source = DatasetInput(self.input_location())
        plan = self.plan()
        contract = load_contract(self._project_path(self.contract)) if self.contract else None
        contract_result = check_contract(contract, source.reader.columns)
        if contract is not None and not contract_result["success"]:  # no contract: nothing to break
            self._refuse(context, plan, contract_result, contract.source)
        step = ValidationStep(plan, (plan.monitors.get("freshness") or {}).get("column"))
        audit = ValidationAudit.factory(
            step,
            str(self.suite),
            contract=contract_result,
            upstream=self.upstream_results(context),
            history=location(self.root() / "_quality" / self.dag_id / self.task_id),
            run={"dag_id": self.dag_id, "task_id": self.task_id, "run_id": str(context.get("run_id") or "")},
        )
        sink = None if plan.quarantines else (lambda _: PassThrough(source.ref))
        return self.step_runner(context, source, chain=[step], sink=sink, routed=[audit], meta={"suite": self.suite})

    def _refuse(self, context: Context, plan: SuitePlan, contract_result: dict, source: str) -> None:
        """Write the report of a broken contract and fail: nothing was read, nothing is published."""
        import json

        from dataframe_pipeline.exceptions import ValidationFailedError
        from dataframe_pipeline.validate.contract import describe

        target = self.task_place(context) / "report.json"
        target.fs.makedirs(target.parent.path, exist_ok=True)
        body = {
            "success": False,
            "suite": plan.name,
            "report_uri": target.uri,
            "statistics": {"evaluated": 0, "successful": 0, "failed_errors": 0, "failed_warnings": 0},
            "expectations": [],
            "contract": contract_result,
            "metrics": None,
            "monitors": [],
            "history_uri": None,
        }
        target.write_bytes(json.dumps(body, indent=1).encode())
        raise ValidationFailedError(f"{describe(contract_result, source)} (report: {target})")
