"""The expectation results section, from the new ``validation`` shape and from the older one."""

from __future__ import annotations

from dataframe_pipeline.report.html import render
from dataframe_pipeline.report.validation import normalize

NEW = {
    "validation": {
        "success": False,
        "suite": "orders_curated",
        "report_uri": "file:///lake/validate/report.json",
        "statistics": {"evaluated": 3, "successful": 1, "failed_errors": 1, "failed_warnings": 1},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "column": "order_id", "kwargs": {}, "severity": "error",
             "success": False, "element_count": 100, "unexpected_count": 2, "unexpected_percent": 2.0,
             "missing_count": 2, "examples": [None, None], "observed_value": None, "exception": None,
             "on_failure": "fail"},
            {"type": "expect_column_mean_to_be_between", "column": "amount", "severity": "warning", "success": False,
             "observed_value": 81.2},
        ],
        "contract": {"success": False, "differences": ["column amount: expected double, got string"]},
        "metrics": {"row_count": 100},
        "monitors": [{"name": "volume_drop", "severity": "warning", "success": True, "message": "ok",
                      "observed": 100, "threshold": 50}],
        "history_uri": "file:///lake/_quality_history",
    }
}  # fmt: skip


def test_the_new_shape_is_read_whole() -> None:
    out = normalize(NEW)
    assert out["shape"] == "validation" and out["success"] is False and out["missing"] == []
    assert out["statistics"]["failed_warnings"] == 1
    assert out["expectations"][1]["severity"] == "warning" and out["expectations"][1]["element_count"] is None
    assert out["history_uri"] == "file:///lake/_quality_history"


def test_the_older_shape_degrades_and_says_what_is_missing() -> None:
    report = {"suite_name": "s", "success": True, "evaluated": 4, "successful": 4, "unsuccessful": 0, "failures": []}
    out = normalize({"success": True, "report_uri": "file:///r.json"}, report)
    assert out["shape"] == "legacy" and out["success"] is True
    assert out["statistics"] == {"evaluated": 4, "successful": 4, "failed_errors": 0, "failed_warnings": None}
    assert {"contract", "monitors", "history_uri"} <= set(out["missing"])


def test_no_result_at_all() -> None:
    out = normalize(None)
    assert out["shape"] == "missing" and out["missing"] == ["validation"]


def test_the_page_shows_expectations_contract_and_monitors() -> None:
    section = normalize(NEW)
    page = render({"dag_id": "d", "run_id": "r<1>", "partition": {}, "generated_at": "t", "verdict": "v",
                   "sections": {"validation": section}}, {})  # fmt: skip
    assert "expect_column_values_to_not_be_null" in page and "2.00%" in page
    assert "column amount: expected double, got string" in page and "volume_drop" in page
    assert "r&lt;1&gt;" in page and "r<1>" not in page  # escaped


def test_a_failed_validate_is_read_from_the_report_it_left() -> None:
    # a failed task returns nothing: its report.json holds the body of the ``validation`` key
    report = {"dataset": {"uri": "file:///lake/refine/output"}, "suite_path": "s.json", **NEW["validation"]}
    out = normalize(None, report)
    assert out["shape"] == "validation" and out["success"] is False and "it failed" in out["note"]
    assert out["expectations"][0]["unexpected_count"] == 2 and out["expectations"][0]["examples"] == [None, None]
