"""The OpenLineage events the provider's listener really emits: `airflow dags test` runs each task in
process through the Task SDK's runner, with the listeners, and the file transport writes the events as
JSON Lines, which this test reads.

Airflow runs in a subprocess with its own AIRFLOW_HOME (SQLite), so its configuration is read fresh.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
NAMESPACE = "lineage_test"
HOST = f"file://{socket.gethostname()}"

DAG_FILE = """
import os
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import DAG, chain

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.validate.operators import ValidateOperator

HERE = Path(os.environ["DATAFRAME_PIPELINE_LANDING_ROOT"])

for name in ("good", "bad"):
    with DAG(f"lineage_{name}", schedule="@daily", start_date=datetime(2026, 10, 1, tzinfo=UTC), catchup=False):
        ingest = FileIngestOperator(
            task_id="ingest", source=str(HERE / f"{name}.csv"), shaping={"rename": {"amount": "amt"}}
        )
        clean = CleanOperator(
            task_id="clean", input_dataset=ingest.output, transforms=[{"coerce_types": {"types": {"amt": "float"}}}]
        )
        validate = ValidateOperator(task_id="validate", input_dataset=clean.output, suite=str(HERE / "suite.json"))
        store = DeltaStoreOperator(task_id="store", input_dataset=validate.output, dataset_name=f"orders_{name}")
        chain(ingest, clean, validate, store)
"""

SUITE = {
    "name": "orders",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "severity": "critical"},
        {"type": "expect_column_to_exist", "kwargs": {"column": "amt"}},
    ],
}


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Both DAGs run once with the file transport; the events of each, in the order written."""
    base = tmp_path_factory.mktemp("openlineage")
    home, dags, landing, log = base / "airflow", base / "dags", base / "landing", base / "events.jsonl"
    for folder in (home, dags, landing):
        folder.mkdir()
    (dags / "lineage_dags.py").write_text(DAG_FILE)
    (landing / "good.csv").write_text("id,amount\n1,10\n2,x,y\n3,4.5\n")  # one malformed row: quarantined
    (landing / "bad.csv").write_text("id,amount\n,10\n2,3\n")  # a null id: the suite fails
    (landing / "suite.json").write_text(json.dumps(SUITE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OPENLINEAGE"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__OPENLINEAGE__NAMESPACE=NAMESPACE,
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(log), "append": True}),
        DATAFRAME_PIPELINE_LANDING_ROOT=str(landing),
        DATAFRAME_PIPELINE_STORAGE_ROOT=(base / "lake").as_uri(),
        DATAFRAME_PIPELINE_CURATED_ROOT=(base / "curated").as_uri(),
        PYTHONPATH=os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT)]),
    )

    def airflow(*args: str) -> subprocess.CompletedProcess:
        # not check=True: lineage_bad fails by design; the events say what happened
        return subprocess.run(
            [AIRFLOW, *args], check=False, env=env, cwd=base, capture_output=True, text=True, timeout=300
        )

    migrated = airflow("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    by_dag: dict[str, list[dict]] = {}
    for dag_id in ("lineage_good", "lineage_bad"):
        ran = airflow("dags", "test", dag_id, "2026-10-09")
        written = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        by_dag[dag_id] = [e for e in written if e["job"]["name"].split(".")[0] == dag_id]
        assert by_dag[dag_id], f"no OpenLineage event of {dag_id}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    by_dag["base"] = [{"path": str(base)}]
    return by_dag


def event(events: list[dict], task: str, kind: str) -> dict:
    found = [e for e in events if e["job"]["name"].endswith(f".{task}") and e["eventType"] == kind]
    assert len(found) == 1, f"{kind} events of {task}: {len(found)}"
    return found[0]


def by_name(datasets: list[dict]) -> dict[str, dict]:
    return {d["name"]: d for d in datasets}


def schema(dataset: dict) -> list[str]:
    return [f["name"] for f in dataset["facets"]["schema"]["fields"]]


def test_each_task_emits_start_and_complete_with_its_datasets(events: dict) -> None:
    good, base = events["lineage_good"], events["base"][0]["path"]
    lake = f"{base}/lake/lineage_good/date=2026-10-09"
    for task in ("ingest", "clean", "validate", "store"):
        assert event(good, task, "START")["job"]["namespace"] == NAMESPACE
        event(good, task, "COMPLETE")

    ingest = event(good, "ingest", "COMPLETE")
    assert [(d["namespace"], d["name"]) for d in ingest["inputs"]] == [(HOST, f"{base}/landing/good.csv")]
    outputs = by_name(ingest["outputs"])
    assert list(outputs) == [f"{lake}/ingest/output", f"{lake}/ingest/quarantine"]
    output = outputs[f"{lake}/ingest/output"]
    assert schema(output) == ["id", "amt", "_source_file", "_source_line"]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert output["outputFacets"]["outputStatistics"]["size"] > 0
    amt = output["facets"]["columnLineage"]["fields"]["amt"]["inputFields"]
    assert [(f["name"], f["field"]) for f in amt] == [(f"{base}/landing/good.csv", "amount")]
    run = ingest["run"]["facets"]["dataframePipeline"]
    assert run["accounting"]["rows_in"] == 3
    assert run["accounting"]["rows_quarantined"] == 1
    assert run["partition"]["path"] == "date=2026-10-09"

    clean = event(good, "clean", "COMPLETE")
    assert [d["name"] for d in clean["inputs"]] == [f"{lake}/ingest/output"]
    cleaned = by_name(clean["outputs"])[f"{lake}/clean/output"]
    assert ("amt", "double") in [(f["name"], f["type"]) for f in cleaned["facets"]["schema"]["fields"]]

    store = event(good, "store", "COMPLETE")
    assert [d["name"] for d in store["inputs"]] == [f"{lake}/clean/output"]
    table = by_name(store["outputs"])[f"{base}/curated/orders_good"]
    assert table["namespace"] == HOST
    assert schema(table) == ["id", "amt", "_source_file", "_source_line"]


def test_validation_results_are_data_quality_facets(events: dict) -> None:
    good = event(events["lineage_good"], "validate", "COMPLETE")
    (read,) = good["inputs"]
    assert read["name"].endswith("/lineage_good/date=2026-10-09/clean/output")
    facets = read["inputFacets"]
    assertions = [(a["assertion"], a["column"], a["success"]) for a in facets["dataQualityAssertions"]["assertions"]]
    assert assertions == [("expect_column_values_to_not_be_null", "id", True), ("expect_column_to_exist", "amt", True)]
    assert facets["dataQualityMetrics"]["rowCount"] == 2
    assert facets["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 0

    bad = events["lineage_bad"]
    failed = event(bad, "validate", "FAIL")
    (read,) = failed["inputs"]
    assertions = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert [(a["column"], a["success"], a.get("severity")) for a in assertions] == [
        ("id", False, "error"),  # GX's "critical" (the default) is reported as "error": it blocks publishing
        ("amt", True, "error"),
    ]
    assert read["inputFacets"]["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 1
    assert "ValidationFailedError" in failed["run"]["facets"]["errorMessage"]["message"]
    assert not [e for e in bad if e["job"]["name"].endswith(".store")]  # nothing was published
