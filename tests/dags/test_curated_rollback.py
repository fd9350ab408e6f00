"""The manual rollback DAG: its Params refuse bad input, its task restores the version as a new one."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError

from dataframe_pipeline.store.delta import DeltaPublisher
from dataframe_pipeline.store.tables import history, read_table

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(PROJECT / "dags" / "curated_rollback.py"))
    assert bag.import_errors == {}
    return bag.dags["curated_rollback"]


def given(dag, **values):
    params = copy.deepcopy(dag.params)
    params.update(values)
    return params.validate()


def test_params_are_validated(dag) -> None:
    good = {"table": "orders", "version": 1, "reason": "bad file"}
    assert given(dag, **good) == good
    with pytest.raises(ParamValidationError, match="reason"):
        given(dag, table="orders", version=1)  # no reason given
    for bad in ({"version": -1}, {"version": "x"}, {"table": ""}):
        with pytest.raises(ParamValidationError):
            given(dag, **({"table": "orders", "version": 1, "reason": "x"} | bad))


def test_the_task_rolls_the_table_back(dag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFRAME_PIPELINE_CURATED_ROOT", tmp_path.as_uri())
    for day, ids in (("2026-10-01", [1, 2]), ("2026-10-02", [3])):
        publisher = DeltaPublisher(str(tmp_path / "orders"), {"date": day}, manifest={"run_id": day})
        publisher.write(pd.DataFrame({"id": ids}))
        publisher.commit({})
    run = dag.get_task("rollback").python_callable
    done = run(params={"table": "orders", "version": 0, "reason": "day 2 was wrong"})
    assert done == {"table": f"{tmp_path.as_uri()}/orders", "restored": 0, "version": 2}
    assert read_table(str(tmp_path / "orders")).column("id").to_pylist() == [1, 2]
    assert history(str(tmp_path / "orders"))[0]["manifest"]["rollback"]["reason"] == "day 2 was wrong"
    with pytest.raises(AirflowFailException, match="version=5"):
        run(params={"table": "orders", "version": 5, "reason": "x"})
