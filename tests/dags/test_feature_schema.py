"""One feature schema across partitions: orders_training fits once, orders_pipeline applies it every day.

The DAGs' own tasks are run here (templates rendered as Airflow renders them, then execute), without a
scheduler: the training window, then two days of the daily pipeline up to refine. Every day must come out
with the same columns, the same types and the same scaling; fitted on each day alone, they did not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from airflow.dag_processing.dagbag import DagBag

from dataframe_pipeline.core.dataset import DatasetReader, Location
from dataframe_pipeline.core.operators import config_check_context, run_partition

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dags() -> DagBag:
    return DagBag(dag_folder=str(PROJECT / "dags"))


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATAFRAME_PIPELINE_STORAGE_ROOT", (tmp_path / "lake").as_uri())
    monkeypatch.setenv("DATAFRAME_PIPELINE_CURATED_ROOT", (tmp_path / "curated").as_uri())
    return tmp_path


def run_tasks(dag, day: str, params: dict | None = None, until: str = "refine") -> dict[str, dict]:
    """Run the DAG's tasks in order for one logical date, each upstream result passed as Airflow would."""
    logical_date = datetime.fromisoformat(day).replace(tzinfo=UTC)
    results: dict[str, dict] = {}
    for task in dag.topological_sort():
        context = config_check_context(dag) | {
            "params": {**dag.params.dump(), **(params or {})},
            "dag_run": SimpleNamespace(logical_date=logical_date, run_id=f"manual__{day}"),
            "ti": SimpleNamespace(try_number=1),
            "run_id": f"manual__{day}",
            "partition": None,
        }
        run_partition(context)
        copy = task.prepare_for_execution()
        upstream = [results[t] for t in task.upstream_task_ids]
        for name in copy.template_fields:
            if name == "input_dataset":
                copy.input_dataset = upstream[0]
            else:
                setattr(copy, name, copy.render_template(getattr(copy, name), context, dag.get_template_env()))
        results[task.task_id] = copy.execute(context)
        if task.task_id == until:
            break
    return results


def frame(result: dict):
    location = Location.local(result["dataset"]["uri"])
    return DatasetReader(location.fs, location.path).read_pandas()


def test_every_day_gets_the_features_fitted_once(dags: DagBag, lake: Path) -> None:
    trained = run_tasks(
        dags.dags["orders_training"], "2026-10-01", {"first_day": "2026-10-01", "last_day": "2026-10-07"}
    )
    assert trained["ingest"]["files"] == 7  # the window's files
    for step in ("clean", "enrich", "refine"):
        assert (lake / "lake" / "_fitted" / f"orders_{step}_v1" / "fitted.skops").exists(), step

    daily = dags.dags["orders_pipeline"]
    days = {day: frame(run_tasks(daily, day)["refine"]) for day in ("2026-10-09", "2026-10-26")}
    first, second = days.values()
    assert list(first.columns) == list(second.columns)
    assert dict(first.dtypes.astype(str)) == dict(second.dtypes.astype(str))
    assert sum(c.startswith("country_") for c in first.columns) >= 12
    # one scale: amount_scaled is the same linear function of amount on every day
    fits = [np.polyfit(d["amount"], d["amount_scaled"], 1) for d in days.values()]
    np.testing.assert_allclose(fits[0], fits[1], rtol=1e-9)


def test_a_daily_run_before_any_training_fails_saying_what_to_do(dags: DagBag, lake: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match=r"no fitted state .* publish it first"):
        run_tasks(dags.dags["orders_pipeline"], "2026-10-09", until="clean")
