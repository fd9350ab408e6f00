"""Airflow operator of the validate step (the audit in write-audit-publish)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import StepOperator
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import StepRunner


class ValidateOperator(StepOperator):
    """Run a Great Expectations suite on the upstream dataset; a failure blocks publishing.

    The step passes its input on (its result names the dataset it validated, for the store step) and
    stores the full validation result as ``report.json`` beside its outputs; the result adds the verdict
    and the report's URI. A failing suite fails the task without retry (the data will not change by
    retrying), so downstream publishing does not run and the last good version stays in place.

    :param suite: path of the suite JSON; relative paths are under the project directory. (templated)
    """

    template_fields: Sequence[str] = (*StepOperator.template_fields, "suite")
    step = "validate"
    ui_color = "#fde2e2"

    def __init__(self, *, suite: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def suite_path(self) -> Path:
        path = Path(self.suite)
        return path if path.is_absolute() else settings.PROJECT_DIR / path

    def validate_config(self) -> None:
        from dataframe_pipeline.validate.expectations import load_suite

        super().validate_config()
        if not isinstance(self.suite, str) or not self.suite_path().is_file():
            raise ConfigurationError("suite", self.suite, f"no such file: {self.suite_path()}")
        load_suite(self.suite_path())

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput, PassThrough
        from dataframe_pipeline.validate.audit import SuiteAudit
        from dataframe_pipeline.validate.expectations import load_suite

        source = DatasetInput(self.input_location())
        audit = SuiteAudit.factory(load_suite(self.suite_path()), str(self.suite))
        return self.step_runner(context, source, sink=lambda _: PassThrough(source.ref), routed=[audit])
