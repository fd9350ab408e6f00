"""The expectation results of a run, as the report shows them, whatever shape validate left.

Two shapes are understood:

- the ``validation`` key of the validate step's result: ``{"success", "suite", "report_uri",
  "statistics": {"evaluated", "successful", "failed_errors", "failed_warnings"}, "expectations": [...],
  "contract": {"success", "differences"}, "metrics", "monitors": [...], "history_uri"}``;
- the older result ``{"success", "report_uri"}`` whose ``report.json`` holds the Great Expectations
  summary (``suite_name``, ``evaluated``, ``successful``, ``unsuccessful``, ``failures``: only the failed
  expectations).

Whatever is absent is listed in ``missing``, so the page says what it cannot show instead of guessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

EXPECTATION_KEYS = (
    "type", "column", "kwargs", "severity", "success", "element_count", "unexpected_count",
    "unexpected_percent", "missing_count", "examples", "observed_value", "exception", "on_failure",
)  # fmt: skip
SECTIONS = ("statistics", "expectations", "contract", "metrics", "monitors", "history_uri")


def _expectation(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: item.get(key) for key in EXPECTATION_KEYS}


def _from_new(validation: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "shape": "validation",
        "success": validation.get("success"),
        "suite": validation.get("suite"),
        "report_uri": validation.get("report_uri"),
        "statistics": dict(validation.get("statistics") or {}),
        "expectations": [_expectation(e) for e in validation.get("expectations") or []],
        "contract": validation.get("contract"),
        "metrics": validation.get("metrics"),
        "monitors": list(validation.get("monitors") or []),
        "history_uri": validation.get("history_uri"),
    }
    out["missing"] = [key for key in SECTIONS if validation.get(key) in (None, [], {})]
    return out


def _from_legacy(result: Mapping[str, Any], report: Mapping[str, Any] | None) -> dict[str, Any]:
    report = report or {}
    failures = report.get("failures") or []
    expectations = [
        {
            **dict.fromkeys(EXPECTATION_KEYS),
            "type": f.get("expectation_type"),
            "column": f.get("column"),
            "kwargs": f.get("kwargs"),
            "severity": "error",
            "success": False,
            "unexpected_count": f.get("unexpected_count"),
            "examples": f.get("partial_unexpected"),
            "observed_value": f.get("observed_value"),
            "exception": f.get("exception"),
        }
        for f in failures
    ]
    statistics = (
        {
            "evaluated": report.get("evaluated"),
            "successful": report.get("successful"),
            "failed_errors": report.get("unsuccessful"),
            "failed_warnings": None,
        }
        if report
        else {}
    )
    missing = ["contract", "metrics", "monitors", "history_uri", "severity", "passed expectations"]
    if not report:
        missing = ["statistics", "expectations", *missing]
    return {
        "shape": "legacy",
        "success": result.get("success", report.get("success")),
        "suite": report.get("suite") or report.get("suite_name"),
        "report_uri": result.get("report_uri"),
        "statistics": statistics,
        "expectations": expectations,
        "contract": None,
        "metrics": None,
        "monitors": [],
        "history_uri": None,
        "missing": missing,
    }


def normalize(result: Mapping[str, Any] | None, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The validation section from the validate step's result (or None: the task left none) and, for
    the older shape, the ``report.json`` it points at (or that the failed task left beside its outputs)."""
    if result and isinstance(result.get("validation"), dict):
        return _from_new(result["validation"])
    if not result and report and isinstance(report.get("expectations"), list):
        # a failed validate returns nothing; its report.json has the body of the ``validation`` key
        new = _from_new(report)
        new["note"] = "the validate task returned no result (it failed): read from the report it left"
        return new
    if result or report:
        legacy = _from_legacy(result or {}, report)
        if not result:
            legacy["note"] = "the validate task returned no result (it failed): read from the report it left"
        return legacy
    return {
        "shape": "missing",
        "success": None,
        "missing": ["validation"],
        "note": "no validation result: the validate task did not run or left nothing",
        "expectations": [],
        "monitors": [],
        "statistics": {},
    }
