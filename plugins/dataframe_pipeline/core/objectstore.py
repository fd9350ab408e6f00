"""How the lake reaches Google Cloud Storage and Azure Blob through an Airflow connection: the one
place that reads a connection's credentials and endpoint, for the datasets between steps (fsspec:
gcsfs, adlfs) and for the curated Delta tables (``store/storage.py`` turns the same fields into
delta-rs options).

=======================================  ===================================================================
lake URI                                 connection fields read
=======================================  ===================================================================
``gs://<conn_id>@bucket/prefix``         ``extra.keyfile_dict`` or ``extra.key_path`` (the Google provider's
                                         names), ``extra.project``, ``extra.endpoint`` for an emulator
``abfs://<conn_id>@container/prefix``    account = ``login`` (or ``extra.account_name``), key = ``password``
                                         (the Azure provider's names), ``extra.endpoint`` for Azurite
=======================================  ===================================================================

Why our own: Airflow's ``ObjectStoragePath`` takes its filesystems from providers, and neither the
Google provider (too heavy for this project: it pulls ray and openai and moves pins) nor the Azure one
is installed. So for these schemes, and only when no provider registers them, :func:`filesystem` builds
gcsfs / adlfs from the connection. S3 stays with the amazon provider's ``ObjectStoragePath`` support.

Pure: Airflow is imported only to read a named connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: URI schemes (as ``ObjectStoragePath.protocol`` says them) -> the store they name
GCS_SCHEMES = ("gs", "gcs")
AZURE_SCHEMES = ("abfs", "abfss", "az")


@dataclass(frozen=True)
class GcsCredentials:
    """What a GCS connection says: a service-account key (JSON text or a file), project, emulator URL."""

    keyfile: str | None = None  # the key's JSON text
    key_path: str | None = None
    project: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True)
class AzureCredentials:
    """What an Azure connection says: the storage account, its key, and an endpoint (Azurite)."""

    account: str
    key: str | None = None
    endpoint: str | None = None


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def gcs_credentials(conn_id: str) -> GcsCredentials:
    extra = _connection(conn_id).extra_dejson
    keyfile = extra.get("keyfile_dict")
    endpoint = extra.get("endpoint")
    return GcsCredentials(
        keyfile=(keyfile if isinstance(keyfile, str) else json.dumps(keyfile)) if keyfile else None,
        key_path=extra.get("key_path") or None,
        project=extra.get("project") or None,
        endpoint=endpoint.rstrip("/") if endpoint else None,
    )


def azure_credentials(conn_id: str) -> AzureCredentials:
    conn = _connection(conn_id)
    extra = conn.extra_dejson
    endpoint = extra.get("endpoint")
    return AzureCredentials(
        account=conn.login or extra.get("account_name", ""),
        key=conn.password or None,
        endpoint=endpoint.rstrip("/") if endpoint else None,
    )


def filesystem(protocol: str, conn_id: str | None) -> AbstractFileSystem:
    """The fsspec filesystem of a GCS or Azure lake URI, from its Airflow connection (none: the
    library's own defaults: environment, metadata server, ``DefaultAzureCredential``).

    :raises ConfigurationError: (field ``storage_root``) a scheme that is neither GCS nor Azure.
    """
    if protocol in GCS_SCHEMES:
        return _gcsfs(gcs_credentials(conn_id) if conn_id else GcsCredentials())
    if protocol in AZURE_SCHEMES:
        if not conn_id:
            import adlfs

            return adlfs.AzureBlobFileSystem(anon=False)
        return _adlfs(azure_credentials(conn_id))
    raise ConfigurationError(
        "storage_root", f"{protocol}://", "no filesystem for this scheme: use file://, s3://, gs:// or abfs://"
    )


def _gcsfs(creds: GcsCredentials) -> AbstractFileSystem:
    # the plain JSON-API client: gcsfs's default class first asks the storage-control gRPC API
    # whether the bucket is hierarchical (``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT``), which emulators do
    # not serve (a 60 s timeout per bucket)
    from gcsfs.core import GCSFileSystem

    auth: Any = None  # gcsfs's ``token``: None is google.auth's defaults
    if creds.endpoint and not (creds.keyfile or creds.key_path):
        auth = "anon"  # an emulator
    elif creds.keyfile:
        auth = json.loads(creds.keyfile)
    elif creds.key_path:
        auth = creds.key_path
    return GCSFileSystem(token=auth, project=creds.project, endpoint_url=creds.endpoint)


def _adlfs(creds: AzureCredentials) -> AbstractFileSystem:
    import adlfs

    if creds.endpoint:  # Azurite or a private endpoint: path-style URLs of the account
        protocol = "http" if creds.endpoint.startswith("http://") else "https"
        connection_string = f"DefaultEndpointsProtocol={protocol};AccountName={creds.account};"
        if creds.key:
            connection_string += f"AccountKey={creds.key};"
        return adlfs.AzureBlobFileSystem(connection_string=f"{connection_string}BlobEndpoint={creds.endpoint};")
    if creds.key:
        return adlfs.AzureBlobFileSystem(account_name=creds.account, account_key=creds.key)
    return adlfs.AzureBlobFileSystem(account_name=creds.account, anon=False)
