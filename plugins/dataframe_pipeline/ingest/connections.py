"""Airflow connections -> connector configuration, through the providers' hooks where they exist.

The operators call :func:`sql_url` and :func:`http_source` with a connection id; :func:`sqlalchemy_url`
and :func:`http_source` also take a connection object the caller already has (the hooks still look
the connection up by its ``conn_id``). Airflow is imported inside the functions, so importing this
module stays cheap and the connectors' logic modules stay free of Airflow.

SQL connection -> SQLAlchemy URL, first match wins:

    extra.sqlalchemy_url   used as given (any dialect SQLAlchemy knows)
    mysql, mariadb         mysql+pymysql, mapped here (see the gap below)
    sqlite                 the provider's ``SqliteHook.get_uri()``; a relative path in ``host`` is under
                           the project directory (``PROJECT_DIR``), not the working directory, so
                           ``data/demo.db`` is one file for the scheduler, the workers and the tests.
                           Extras are SQLite URI parameters (``{"mode": "ro"}``), as for the hook.
    any other type         the hook of the connection's type (``Connection.get_hook()``) when it is a
                           ``DbApiHook`` that builds a URL (``hook.sqlalchemy_url``): ``postgres`` ->
                           ``PostgresHook``, always with psycopg 3 (``postgresql+psycopg``): the SQL
                           source's server-side cursor and type mapping are written for it, so an
                           ``extra.sqlalchemy_scheme`` naming another driver is refused.
                           ``extra.sqlalchemy_query`` adds URL query parameters (the hook's rule);
                           other extras are not part of the hook's URL.

Gap, MySQL/MariaDB: ``apache-airflow-providers-mysql`` requires ``mysqlclient``, which is compiled
against the MySQL client headers (absent on the project's machines, so a fresh install would fail),
and the SQL source streams with PyMySQL's unbuffered cursor; the URL is built here instead.

HTTP connection (``conn_type: http``): the base URL is the provider's ``HttpHook.url_from_endpoint``
(``host``, ``schema`` as the scheme, ``port``; a ``host`` with a scheme is used as it is; DNS SRV
with ``extra.srv_lookup``), except that a connection naming no scheme gets https, not the hook's
http, so credentials are never sent in clear for want of a scheme. ``extra``:

    auth_type       basic (default when a login is set) | bearer | api_key_header | api_key_query
                    | oauth2_client_credentials; the secret (password, token, key or client
                    secret) is the connection's password, the client id its login
    api_key_name    header or query parameter of the API key (default X-API-Key)
    token_url, scope     OAuth2 client credentials
    headers         extra headers sent with every request
    rate_limit_per_second
    srv_lookup      read by the hook, for the base URL

Gap, HTTP: the hook's session (``HttpHook.get_conn``) is a ``requests.Session`` and treats every extra
key it does not know as a header, while the connector is built on httpx: it adds credentials in a
transport after httpx has logged the request, retries with tenacity and rate-limits per host. So the
hook gives the base URL only; auth and headers are read here from the keys above, and any other extra
key (the hook's ``verify``, ``proxies``, ``timeout``..., or a header at the top level) is refused
rather than ignored.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.settings import PROJECT_DIR
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from dataframe_pipeline.ingest.http.source import HttpSource

#: connection types mapped here to PyMySQL (their provider cannot be installed here, see above)
PYMYSQL_TYPES = ("mysql", "mariadb")
#: the PostgreSQL driver the SQL source is written for
POSTGRES_DRIVER = "postgresql+psycopg"
#: spellings of a connection type that Airflow's hooks know under another name
CONN_TYPE_ALIASES = {"postgresql": "postgres"}
#: the ``extra`` keys of an HTTP connection that are read (see the module docstring)
HTTP_EXTRA_KEYS = frozenset(
    {"auth_type", "api_key_name", "token_url", "scope", "headers", "rate_limit_per_second", "srv_lookup"}
)


def connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id`` (metadata database, secrets backend or ``AIRFLOW_CONN_*``)."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def _extra(conn: Any) -> dict[str, Any]:
    return dict(getattr(conn, "extra_dejson", None) or {})


def _hook(conn: Any, hook_params: dict[str, Any] | None = None) -> Any:
    """The provider hook of the connection's type; ConfigurationError when no installed provider has one."""
    from airflow.sdk.exceptions import AirflowException

    if conn.conn_type in CONN_TYPE_ALIASES:
        conn = copy.copy(conn)
        conn.conn_type = CONN_TYPE_ALIASES[conn.conn_type]
    try:
        return conn.get_hook(hook_params=hook_params)
    except (AirflowException, ImportError) as err:
        raise ConfigurationError(
            f"connection {conn.conn_id}.conn_type",
            conn.conn_type,
            f"no usable provider hook ({err}); supported: postgres and sqlite (providers), "
            f"{' and '.join(PYMYSQL_TYPES)} (PyMySQL), or any type with extra.sqlalchemy_url",
        ) from err


# --- SQL ----------------------------------------------------------------------------------------


def sql_url(conn_id: str) -> str:
    """A SQLAlchemy URL (as a string, password included) for the database connection ``conn_id``."""
    return sqlalchemy_url(connection(conn_id))


