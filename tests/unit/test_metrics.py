"""The samples of a step run (pure), and metrics off when no Pushgateway is configured."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dataframe_pipeline.exceptions import ConfigurationError, ValidationFailedError
from dataframe_pipeline.metrics import METRICS, PREFIX, URL_ENV, push_step_metrics, step_samples

RESULT = {
    "partition": {"path": "date=2026-10-09"},
    "dataset": {"uri": "file:///lake/out"},
    "accounting": {
        "rows_in": 10, "rows_out": 6, "rows_quarantined": 2, "rows_dropped": 2,
        "dropped_by_rule": {"exact_duplicates": 2}, "quarantined_by_rule": {"coerce_types": 2}, "balanced": True,
    },
    "validation": {"success": False, "metrics": {"freshness_seconds": 3600.0}},
}  # fmt: skip


def by_name(samples) -> dict:
    return {(s.name, dict(s.labels).get("rule")): s.value for s in samples}


def test_samples_carry_the_accounting_and_derived_rates() -> None:
    samples = step_samples(
        RESULT, step="validate", partition="date=2026-10-09", duration_seconds=4.0, peak_memory=2**30,
        output_bytes=1234, now=1_800_000_000.0,
    )  # fmt: skip
    got = by_name(samples)
    assert got[("rows_in", None)] == 10
    assert got[("rows_out", None)] == 6
    assert got[("rows_quarantined", None)] == 2
    assert got[("rows_dropped", None)] == 2
    assert got[("rows_dropped_by_rule", "exact_duplicates")] == 2
    assert got[("rows_quarantined_by_rule", "coerce_types")] == 2
    assert got[("quarantine_ratio", None)] == 0.2
    assert got[("rows_per_second", None)] == 2.5
    assert got[("output_bytes", None)] == 1234
    assert got[("peak_memory_bytes", None)] == 2**30
    assert got[("validation_success", None)] == 0
    assert got[("freshness_seconds", None)] == 3600
    assert got[("last_success_timestamp_seconds", None)] == 1_800_000_000
    labels = {(dict(s.labels)["step"], dict(s.labels)["partition"]) for s in samples}
    assert labels == {("validate", "date=2026-10-09")}
    assert {s.name for s in samples} <= set(METRICS)
    assert all(s.full_name.startswith(PREFIX) for s in samples)


def test_an_empty_input_has_no_division_by_zero() -> None:
    empty = {"accounting": {"rows_in": 0, "rows_out": 0, "rows_quarantined": 0, "rows_dropped": 0}}
    got = by_name(step_samples(empty, step="clean", partition="p", duration_seconds=0.0))
    assert got[("quarantine_ratio", None)] == 0
    assert got[("rows_per_second", None)] == 0


def test_a_failed_run_has_a_failure_time_and_a_failed_validation() -> None:
    failed = step_samples(
        None, step="validate", partition="p", duration_seconds=1.0, failed=ValidationFailedError("x"), now=5.0
    )
    assert by_name(failed) == {
        ("duration_seconds", None): 1.0, ("last_failure_timestamp_seconds", None): 5.0,
        ("validation_success", None): 0.0,
    }  # fmt: skip
    other = step_samples(
        None, step="clean", partition="p", duration_seconds=1.0, failed=ConfigurationError("f", 1, "r"), now=5.0
    )
    assert ("validation_success", None) not in by_name(other)


def test_no_gateway_means_no_push(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PIPELINE_METRICS", raising=False)
    task = SimpleNamespace(step="clean", dag_id="d", task_id="t")
    assert push_step_metrics(task, {}, RESULT, started=0.0) == []
