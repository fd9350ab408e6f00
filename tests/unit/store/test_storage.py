"""Lake URIs to delta-rs URIs and storage options, from Airflow connections given by environment."""

from __future__ import annotations

import json

import pytest

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.store.storage import storage_options, table_uri


def test_local_paths_need_no_options() -> None:
    assert storage_options("/data/curated/orders") == ("/data/curated/orders", {})
    assert storage_options("file:///data/curated/orders") == ("/data/curated/orders", {})
    assert storage_options("s3://bucket/x") == ("s3://bucket/x", {})  # no connection: the library's defaults


def test_s3_connection_gives_keys_endpoint_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}
    conn = {"conn_type": "aws", "login": "AK", "password": "SK", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_MINIO", json.dumps(conn))
    plain, options = storage_options("s3://minio@lake/curated/orders")
    assert plain == "s3://lake/curated/orders"
    assert options == {
        "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip


def test_gcs_and_azure_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_G", json.dumps({"conn_type": "google_cloud_platform", "extra": {"key_path": "/k.json"}})
    )
    monkeypatch.setenv("AIRFLOW_CONN_A", json.dumps({"conn_type": "wasb", "login": "acct", "password": "key"}))
    assert storage_options("gs://g@bucket/t") == ("gs://bucket/t", {"google_service_account": "/k.json"})
    assert storage_options("abfs://a@container/t") == (
        "az://container/t",
        {"azure_storage_account_name": "acct", "azure_storage_account_key": "key"},
    )


def test_unknown_scheme_and_table_names() -> None:
    with pytest.raises(ConfigurationError, match="table='ftp://x/y'"):
        storage_options("ftp://x/y")
    assert table_uri("orders", "s3://c@b/curated/") == "s3://c@b/curated/orders"
    assert table_uri("/abs/t", "s3://c@b") == "/abs/t"
    with pytest.raises(ConfigurationError, match="table="):
        table_uri("../etc", "/x")
