"""The operators with their lake (``storage_root``) on GCS and Azure, reached the way a deployment
reaches them: ``gs://<conn_id>@bucket/prefix`` and ``abfs://<conn_id>@container/prefix`` with an Airflow
connection, against gcp-storage-emulator and Azurite on loopback (``tests/integration/servers.py``).
ingest -> clean -> validate -> store run in-process with a context, as ``test_s3_storage.py`` does on S3.

Connection ids of their own: Airflow caches a filesystem per scheme and connection id for the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.store.tables import read_table
from dataframe_pipeline.validate.operators import ValidateOperator
from tests.integration.servers import AZURITE_ACCOUNT, AZURITE_KEY, azurite_blob, gcs_emulator

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BUCKET = "lake"
CSV = "id,amount\n1,2.5\n2,x\n3\n4,-1\n5,7\n"  # line 4 is short, "x" is no number, -1 fails the suite


@dataclass
class Store:
    """An object store as the test sees it: the lake root with its connection id, and a filesystem."""

    root: str
    fs: Any  # a filesystem of the test's own (not the one under test) to look at the objects


@pytest.fixture(scope="module")
def gcs() -> Iterator[Store]:
    with gcs_emulator() as endpoint:
        from gcsfs.core import GCSFileSystem

        fs = GCSFileSystem(endpoint_url=endpoint, token="anon", project="test")
        fs.mkdir(BUCKET)
        conn = {"conn_type": "google_cloud_platform", "extra": {"endpoint": endpoint, "project": "test"}}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_LAKE_GCS", json.dumps(conn))
            yield Store(f"gs://lake_gcs@{BUCKET}", fs)


@pytest.fixture(scope="module")
def azure() -> Iterator[Store]:
    with azurite_blob() as endpoint:
        import adlfs

        fs = adlfs.AzureBlobFileSystem(
            connection_string=(
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={endpoint};"
            )
        )
        fs.mkdir(BUCKET)
        conn = {"conn_type": "wasb", "login": AZURITE_ACCOUNT, "password": AZURITE_KEY, "extra": {"endpoint": endpoint}}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRFLOW_CONN_LAKE_AZURE", json.dumps(conn))
            yield Store(f"abfs://lake_azure@{BUCKET}", fs)


def _context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="r"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "r",
    }


def _run_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lake: str, curated: str) -> dict[str, dict]:
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    (tmp_path / "orders.csv").write_text(CSV)
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "lake", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0},
         "on_failure": "quarantine"},
    ]}))  # fmt: skip
    ctx = _context()
    results = {"ingest": FileIngestOperator(task_id="ingest", source=str(tmp_path / "orders.csv"), storage_root=lake)}
    results["ingest"] = results["ingest"].execute(ctx)
    results["clean"] = CleanOperator(
        task_id="clean", input_dataset=results["ingest"], storage_root=lake,
        transforms=[{"coerce_types": {"types": {"id": "int", "amount": "float"}}}],
    ).execute(ctx)  # fmt: skip
    results["validate"] = ValidateOperator(
        task_id="validate", input_dataset=results["clean"], suite=str(suite), storage_root=lake
    ).execute(ctx)
    results["store"] = DeltaStoreOperator(
        task_id="store", input_dataset=results["validate"], dataset_name="orders", curated_root=curated,
        storage_root=lake,
    ).execute(ctx)  # fmt: skip
    return results


def _check_lake(store: Store, results: dict[str, dict], lake: str) -> None:
    """Every step's output and quarantine are committed datasets on the object store, named by the
    lake URI with its connection id, and the row accounting adds up from the file to the table."""
    place = "adhoc_airflow/date=2026-10-09"  # <dag_id>/<partition>: an operator without a DAG
    accounting = {step: result["accounting"] for step, result in results.items()}
    assert [(a["rows_in"], a["rows_out"], a["rows_quarantined"]) for a in accounting.values()] == [
        (5, 4, 1), (4, 3, 1), (3, 2, 1), (2, 2, 0),
    ]  # fmt: skip
    assert accounting["ingest"]["quarantined_by_rule"] == {"csv_malformed_row": 1}
    assert accounting["clean"]["quarantined_by_rule"] == {"coerce_types": 1}
    assert accounting["validate"]["quarantined_by_rule"] == {"expectation:expect_column_values_to_be_between:amount": 1}
    fs_lake = lake.replace(f"{lake.split('@', maxsplit=1)[0]}@", "")  # the same place as the test's filesystem names it
    store.fs.invalidate_cache()
    for step in ("ingest", "clean", "validate"):
        assert results[step]["dataset"]["uri"] == f"{lake}/{place}/{step}/output"
        assert results[step]["quarantine"]["uri"] == f"{lake}/{place}/{step}/quarantine"
        for kind in ("output", "quarantine"):
            assert store.fs.exists(f"{fs_lake}/{place}/{step}/{kind}/_manifest.json"), (step, kind)
    assert store.fs.exists(f"{fs_lake}/{place}/validate/report.json")
    validated = DatasetReader(store.fs, f"{fs_lake}/{place}/validate/output").read_pandas()
    assert validated["id"].tolist() == [1, 5]
    quarantined = DatasetReader(store.fs, f"{fs_lake}/{place}/validate/quarantine").read_pandas()
    assert quarantined["rule"].tolist() == ["expectation:expect_column_values_to_be_between:amount"]
    table = results["store"]["table_uri"]
    assert (results["store"]["version"], results["store"]["rows"]) == (0, 2)
    assert sorted(read_table(table).column("id").to_pylist()) == [1, 5]


def test_operators_with_the_lake_on_gcs(gcs: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the curated Delta table stays local: delta-rs lists objects through GCS's XML API, which
    # gcp-storage-emulator does not implement (501; see test_delta_storage.py), so Delta on GCS is untested
    lake = f"{gcs.root}/lake"
    curated = (tmp_path / "curated").as_uri()
    results = _run_pipeline(tmp_path, monkeypatch, lake, curated)
    _check_lake(gcs, results, lake)
    assert results["store"]["table_uri"] == f"{curated}/orders"


def test_operators_with_the_lake_and_the_table_on_azure(
    azure: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, curated = f"{azure.root}/lake", f"{azure.root}/curated"
    results = _run_pipeline(tmp_path, monkeypatch, lake, curated)
    _check_lake(azure, results, lake)
    assert results["store"]["curated_uri"] == "abfs://lake_azure@lake/curated/orders/date=2026-10-09"
    azure.fs.invalidate_cache()
    assert azure.fs.exists(f"{BUCKET}/curated/orders/_delta_log/00000000000000000000.json")
    assert [p.rsplit("/", 1)[-1] for p in azure.fs.ls(f"{BUCKET}/curated/orders") if "date=" in p] == [
        "date=2026-10-09"
    ]


def test_the_quality_reports_drift_reads_the_previous_version_of_a_table_on_azure(
    azure: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's drift section reads the curated table with the connection's credentials, as the
    store step publishes it (delta-rs gets the storage options the connection gives)."""
    from dataframe_pipeline.report.operators import QualityReportOperator
    from dataframe_pipeline.report.reference import previous_partition

    lake, curated = f"{azure.root}/drift-lake", f"{azure.root}/drift-curated"
    results = _run_pipeline(tmp_path, monkeypatch, lake, curated)
    ti = SimpleNamespace(
        xcom_pull=lambda task_ids, default=None: results.get(task_ids, default),
        get_task_states=lambda **_: {},
    )
    context = {**_context(), "ti": ti}
    context["dag_run"] = SimpleNamespace(logical_date=datetime(2026, 10, 10, tzinfo=UTC), run_id="r2")
    report = QualityReportOperator(task_id="report", dataset_name="orders", curated_root=curated, storage_root=lake)
    inputs = report.inputs(context)
    assert inputs.curated_table is not None and inputs.storage_options  # the account and key of the connection
    reference = previous_partition(inputs.curated_table, {"date": "2026-10-10"}, storage_options=inputs.storage_options)
    assert reference.found and reference.partition == {"date": "2026-10-09"} and reference.version == 0
