"""Where a Delta table lives, in delta-rs terms: :func:`storage_options` turns a lake URI into the plain
URI delta-rs opens and its ``storage_options`` (credentials, endpoint), read from the Airflow connection
named in the URI.

=========================================  ============================================================
lake URI                                    delta-rs
=========================================  ============================================================
``/data/curated/orders``, ``file://...``   the local path, no options
``s3://<conn_id>@bucket/prefix``           ``s3://bucket/prefix``; keys, endpoint and region of the AWS
                                           connection (``AwsBaseHook``: the amazon provider's own
                                           resolution of keys, roles and ``extra.endpoint_url``)
``gs://<conn_id>@bucket/prefix``           ``gs://bucket/prefix``; ``extra.key_path`` /
                                           ``extra.keyfile_dict`` of the connection (the Google
                                           provider's names), ``extra.endpoint`` for an emulator
``abfs://<conn_id>@container/prefix``      ``az://container/prefix``; account = login, key = password
                                           (the Azure provider's names), ``extra.endpoint`` for Azurite
=========================================  ============================================================

A URI without a connection id uses the library's own defaults (environment, instance metadata). The
GCS and Azure connection fields are read in one place, :mod:`dataframe_pipeline.core.objectstore`,
which also builds the lake datasets' gcsfs / adlfs filesystems from them.
Airflow is imported only when a connection is named, so the module itself stays pure.

Tested against loopback servers (``tests/integration/test_delta_storage.py``): S3 on moto needs no
lock and no ``AWS_S3_ALLOW_UNSAFE_RENAME`` (delta-rs 1.x commits with a conditional put); Azure on
Azurite through ``azure_storage_endpoint`` and ``allow_http``. GCS: the options reach an emulator
(``gcs_base_url`` in the key), but delta-rs lists objects through the XML API, which
gcp-storage-emulator does not implement (501), so Delta tables on GCS are untested here.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from dataframe_pipeline.core.objectstore import azure_credentials, gcs_credentials
from dataframe_pipeline.exceptions import ConfigurationError

_URI = re.compile(r"^(?P<scheme>[a-z0-9+.-]+)://(?:(?P<conn>[^@/]+)@)?(?P<rest>.*)$", re.IGNORECASE)
_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "abfs": "az", "abfss": "az", "az": "az"}


def curated_table_uri(curated_root: str | None, dataset_name: str) -> str:
    """The lake URI of a curated table, ``<curated root>/<dataset_name>`` with the root's connection id
    kept (``DATAFRAME_PIPELINE_CURATED_ROOT`` when ``curated_root`` is None): where the store step
    publishes it and where the quality report reads the previous version."""
    from dataframe_pipeline.core import settings
    from dataframe_pipeline.core.operators import lake_path

    return str(lake_path(curated_root or settings.curated_root()) / dataset_name)


def storage_options(uri: str) -> tuple[str, dict[str, str]]:
    """The plain URI delta-rs opens and its storage options, for a lake URI.

    :raises ConfigurationError: (field ``table``) an unknown scheme.
    """
    match = _URI.match(uri)
    if match is None:  # a plain local path
        return uri, {}
    scheme = match["scheme"].lower()
    if scheme == "file":
        return urlsplit(uri).path, {}
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            "table", uri, f"unknown storage scheme {scheme!r}: use a path, s3://, gs:// or abfs://"
        )
    plain = f"{_SCHEMES[scheme]}://{match['rest']}"
    conn_id = match["conn"]
    if conn_id is None:
        return plain, {}
    if _SCHEMES[scheme] == "s3":
        return plain, _s3_options(conn_id)
    if _SCHEMES[scheme] == "gs":
        return plain, _gcs_options(conn_id)
    return plain, _azure_options(conn_id)


def _s3_options(conn_id: str) -> dict[str, str]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    credentials = hook.get_credentials()
    options = {"AWS_ACCESS_KEY_ID": credentials.access_key, "AWS_SECRET_ACCESS_KEY": credentials.secret_key}
    if credentials.token:
        options["AWS_SESSION_TOKEN"] = credentials.token
    config = hook.conn_config
    if config.region_name:
        options["AWS_REGION"] = config.region_name
    endpoint = config.endpoint_url
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def _gcs_options(conn_id: str) -> dict[str, str]:
    creds = gcs_credentials(conn_id)
    if creds.endpoint:
        # object_store's GCS client takes an emulator's URL from the service-account key
        # (``gcs_base_url``) and skips OAuth with ``disable_oauth``
        key = {
            "gcs_base_url": creds.endpoint, "disable_oauth": True,
            "client_email": "", "private_key": "", "private_key_id": "",
        }  # fmt: skip
        return {"google_service_account_key": json.dumps(key)}
    if creds.keyfile:
        return {"google_service_account_key": creds.keyfile}
    if creds.key_path:
        return {"google_service_account": creds.key_path}
    return {}


def _azure_options(conn_id: str) -> dict[str, str]:
    creds = azure_credentials(conn_id)
    options = {"azure_storage_account_name": creds.account}
    if creds.key:
        options["azure_storage_account_key"] = creds.key
    if creds.endpoint:
        options["azure_storage_endpoint"] = creds.endpoint
        if creds.endpoint.startswith("http://"):
            options["allow_http"] = "true"  # object_store's client option, for Azurite
    return options


def table_uri(name_or_uri: str, curated_root: str) -> str:
    """A curated table's lake URI: ``orders`` is ``<curated root>/orders``; a URI or an absolute path
    is taken as it is.

    :raises ConfigurationError: (field ``table``) an empty name or one with ``..``.
    """
    if not isinstance(name_or_uri, str) or not name_or_uri.strip() or ".." in name_or_uri.split("/"):
        raise ConfigurationError("table", name_or_uri, "must be a curated dataset name or a table URI")
    if "://" in name_or_uri or name_or_uri.startswith("/"):
        return name_or_uri
    return f"{curated_root.rstrip('/')}/{name_or_uri}"
