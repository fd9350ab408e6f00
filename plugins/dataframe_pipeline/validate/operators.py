"""Airflow operator of the validate step (the audit in write-audit-publish)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import DataFrameStepOperator
from dataframe_pipeline.exceptions import ConfigurationError, ValidationFailedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class ValidateOperator(DataFrameStepOperator):
    """Run a Great Expectations suite on the upstream dataset; a failure blocks publishing.

    The full validation result is stored as ``report.json`` beside the step's outputs; XCom gets the
    verdict, the counts and the failed expectations. A failing suite fails the task without retry
    (the data will not change by retrying), so downstream publishing does not run and the last good
    version stays in place.

    :param suite: path of the suite JSON; relative paths are under the project directory. (templated)
    """

    template_fields: Sequence[str] = (*DataFrameStepOperator.template_fields, "suite")
    step = "validate"
    ui_color = "#fde2e2"

    def __init__(self, *, suite: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def suite_path(self) -> Path:
        path = Path(self.suite)
        return path if path.is_absolute() else settings.PROJECT_DIR / path

    def validate_config(self) -> None:
        super().validate_config()
        if not self.suite_path().is_file():
            raise ConfigurationError("suite", self.suite, f"no such file: {self.suite_path()}")

    def run_step(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.core.dataset import write_atomic
        from dataframe_pipeline.validate.expectations import load_suite, run_suite

        suite = load_suite(self.suite_path())
        reader = self.open_input()
        # Expectations such as uniqueness need the whole column: validation loads the dataset.
        frame = reader.read_pandas()
        report = run_suite(suite, frame)
        report_path = self.task_path(context) / "report.json"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        body = {"dataset": reader.ref.as_dict(), "suite": str(self.suite), **report.as_dict()}
        write_atomic(report_path.fs, report_path.path, json.dumps(body, indent=1, default=str).encode())
        self.log.info("validation of %s: %s", reader.uri, report.summary())
        self.log.info("validation report: %s", report_path)
        if not report.success:
            raise ValidationFailedError(f"{report.summary()} (report: {report_path})")
        return {
            "step": self.step,
            "dataset": reader.ref.as_dict(),
            "success": report.success,
            "report_uri": str(report_path),
        }
