"""GCS and Azure connections to credentials and fsspec filesystems (connections given by environment)."""

from __future__ import annotations

import json

import pytest

from dataframe_pipeline.core.objectstore import (
    AzureCredentials,
    GcsCredentials,
    azure_credentials,
    filesystem,
    gcs_credentials,
)
from dataframe_pipeline.exceptions import ConfigurationError


def test_gcs_connection_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    key = {"type": "service_account", "client_email": "x@y"}
    extra = {"keyfile_dict": key, "project": "p", "endpoint": "http://127.0.0.1:9023/"}
    monkeypatch.setenv("AIRFLOW_CONN_G1", json.dumps({"conn_type": "google_cloud_platform", "extra": extra}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_G2", json.dumps({"conn_type": "google_cloud_platform", "extra": {"key_path": "/k"}})
    )
    assert gcs_credentials("g1") == GcsCredentials(json.dumps(key), None, "p", "http://127.0.0.1:9023")
    assert gcs_credentials("g2") == GcsCredentials(key_path="/k")


def test_azure_connection_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "wasb", "login": "acct", "password": "secret", "extra": {"endpoint": "http://h:1/acct/"}}
    monkeypatch.setenv("AIRFLOW_CONN_A1", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_A2", json.dumps({"conn_type": "wasb", "extra": {"account_name": "other"}}))
    assert azure_credentials("a1") == AzureCredentials("acct", "secret", "http://h:1/acct")
    assert azure_credentials("a2") == AzureCredentials("other")


def test_filesystems_of_an_emulator_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    gcs = {"conn_type": "google_cloud_platform", "extra": {"endpoint": "http://127.0.0.1:9023", "project": "p"}}
    monkeypatch.setenv("AIRFLOW_CONN_GE", json.dumps(gcs))
    azure = {
        "conn_type": "wasb",
        "login": "devstoreaccount1",
        "password": "a2V5",
        "extra": {"endpoint": "http://127.0.0.1:10000/devstoreaccount1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AE", json.dumps(azure))
    fs = filesystem("gs", "ge")
    assert (fs.protocol[0], fs._endpoint, fs.project, fs.credentials.method) == (
        "gs",
        "http://127.0.0.1:9023",
        "p",
        "anon",
    )
    blob = filesystem("abfs", "ae")
    assert blob.connection_string == (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="storage_root='ftp://'"):
        filesystem("ftp", "x")
