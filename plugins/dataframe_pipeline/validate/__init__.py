"""The validate step: data quality suites (Great Expectations) run before the store step publishes."""

from __future__ import annotations

from dataframe_pipeline._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ["ExpectationFailure", "ValidationReport", "load_suite", "run_suite", "suite_problem"], "expectations"
        ),
        "plan_suite": "suite",
        "read_history": "history",
        "load_contract": "contract",
        "StreamingValidator": "streaming",
    },
)
