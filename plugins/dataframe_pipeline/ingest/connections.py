"""Airflow connections -> connector configuration. Pure: takes any object with the attributes of an
Airflow ``Connection`` (conn_type, host, schema, login, password, port, extra_dejson).

HTTP connection (``conn_type: http``): ``schema`` is the URL scheme (default https), ``host`` and
``port`` the server; ``extra``:

    auth_type       basic (default when a login is set) | bearer | api_key_header | api_key_query
                    | oauth2_client_credentials; the secret (password, token, key or client
                    secret) is the connection's password, the client id its login
    api_key_name    header or query parameter of the API key (default X-API-Key)
    token_url, scope     OAuth2 client credentials
    headers         extra headers sent with every request
    rate_limit_per_second

SQL connection: ``postgres`` -> postgresql+psycopg, ``mysql`` -> mysql+pymysql, ``sqlite`` -> the
database file in ``host`` (relative paths are under the project); ``extra.sqlalchemy_url`` overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataframe_pipeline.core.settings import PROJECT_DIR
from dataframe_pipeline.exceptions import ConfigurationError

SQL_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def _extra(conn: Any) -> dict[str, Any]:
    return dict(getattr(conn, "extra_dejson", None) or {})


def http_base_url(conn: Any) -> str:
    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id}.host", conn.host, "an HTTP connection needs a host")
    base = conn.host.rstrip("/") if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
    return f"{base}:{conn.port}" if conn.port else base


def http_auth(conn: Any) -> Any:
    """The connector's auth object for an HTTP connection (None: anonymous)."""
    from dataframe_pipeline.ingest.http import auth as hs

    extra = _extra(conn)
    kind = extra.get("auth_type") or ("basic" if conn.login else None)
    name = extra.get("api_key_name", "X-API-Key")
    builders = {
        None: lambda: None,
        "basic": lambda: hs.BasicAuth(conn.login or "", conn.password or ""),
        "bearer": lambda: hs.BearerAuth(conn.password or ""),
        "api_key_header": lambda: hs.ApiKeyAuth(conn.password or "", name=name, location="header"),
        "api_key_query": lambda: hs.ApiKeyAuth(conn.password or "", name=name, location="query"),
        "oauth2_client_credentials": lambda: hs.OAuth2ClientCredentials(
            token_url=extra.get("token_url", ""),
            client_id=conn.login or "",
            client_secret=conn.password or "",
            scope=extra.get("scope"),
        ),
    }
    if kind not in builders:
        raise ConfigurationError(
            f"connection {conn.conn_id}.extra.auth_type", kind, f"must be one of {sorted(k for k in builders if k)}"
        )
    return builders[kind]()


PAGINATIONS = {
    "page_number": "PageNumberPagination",
    "offset": "OffsetPagination",
    "cursor": "CursorPagination",
    "link_header": "LinkHeaderPagination",
    "next_url": "NextUrlPagination",
}


def pagination(config: dict[str, Any] | None) -> Any:
    """``{"type": "cursor", "cursor_path": "next_cursor"}`` -> the connector's pagination object."""
    if config is None:
        return None
    from dataframe_pipeline.ingest.http import pagination as hs

    params = dict(config)
    kind = params.pop("type", None)
    if kind not in PAGINATIONS:
        raise ConfigurationError("pagination.type", kind, f"must be one of {sorted(PAGINATIONS)}")
    try:
        return getattr(hs, PAGINATIONS[kind])(**params)
    except TypeError as err:
        raise ConfigurationError("pagination", config, str(err)) from err


def _connection(conn: Any) -> Any:
    """A connection object, given one or its id (looked up through Airflow)."""
    if not isinstance(conn, str):
        return conn
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn)


def sql_url(conn_id: str) -> str:
    """The SQLAlchemy URL of a database connection, by its id."""
    return sqlalchemy_url(_connection(conn_id))


def http_source(conn: Any, **options: Any) -> Any:
    """An ``HttpSource`` for the connection (or its id); ``options`` are HttpSource fields (pagination as a dict)."""
    from dataframe_pipeline.ingest.http.source import HttpSource

    conn = _connection(conn)
    extra = _extra(conn)
    options = dict(options)
    options["pagination"] = pagination(options.get("pagination"))
    headers = {**(extra.get("headers") or {}), **(options.pop("headers", None) or {})}
    if extra.get("rate_limit_per_second") and "rate_limit_per_second" not in options:
        options["rate_limit_per_second"] = float(extra["rate_limit_per_second"])
    try:
        source = HttpSource(base_url=http_base_url(conn), auth=http_auth(conn), headers=headers or None, **options)
    except TypeError as err:
        raise ConfigurationError("options", sorted(options), str(err)) from err
    source.validate()
    return source


def sqlalchemy_url(conn: Any) -> str:
    """A SQLAlchemy URL (as a string, password included) for a database connection."""
    from sqlalchemy.engine import URL

    extra = _extra(conn)
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        path = Path(conn.host or "")
        if not conn.host:
            raise ConfigurationError(f"connection {conn.conn_id}.host", conn.host, "the SQLite database file")
        return f"sqlite:///{path if path.is_absolute() else PROJECT_DIR / path}"
    driver = SQL_DRIVERS.get(conn.conn_type)
    if driver is None:
        raise ConfigurationError(
            f"connection {conn.conn_id}.conn_type", conn.conn_type, f"supported: {sorted(SQL_DRIVERS)} and sqlite"
        )
    url = URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )
    return url.render_as_string(hide_password=False)