def sqlalchemy_url(conn: Any) -> str:
    """A SQLAlchemy URL (as a string, password included) for a database connection object."""
    extra = _extra(conn)
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type in PYMYSQL_TYPES:
        return _pymysql_url(conn)
    if conn.conn_type == "sqlite":
        return _sqlite_url(conn)
    return _hook_url(conn, extra)


def _pymysql_url(conn: Any) -> str:
    from sqlalchemy.engine import URL

    url = URL.create(
        "mysql+pymysql",
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )
    return url.render_as_string(hide_password=False)


def _sqlite_url(conn: Any) -> str:
    from sqlalchemy.engine import URL, make_url

    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id}.host", conn.host, "the SQLite database file")
    url = make_url(_hook(conn).get_uri())
    path = Path(url.database or "")
    if not path.is_absolute():
        path = PROJECT_DIR / path
    if not url.query:
        return f"sqlite:///{path}"
    # SQLAlchemy hands URI parameters (mode=ro, ...) to SQLite only in SQLite's URI form; elsewhere
    # it warns and drops them
    query = {**url.query, "uri": "true"}
    return URL.create("sqlite", database=f"file:{path}", query=query).render_as_string(hide_password=False)


def _hook_url(conn: Any, extra: dict[str, Any]) -> str:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    postgres = CONN_TYPE_ALIASES.get(conn.conn_type, conn.conn_type) == "postgres"
    scheme = extra.get("sqlalchemy_scheme")
    if postgres and scheme not in (None, "", POSTGRES_DRIVER):
        raise ConfigurationError(
            f"connection {conn.conn_id}.extra.sqlalchemy_scheme",
            scheme,
            f"the SQL source streams with psycopg 3: leave it out or give {POSTGRES_DRIVER}",
        )
    hook = _hook(conn, {"sqlalchemy_scheme": POSTGRES_DRIVER} if postgres else None)
    if not isinstance(hook, DbApiHook):
        raise ConfigurationError(
            f"connection {conn.conn_id}.conn_type",
            conn.conn_type,
            f"not a database ({type(hook).__name__}); for a database without a provider, give extra.sqlalchemy_url",
        )
    try:
        url = hook.sqlalchemy_url
    except NotImplementedError as err:
        raise ConfigurationError(
            f"connection {conn.conn_id}.conn_type",
            conn.conn_type,
            "its provider's hook builds no SQLAlchemy URL: give one in extra.sqlalchemy_url",
        ) from err
    except (TypeError, ValueError) as err:  # e.g. a sqlalchemy_query that is not an object
        raise ConfigurationError(f"connection {conn.conn_id}.extra", extra, str(err)) from err
    return url.render_as_string(hide_password=False)


# --- HTTP ---------------------------------------------------------------------------------------


def http_base_url(conn: Any) -> str:
    """Scheme, host, port and base path of an HTTP connection, from the provider's ``HttpHook``."""
    from airflow.providers.http.hooks.http import HttpHook

    if not conn.host:
        raise ConfigurationError(f"connection {conn.conn_id}.host", conn.host, "an HTTP connection needs a host")
    base = HttpHook(http_conn_id=conn.conn_id).url_from_endpoint(None).rstrip("/")
    if not conn.schema and "://" not in conn.host:
        base = "https://" + base.removeprefix("http://")  # the hook's default scheme is http
    return base


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


def _check_http_extra(conn: Any, extra: dict[str, Any]) -> None:
    unread = sorted(key for key, value in extra.items() if key not in HTTP_EXTRA_KEYS and value is not None)
    if unread:
        raise ConfigurationError(
            f"connection {conn.conn_id}.extra",
            unread,
            f"not read by the HTTP connector (it reads {sorted(HTTP_EXTRA_KEYS)}; headers go under extra.headers)",
        )


def _rate_limit(conn: Any, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(
            f"connection {conn.conn_id}.extra.rate_limit_per_second", value, "must be a number"
        ) from err


def http_source(conn: Any, **options: Any) -> HttpSource:
    """An ``HttpSource`` for an HTTP connection, by id or as the connection object.

    :param conn: the connection id (or the connection object).
    :param options: HttpSource fields (``pagination`` as a dict, see :func:`pagination`); ``headers``
        are added to the connection's, ``rate_limit_per_second`` replaces the connection's.
    """
    from dataframe_pipeline.ingest.http.source import HttpSource

    if isinstance(conn, str):
        conn = connection(conn)
    extra = _extra(conn)
    _check_http_extra(conn, extra)
    if not isinstance(extra.get("headers") or {}, dict):
        raise ConfigurationError(f"connection {conn.conn_id}.extra.headers", extra["headers"], "must be an object")
    options = dict(options)
    options["pagination"] = pagination(options.get("pagination"))
    headers = {**(extra.get("headers") or {}), **(options.pop("headers", None) or {})}
    if extra.get("rate_limit_per_second") and "rate_limit_per_second" not in options:
        options["rate_limit_per_second"] = _rate_limit(conn, extra["rate_limit_per_second"])
    try:
        source = HttpSource(base_url=http_base_url(conn), auth=http_auth(conn), headers=headers or None, **options)
    except TypeError as err:
        raise ConfigurationError("options", sorted(options), str(err)) from err
    source.validate()
    return source
