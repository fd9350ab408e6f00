"""DeltaStoreOperator: the manifest of a commit (inputs from the upstream results, code version,
configuration hash, validation), the asset event, the configuration checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.context import OutletEventAccessors

from dataframe_pipeline.assets import curated_asset
from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core.provenance import config_hash
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.store.tables import history, read_table


class RecordedXComs(SimpleNamespace):
    """The task instance's XCom pull over the results the upstream tasks returned (the one seam)."""

    def xcom_pull(self, task_ids: str):
        return self.results.get(task_ids)


@pytest.fixture(autouse=True)
def landing_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    return tmp_path


def context(results: dict, try_number: int = 1) -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__x"),
        "ti": RecordedXComs(try_number=try_number, results=results),
        "run_id": "scheduled__x",
        "outlet_events": OutletEventAccessors(),
    }


def test_store_records_inputs_code_config_and_validation_and_emits_the_asset_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFRAME_PIPELINE_CODE_VERSION", "abc123")
    (tmp_path / "in.csv").write_text("id,amount\n1,2.5\n2,x\n3,4\n")
    lake, curated = (tmp_path / "lake").as_uri(), (tmp_path / "curated").as_uri()
    with DAG("orders_test", schedule=None):
        ingest = FileIngestOperator(task_id="ingest", source=str(tmp_path / "in.csv"), storage_root=lake)
        clean = CleanOperator(
            task_id="clean", input_dataset=ingest.output, storage_root=lake,
            transforms=[{"coerce_types": {"types": {"id": "int", "amount": "float"}}}],
        )  # fmt: skip
        store = DeltaStoreOperator(
            task_id="store", input_dataset=clean.output, dataset_name="orders", curated_root=curated, storage_root=lake
        )
        validate = EmptyOperator(task_id="validate")  # its result is recorded below, as validate returns it
        ingest >> clean >> validate >> store
    results: dict = {}
    results["ingest"] = ingest.execute(context(results))
    clean.input_dataset = results["ingest"]  # what Airflow resolves the XComArg to
    results["clean"] = clean.execute(context(results))
    verdict = {"success": True, "evaluated": 3}
    results["validate"] = {"step": "validate", "dataset": results["clean"]["dataset"], "validation": verdict}
    store.input_dataset = results["clean"]
    ctx = context(results)
    stored = store.execute(ctx)

    assert stored["version"] == 0
    assert stored["rows"] == 2
    assert stored["table_uri"] == f"{curated}/orders"
    (commit,) = history(stored["table_uri"])
    manifest = commit["manifest"]
    assert manifest["run_id"] == commit["run_id"] == "scheduled__x"
    assert (manifest["dag_id"], manifest["task_id"]) == ("orders_test", "store")
    assert manifest["code_version"] == "abc123"
    assert manifest["config"]["dataset_name"] == "orders"
    assert manifest["config_sha256"] == config_hash(store.config())
    assert manifest["validation"] == {"success": True, "evaluated": 3}
    assert manifest["input_fingerprint"] == results["clean"]["dataset"]["fingerprint"]
    by_task = {i["task_id"]: i for i in manifest["inputs"]}
    assert set(by_task) == {"ingest", "clean", "validate"}  # every task upstream of store, not only the last one
    assert by_task["ingest"]["fingerprint"] == results["ingest"]["dataset"]["fingerprint"]
    assert by_task["clean"]["accounting"]["rows_quarantined"] == 1
    assert manifest["rows"] == 2

    asset = curated_asset("orders", curated)
    assert store.outlets == [asset]
    assert ctx["outlet_events"][asset].extra == {
        "partition": stored["partition"],
        "version": 0,
        "rows": 2,
        "table": f"{curated}/orders",
    }
    assert stored["partition"]["path"] == "date=2026-10-09"
    assert read_table(stored["table_uri"]).column("id").to_pylist() == [1, 3]


def test_a_partition_with_another_schema_fails_without_retry(tmp_path: Path) -> None:
    lake, curated = (tmp_path / "lake").as_uri(), (tmp_path / "curated").as_uri()

    def run(csv: str, day: int):
        (tmp_path / "in.csv").write_text(csv)
        ctx = context({})
        ctx["dag_run"] = SimpleNamespace(logical_date=datetime(2026, 10, day, tzinfo=UTC), run_id=f"r{day}")
        ingested = FileIngestOperator(task_id="ingest", source=str(tmp_path / "in.csv"), storage_root=lake).execute(ctx)
        return DeltaStoreOperator(
            task_id="store", input_dataset=ingested, dataset_name="t", curated_root=curated, storage_root=lake
        ).execute(ctx)

    run("id,name\n1,a\n", 1)
    with pytest.raises(AirflowFailException, match=r"DataContractError: .*added: extra \(string\)"):
        run("id,name,extra\n1,a,b\n", 2)
    assert [c["version"] for c in history(f"{curated}/t")] == [0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("dataset_name", "a/b"), ("subpartition_by", [""]), ("compression", "zip"), ("target_file_size", 0)],
)
def test_configuration_errors_name_the_field(field: str, value) -> None:
    kwargs = {"dataset_name": "t", field: value}
    op = DeltaStoreOperator(task_id="store", input_dataset="file:///x", **kwargs)
    with pytest.raises(ConfigurationError, match=rf"{field}="):
        op.validate_config()
