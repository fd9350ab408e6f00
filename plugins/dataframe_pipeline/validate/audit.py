"""The audit of write-audit-publish: a Great Expectations suite run on the dataset a step passes on.

:class:`SuiteAudit` is a routed output of the validate step (see
:class:`~dataframe_pipeline.core.runner.RoutedOutput`): it receives the dataset's batches, validates
them once they are all read, writes ``report.json`` beside the step's outputs and, when the suite fails,
raises :class:`~dataframe_pipeline.exceptions.ValidationFailedError` naming the failed expectations, so
publishing does not run and the last good version stays in place.

Expectations such as uniqueness need the whole column, so for now the batches are gathered and
validated together: the dataset is held in memory once.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ValidationFailedError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pandas as pd

    from dataframe_pipeline.core.dataset import DatasetRef, Location
    from dataframe_pipeline.core.runner import StepRunner

log = logging.getLogger(__name__)


class SuiteAudit:
    """Validate a dataset with a suite and store the report at ``target``.

    :param suite: the suite (as :func:`~dataframe_pipeline.validate.expectations.load_suite` returns it).
    :param suite_path: where the suite was read from (recorded in the report).
    :param target: the report file.
    """

    def __init__(self, suite: Mapping[str, Any], suite_path: str, target: Location) -> None:
        self.suite = suite
        self.suite_path = suite_path
        self.target = target
        self.frames: list[pd.DataFrame] = []

    @classmethod
    def factory(cls, suite: Mapping[str, Any], suite_path: str) -> Callable[[StepRunner], SuiteAudit]:
        return lambda runner: cls(suite, suite_path, runner.place / "report.json")

    def write(self, batch: pd.DataFrame) -> None:
        self.frames.append(batch)

    def commit(self, output: DatasetRef) -> Mapping[str, Any]:
        import pandas as pd

        from dataframe_pipeline.validate.expectations import run_suite

        frame = self.frames[0] if len(self.frames) == 1 else pd.concat(self.frames)
        self.frames = []
        report = run_suite(self.suite, frame)
        body = {"dataset": output.as_dict(), "suite": self.suite_path, **report.as_dict()}
        self.target.write_bytes(json.dumps(body, indent=1, default=str).encode())
        log.info("validation of %s: %s", output.uri, report.summary())
        log.info("validation report: %s", self.target)
        if not report.success:
            raise ValidationFailedError(f"{report.summary()} (report: {self.target})")
        return {"success": True, "report_uri": self.target.uri}

    def abort(self) -> None:
        return None  # the report of a failed suite stays: it says why publishing was blocked
