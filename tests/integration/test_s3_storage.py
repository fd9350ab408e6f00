"""Datasets and the curated store on the S3 API (moto in server mode, on loopback), reached the way
the operators reach it: ObjectStoragePath with an Airflow AWS connection, through s3fs (datasets) and
delta-rs (the curated Delta table)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from tests.integration.servers import moto_s3

BUCKET = "lake"


@pytest.fixture(scope="module")
def s3_endpoint():
    # a process of its own: delta-rs (the store step) holds the GIL while it waits for the server
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3

    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _path(uri: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri)


def test_dataset_round_trip_and_atomic_replace_on_s3(s3) -> None:
    target = _path(f"s3://lake_s3@{BUCKET}/ds")
    for n in (5, 3):
        with DatasetWriter(target.fs, target.path, uri=str(target)) as writer:
            writer.write(pd.DataFrame({"a": range(n)}))
            ref = writer.commit()
    assert ref.uri == "s3://lake_s3@lake/ds"
    reader = DatasetReader(target.fs, target.path)
    assert reader.rows == 3
    assert reader.read_pandas()["a"].tolist() == [0, 1, 2]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert "ds/_manifest.json" in keys
    assert len({k.split("/")[1] for k in keys if "attempt=" in k}) == 1  # the old attempt is gone


def _context() -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="r"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": "r",
    }


def test_operators_read_and_write_s3(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="landing/orders.csv", Body=b"id,amount\n1,2.5\n2,x\n3\n")
    root = f"s3://lake_s3@{BUCKET}/work"
    ingested = FileIngestOperator(
        task_id="ingest", source=f"s3://lake_s3@{BUCKET}/landing/orders.csv", storage_root=root
    ).execute(_context())
    assert ingested["accounting"]["rows_in"] == 3
    assert ingested["accounting"]["rows_quarantined"] == 1
    cleaned = CleanOperator(
        task_id="clean", input_dataset=ingested, storage_root=root,
        transforms=[{"coerce_types": {"types": {"id": "int", "amount": "float"}}}],
    ).execute(_context())  # fmt: skip
    assert (cleaned["accounting"]["rows_out"], cleaned["accounting"]["rows_quarantined"]) == (1, 1)
    stored = DeltaStoreOperator(
        task_id="store", input_dataset=cleaned, dataset_name="orders",
        curated_root=f"s3://lake_s3@{BUCKET}/curated", storage_root=root,
    ).execute(_context())  # fmt: skip
    assert stored["curated_uri"] == "s3://lake_s3@lake/curated/orders/date=2026-10-09"
    assert (stored["table_uri"], stored["version"], stored["rows"]) == ("s3://lake_s3@lake/curated/orders", 0, 1)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="curated/")["Contents"]}
    assert "curated/orders/_delta_log/00000000000000000000.json" in keys
    assert {k.rsplit("/", 1)[0] for k in keys if k.endswith(".parquet")} == {"curated/orders/date=2026-10-09"}
