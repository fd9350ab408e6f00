"""Airflow connections -> connector configuration, with connections defined as a deployment defines
them (``AIRFLOW_CONN_*``, JSON or URI) and read end to end: PostgreSQL and MariaDB on loopback,
SQLite in a file, an HTTP API on loopback (pytest-httpserver).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
import yaml
from airflow.sdk import BaseHook
from pytest_httpserver import HTTPServer
from werkzeug import Response

from dataframe_pipeline.core.settings import PROJECT_DIR
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.connections import http_source, sql_url, sqlalchemy_url
from dataframe_pipeline.ingest.http.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from dataframe_pipeline.ingest.http.reader import HttpReader
from dataframe_pipeline.ingest.sql.reader import SqlReader
from dataframe_pipeline.ingest.sql.source import SqlSource, safe_url
from tests.conftest import require_service

if TYPE_CHECKING:
    from collections.abc import Iterator

    from werkzeug import Request

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-VALUE-42"
ROWS = [(1, "one"), (2, "two é"), (3, None)]
PG = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
MARIADB = {"conn_type": "mysql", "host": "127.0.0.1", "port": 3306, "login": "root", "schema": "test"}


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any] | str) -> str:
    """Define the connection as a deployment does, in an ``AIRFLOW_CONN_<ID>`` variable (JSON or URI)."""
    value = conn if isinstance(conn, str) else json.dumps(conn)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return conn_id


# --- SQL: databases -----------------------------------------------------------------------------


@functools.cache
def server_problem(url: str) -> str | None:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        return f"{safe_url(url)} not reachable: {exc.orig}"
    finally:
        engine.dispose()
    return None


def create_table(url: str, table: str, schema: str | None = None) -> None:
    metadata = sa.MetaData(schema=schema)
    events = sa.Table(
        table,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(20)),
    )
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(events.insert(), [{"id": i, "name": name} for i, name in ROWS])
    finally:
        engine.dispose()


def read_rows(url: str, table: str, schema: str | None = None) -> list[tuple[Any, ...]]:
    """The table read end to end by the SQL source (streaming reader, batches of 2 rows)."""
    with SqlReader(SqlSource(url, table=table, schema=schema, batch_rows=2)) as reader:
        batches = list(reader.batches())
    return [(row["id"], row["name"]) for batch in batches for row in batch.table.to_pylist()]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A schema of its own in the test database, dropped afterwards."""
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    problem = server_problem(url)
    require_service(problem is None, problem or "")
    schema = f"conns_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A database of its own on the MariaDB server, dropped afterwards."""
    url = "mysql+pymysql://root@127.0.0.1:3306/test"
    problem = server_problem(url)
    require_service(problem is None, problem or "")
    database = f"conns_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database} CHARACTER SET utf8mb4"))
    try:
        yield database
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE {database}"))
        engine.dispose()


# --- SQL: PostgreSQL through PostgresHook ------------------------------------------------------


