"""QualityReportOperator: configuration checks, the extra link, the alert that does not repeat a failure."""

from __future__ import annotations

import pytest

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.report.operators import QualityReportLink, QualityReportOperator, ReportFailureAlert


def _op(**kwargs) -> QualityReportOperator:
    return QualityReportOperator(task_id="report", **kwargs)


def test_defaults_run_after_everything() -> None:
    op = _op(dataset_name="orders")
    assert op.trigger_rule == "all_done"
    assert op.task_ids()["validate"] == "validate"
    assert set(op.template_fields) >= {"tasks", "dataset_name", "curated_root", "storage_root", "psi_threshold"}
    op.validate_config()


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"tasks": {"valdate": "v"}}, "tasks", ["valdate"]),
        ({"tasks": ["ingest"]}, "tasks", ["ingest"]),
        ({"dataset_name": "../orders"}, "dataset_name", "../orders"),
        ({"psi_threshold": "high"}, "psi_threshold", "high"),
        ({"psi_threshold": 0}, "psi_threshold", 0),
        ({"sample_rows": 10}, "sample_rows", 10),
    ],
)
def test_bad_configuration_names_the_field_and_value(kwargs, field, value) -> None:
    with pytest.raises(ConfigurationError) as err:
        _op(**kwargs).validate_config()
    assert err.value.field == field and err.value.value == value


def test_the_extra_link_opens_the_run_report() -> None:
    class Key:  # what the link reads of a TaskInstanceKey
        dag_id, run_id, task_id = "orders_pipeline", "manual__2026-10-09T00:00:00+00:00", "report"

    link = QualityReportLink().get_link(_op(), ti_key=Key())
    assert link.endswith("/quality-reports/dags/orders_pipeline/runs/manual__2026-10-09T00%3A00%3A00%2B00%3A00")
    assert QualityReportLink().name == "Quality report"
    assert [type(x) for x in QualityReportOperator.operator_extra_links] == [QualityReportLink]


def test_the_alert_is_not_repeated_for_an_upstream_failure(monkeypatch) -> None:
    sent = []
    monkeypatch.setattr(
        "dataframe_pipeline.alerts.PipelineAlertNotifier.notify", lambda self, context: sent.append(context)
    )
    alert = ReportFailureAlert()
    alert({"exception": Exception("UpstreamStepFailedError: the run failed before its report: validate (failed)")})
    assert sent == []
    alert({"exception": Exception("OSError: disk full")})
    assert len(sent) == 1
