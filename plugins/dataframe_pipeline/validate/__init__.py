"""The validate step: data quality suites (Great Expectations) run before the store step publishes."""

from __future__ import annotations

from dataframe_pipeline.validate.expectations import (
    ExpectationFailure,
    ValidationReport,
    load_suite,
    run_suite,
    suite_problem,
)

__all__ = ["ExpectationFailure", "ValidationReport", "load_suite", "run_suite", "suite_problem"]