@pytest.mark.parametrize(
    "conn",
    [
        pytest.param(PG, id="json"),
        pytest.param("postgresql://postgres@127.0.0.1:5432/test", id="uri"),
        pytest.param({**PG, "conn_type": "postgresql"}, id="postgresql-alias"),
        pytest.param({**PG, "extra": {"sqlalchemy_scheme": "postgresql+psycopg"}}, id="scheme-given"),
    ],
)
def test_postgres_connection_reads_through_the_hooks_url_with_psycopg3(
    conn: dict[str, Any] | str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sql_url(define(monkeypatch, "pg_src", conn))
    assert url == "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    create_table(url, "events", pg_schema)
    assert read_rows(url, "events", pg_schema) == ROWS


def test_postgres_sqlalchemy_query_reaches_the_server(pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {**PG, "extra": {"sqlalchemy_query": {"application_name": "pipeline-ingest"}}}
    url = sql_url(define(monkeypatch, "pg_src", conn))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            assert db.execute(sa.text("SELECT current_setting('application_name')")).scalar() == "pipeline-ingest"
    finally:
        engine.dispose()


def test_postgres_credentials_are_escaped_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss:/w?#%"
    url = sql_url(define(monkeypatch, "pg_src", {**PG, "login": "rea der", "password": password}))
    parsed = sa.engine.make_url(url)
    assert (parsed.drivername, parsed.username, parsed.password, parsed.database) == (
        "postgresql+psycopg", "rea der", password, "test"
    )  # fmt: skip


@pytest.mark.parametrize("scheme", ["postgresql+psycopg2", "postgresql", "postgresql+asyncpg"])
def test_postgres_other_driver_is_refused_naming_the_field(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = define(monkeypatch, "pg_src", {**PG, "extra": {"sqlalchemy_scheme": scheme}})
    with pytest.raises(ConfigurationError) as info:
        sql_url(conn_id)
    assert (info.value.field, info.value.value) == ("connection pg_src.extra.sqlalchemy_scheme", scheme)


def test_postgres_sqlalchemy_query_that_is_not_an_object_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn_id = define(monkeypatch, "pg_src", {**PG, "extra": {"sqlalchemy_query": "sslmode=require"}})
    with pytest.raises(ConfigurationError, match="sqlalchemy_query") as info:
        sql_url(conn_id)
    assert info.value.field == "connection pg_src.extra"


# --- SQL: MariaDB through the project's PyMySQL mapping --------------------------------------


@pytest.mark.parametrize("conn_type", ["mysql", "mariadb"])
def test_mysql_and_mariadb_connections_read_with_pymysql(
    conn_type: str, mariadb_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = define(monkeypatch, "maria_src", {**MARIADB, "conn_type": conn_type, "schema": mariadb_database})
    url = sql_url(conn_id)
    assert url == f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_database}"
    create_table(url, "events")
    assert read_rows(url, "events") == ROWS


# --- SQL: SQLite through SqliteHook -----------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "dir with space" / "src.db"
    path.parent.mkdir()
    create_table(f"sqlite:///{path}", "events")
    return path


def test_sqlite_absolute_path(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sql_url(define(monkeypatch, "lite", {"conn_type": "sqlite", "host": str(sqlite_db)}))
    assert url == f"sqlite:///{sqlite_db}"
    assert read_rows(url, "events") == ROWS


def test_sqlite_relative_path_is_under_the_project_not_the_working_directory(
    sqlite_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relative = os.path.relpath(sqlite_db, PROJECT_DIR)
    assert not Path(relative).is_absolute()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the same relative path from here names no file
    url = sql_url(define(monkeypatch, "lite", {"conn_type": "sqlite", "host": relative}))
    assert url == f"sqlite:///{PROJECT_DIR / relative}"
    assert read_rows(url, "events") == ROWS


def test_demo_db_of_the_settings_file_is_the_projects_data_demo_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = yaml.safe_load((PROJECT_DIR / "airflow_settings.yaml").read_text())
    (demo,) = [c for c in settings["airflow"]["connections"] if c["conn_id"] == "demo_db"]
    monkeypatch.chdir(tmp_path)
    conn_id = define(monkeypatch, "demo_db", {"conn_type": demo["conn_type"], "host": demo["conn_host"]})
    assert sql_url(conn_id) == f"sqlite:///{PROJECT_DIR / 'data' / 'demo.db'}"


def test_sqlite_extras_are_sqlite_uri_parameters(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = define(monkeypatch, "lite", {"conn_type": "sqlite", "host": str(sqlite_db), "extra": {"mode": "ro"}})
    url = sql_url(conn_id)
    assert read_rows(url, "events") == ROWS
    engine = sa.create_engine(url)
    try:
        with pytest.raises(sa.exc.OperationalError, match="readonly"), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO events VALUES (4, 'four')"))
    finally:
        engine.dispose()
    with sqlite3.connect(sqlite_db) as con:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_sqlite_without_a_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        sql_url(define(monkeypatch, "lite", {"conn_type": "sqlite"}))
    assert info.value.field == "connection lite.host"


# --- SQL: overrides, unsupported types, connection objects ----------------------------------


def test_extra_sqlalchemy_url_overrides_the_type(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {**PG, "extra": {"sqlalchemy_url": f"sqlite:///{sqlite_db}"}}
    url = sql_url(define(monkeypatch, "over", conn))
    assert url == f"sqlite:///{sqlite_db}"
    assert read_rows(url, "events") == ROWS


@pytest.mark.parametrize(
    ("conn_type", "problem"),
    [("oracle", "no usable provider hook"), ("http", "not a database"), ("aws", "not a database")],
)
def test_types_without_a_database_hook_name_the_type(
    conn_type: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = define(monkeypatch, "odd", {"conn_type": conn_type, "host": "db.example.com"})
    with pytest.raises(ConfigurationError, match=problem) as info:
        sql_url(conn_id)
    assert (info.value.field, info.value.value) == ("connection odd.conn_type", conn_type)
    assert "extra.sqlalchemy_url" in str(info.value)


def test_connection_object_form_gives_the_same_url(sqlite_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id, conn in [("lite", {"conn_type": "sqlite", "host": str(sqlite_db)}), ("pg_src", PG), ("m", MARIADB)]:
        define(monkeypatch, conn_id, conn)
        assert sqlalchemy_url(BaseHook.get_connection(conn_id)) == sql_url(conn_id)


# --- HTTP -------------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        ({"conn_type": "http", "host": "127.0.0.1", "schema": "http", "port": 8080}, "http://127.0.0.1:8080"),
        ({"conn_type": "http", "host": "api.example.com", "schema": "https"}, "https://api.example.com"),
        # no scheme: https, not the hook's http, so credentials never travel in clear by omission
        ({"conn_type": "http", "host": "api.example.com"}, "https://api.example.com"),
        ({"conn_type": "http", "host": "api.example.com", "port": 8443}, "https://api.example.com:8443"),
        ({"conn_type": "http", "host": "http://127.0.0.1:9000/v1/"}, "http://127.0.0.1:9000/v1"),
        # the URI form names the scheme in conn_type, which the hook does not read
        ("https://api.example.com", "https://api.example.com"),
    ],
)
def test_base_url_from_host_schema_and_port(
    conn: dict[str, Any] | str, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = http_source(define(monkeypatch, "api", conn), endpoint="items")
    assert source.base_url == base_url
    assert source.url() == f"{base_url}/items"


AUTHS: dict[str, tuple[dict[str, Any], Any]] = {
    "basic": ({"login": "alice", "password": SECRET}, lambda r: r.authorization.password == SECRET),
    "bearer": (
        {"password": SECRET, "extra": {"auth_type": "bearer"}},
        lambda r: r.headers.get("Authorization") == f"Bearer {SECRET}",
    ),
    "api_key_header": (
        {"password": SECRET, "extra": {"auth_type": "api_key_header", "api_key_name": "X-Token"}},
        lambda r: r.headers.get("X-Token") == SECRET,
    ),
    "api_key_query": (
        {"password": SECRET, "extra": {"auth_type": "api_key_query", "api_key_name": "key"}},
        lambda r: r.args.get("key") == SECRET,
    ),
    "oauth2_client_credentials": (
        {"login": "client", "password": SECRET, "extra": {"auth_type": "oauth2_client_credentials", "scope": "read"}},
        lambda r: r.headers.get("Authorization") == "Bearer tok-1",
    ),
}
AUTH_TYPES = {
    "basic": BasicAuth,
    "bearer": BearerAuth,
    "api_key_header": ApiKeyAuth,
    "api_key_query": ApiKeyAuth,
    "oauth2_client_credentials": OAuth2ClientCredentials,
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_http_connection_reads_an_api_end_to_end(
    kind: str, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields, accepts = AUTHS[kind]

    def token(request: Request) -> Response:
        ok = request.authorization is not None and request.authorization.password == SECRET
        ok = ok and request.form.get("scope") == "read"
        return json_response(
            {"access_token": "tok-1", "expires_in": 3600} if ok else {"error": "no"}, 200 if ok else 401
        )

    def items(request: Request) -> Response:
        if not accepts(request) or request.headers.get("X-Tenant") != "acme":
            return json_response({"message": "unauthorized"}, 401)
        cursor = int(request.args.get("cursor", "0"))
        return json_response({"data": [{"id": cursor}], "next": cursor + 1 if cursor < 2 else None})

    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(token)
    httpserver.expect_request("/api/items").respond_with_handler(items)
    extra = {**fields.get("extra", {}), "headers": {"X-Tenant": "acme"}, "rate_limit_per_second": "50"}
    if kind == "oauth2_client_credentials":
        extra["token_url"] = httpserver.url_for("/oauth/token")
    conn = {
        "conn_type": "http", "host": "127.0.0.1", "port": httpserver.port, "schema": "http",
        **{k: v for k, v in fields.items() if k != "extra"}, "extra": extra,
    }  # fmt: skip
    source = http_source(
        define(monkeypatch, "api", conn),
        endpoint="api/items",
        records_path="data",
        pagination={"type": "cursor", "cursor_path": "next"},
    )
    assert isinstance(source.auth, AUTH_TYPES[kind])
    assert source.rate_limit_per_second == 50.0
    reader = HttpReader(source)
    ids = [row["id"] for batch in reader.batches() for row in batch.table.to_pylist()]
    assert ids == [0, 1, 2]
    assert SECRET not in repr(source)


def test_http_options_add_headers_and_replace_the_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "http",
        "host": "api.example.com",
        "extra": {"headers": {"A": "1"}, "rate_limit_per_second": 2},
    }
    source = http_source(define(monkeypatch, "api", conn), headers={"B": "2"}, rate_limit_per_second=9.0)
    assert (source.headers, source.rate_limit_per_second) == ({"A": "1", "B": "2"}, 9.0)


def test_http_connection_object_form_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    define(monkeypatch, "api", {"conn_type": "http", "host": "api.example.com", "password": SECRET,
                                "extra": {"auth_type": "bearer"}})  # fmt: skip
    by_object = http_source(BaseHook.get_connection("api"), endpoint="x")
    assert (by_object.url(), by_object.auth) == (http_source("api", endpoint="x").url(), BearerAuth(SECRET))


@pytest.mark.parametrize(
    ("extra", "field", "value"),
    [
        ({"verify": False}, "connection api.extra", ["verify"]),  # the hook's session option
        ({"X-Api-Version": "2", "timeout": 5}, "connection api.extra", ["X-Api-Version", "timeout"]),
        ({"auth_type": "digest"}, "connection api.extra.auth_type", "digest"),
        ({"headers": ["X-A: 1"]}, "connection api.extra.headers", ["X-A: 1"]),
        ({"rate_limit_per_second": "fast"}, "connection api.extra.rate_limit_per_second", "fast"),
    ],
)
def test_http_extras_the_connector_does_not_read_are_refused(
    extra: dict[str, Any], field: str, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "http", "host": "api.example.com", "password": SECRET, "extra": extra}
    with pytest.raises(ConfigurationError) as info:
        http_source(define(monkeypatch, "api", conn))
    assert (info.value.field, info.value.value) == (field, value)
    assert SECRET not in str(info.value)


def test_http_connection_without_host_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as info:
        http_source(define(monkeypatch, "api", {"conn_type": "http", "schema": "https"}))
    assert info.value.field == "connection api.host"
