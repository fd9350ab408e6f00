"""The manifest a store commit carries: what was published, from what, by which code and configuration.
Pure: no Airflow import (the operator collects the upstream results and passes them in)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.provenance import code_version, config_hash

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataframe_pipeline.core.dataset import DatasetRef


def describe_input(task_id: str, result: Any) -> dict[str, Any] | None:
    """What the manifest keeps of one upstream task's result: its dataset (uri, fingerprint, rows), its
    fitted state and its row accounting; None for a task that returned no step result."""
    if not isinstance(result, dict) or not isinstance(result.get("dataset"), dict):
        return None
    dataset = result["dataset"]
    return {
        "task_id": task_id,
        "step": result.get("step"),
        "uri": dataset.get("uri"),
        "fingerprint": dataset.get("fingerprint"),
        "rows": dataset.get("rows"),
        "fitted_uri": result.get("fitted_uri"),
        "accounting": result.get("accounting"),
    }


def validation_of(results: Mapping[str, Any]) -> Any:
    """The validation result among the upstream results: a validate step's ``validation`` key if it
    has one, else its verdict (``success``, ``report_uri``); None without a validate step."""
    for result in results.values():
        if isinstance(result, dict) and result.get("step") == "validate":
            if "validation" in result:
                return result["validation"]
            return {k: result[k] for k in ("success", "report_uri") if k in result}
    return None


def build_manifest(
    *,
    run_id: str,
    dag_id: str,
    task_id: str,
    partition: Mapping[str, Any],
    source: DatasetRef,
    upstream: Mapping[str, Any],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest of one publish (``rows`` and the partition's values are added by the publisher).

    :param source: the dataset published (its fingerprint identifies the input of this publish).
    :param upstream: task id -> the XCom result of every upstream task of the store task.
    :param config: the store step's configuration.
    """
    inputs = [d for task, result in sorted(upstream.items()) if (d := describe_input(task, result)) is not None]
    return {
        "run_id": run_id,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_partition": dict(partition),
        "input_uri": source.uri,
        "input_fingerprint": source.fingerprint,
        "input_rows": source.rows,
        "inputs": inputs,
        "fitted": sorted({i["fitted_uri"] for i in inputs if i["fitted_uri"]}),
        "code_version": code_version(),
        "config": dict(config),
        "config_sha256": config_hash(config),
        "validation": validation_of(upstream),
    }
