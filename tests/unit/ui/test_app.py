"""The reports app: only authenticated users (JWTs signed and validated by Airflow's own auth manager),
no path traversal, a clear 404 for a run without a report."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataframe_pipeline.ui.app import create_app, under_root
from dataframe_pipeline.ui.urls import report_path

DAG = "orders_pipeline"
RUN = "manual__2026-10-09T00:00:00+00:00"  # ':' and '+' in the path


class DictFinder:
    """The report task results of a few runs, as the XCom finder returns them."""

    def __init__(self, reports: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.reports = reports

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        return self.reports.get((dag_id, run_id))

    def runs(self, dag_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return [{**v, "run_id": r} for (d, r), v in self.reports.items() if d == dag_id][:limit]


@pytest.fixture
def auth_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Airflow's configured auth manager (the simple one) with a fresh JWT secret, and a metadata
    database holding only the revoked-token table that token validation reads."""
    from airflow import settings
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
    from airflow.models.revoked_token import RevokedToken
    from sqlalchemy import create_engine
    from sqlalchemy.orm import scoped_session, sessionmaker

    def clear_caches() -> None:  # the signer and the validator are cached per process
        BaseAuthManager._get_token_signer.__func__.cache_clear()
        BaseAuthManager._get_token_validator.__func__.cache_clear()

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
    clear_caches()
    engine = create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    RevokedToken.__table__.create(engine)
    monkeypatch.setattr(settings, "Session", scoped_session(sessionmaker(bind=engine)))
    yield create_auth_manager()
    engine.dispose()
    clear_caches()


def _token(auth_manager, role: str | None = "viewer", **kwargs) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username="ada", role=role), **kwargs)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    folder = tmp_path / "lake" / DAG / "date=2026-10-09" / "report"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<html><body><h1>the report</h1></body></html>")
    (folder / "report.json").write_text('{"verdict": "published"}')
    (tmp_path / "secret.html").write_text("not for you")
    return tmp_path / "lake"


@pytest.fixture
def client(lake: Path, auth_manager) -> TestClient:
    folder = lake / DAG / "date=2026-10-09" / "report"
    reports = {
        (DAG, RUN): {
            "html_uri": f"file://{folder}/report.html",
            "report_uri": f"file://{folder}/report.json",
            "verdict": "published",
        },
        # a result pointing outside the lake (a tampered XCom) must not be served
        (DAG, "evil"): {"html_uri": f"file://{lake}/{DAG}/../../secret.html", "report_uri": "file:///etc/passwd"},
        (DAG, "sneaky"): {"html_uri": f"file://{lake}/../secret.html/report.html"},
    }
    app = create_app(finder=DictFinder(reports), storage_root=lambda: f"file://{lake}")
    return TestClient(app)


def test_no_token_is_refused(client: TestClient) -> None:
    response = client.get(report_path(DAG, RUN).removeprefix("/quality-reports"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    page = client.get(report_path(DAG, RUN).removeprefix("/quality-reports"), headers={"Accept": "text/html"})
    assert page.status_code == 401 and "Log in to Airflow" in page.text and "the report" not in page.text


def test_bad_tokens_are_refused(client: TestClient, auth_manager) -> None:
    from airflow.api_fastapi.auth.tokens import JWTGenerator

    path = report_path(DAG, RUN).removeprefix("/quality-reports")
    assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    expired = _token(auth_manager, expiration_time_in_seconds=-60)
    assert client.get(path, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = JWTGenerator(secret_key=secrets.token_urlsafe(64), valid_for=600, audience="apache-airflow").generate(
        {"sub": "ada", "role": "admin"}
    )  # right claims, another key
    assert client.get(path, headers={"Authorization": f"Bearer {forged}"}).status_code == 403
    client.cookies.set("_token", forged)
    assert client.get(path).status_code == 403


def test_a_revoked_token_is_refused(client: TestClient, auth_manager) -> None:
    token = _token(auth_manager)
    path = report_path(DAG, RUN).removeprefix("/quality-reports")
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    auth_manager.revoke_token(token)  # what logging out does
    assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_a_user_without_a_role_may_not_read_runs(client: TestClient, auth_manager) -> None:
    token = _token(auth_manager, role=None)
    response = client.get(f"/dags/{DAG}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and "may not read" in response.json()["detail"]


def test_good_token_in_header_or_cookie_gets_the_report(client: TestClient, auth_manager) -> None:
    token = _token(auth_manager)
    path = report_path(DAG, RUN).removeprefix("/quality-reports")
    page = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "<h1>the report</h1>" in page.text
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    client.cookies.set("_token", token)  # what the UI's login form sets; an iframe sends only this
    assert client.get(path).status_code == 200
    data = client.get(path, params={"format": "json"})
    assert data.status_code == 200 and data.json() == {"verdict": "published"}
    index = client.get(f"/dags/{DAG}", params={"format": "json"})
    assert [r["run_id"] for r in index.json()["runs"]] == [RUN, "evil", "sneaky"]
    html_index = client.get(f"/dags/{DAG}")
    assert "orders_pipeline/runs/manual__2026-10-09T00%3A00%3A00%2B00%3A00" in html_index.text


def test_a_run_without_a_report_is_a_clear_404(client: TestClient, auth_manager) -> None:
    client.cookies.set("_token", _token(auth_manager))
    response = client.get(f"/dags/{DAG}/runs/manual__2026-10-10T00:00:00+00:00")
    assert response.status_code == 404
    assert "no quality report for run 'manual__2026-10-10T00:00:00+00:00'" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/dags/orders_pipeline/runs/evil",
        "/dags/orders_pipeline/runs/evil?format=json",
        "/dags/orders_pipeline/runs/sneaky",
        "/dags/..%2F..%2F..%2Fetc/runs/passwd",
        "/dags/orders_pipeline/runs/..%2F..%2F..%2Fsecret.html",
    ],
)
def test_no_path_traversal(client: TestClient, auth_manager, path: str) -> None:
    client.cookies.set("_token", _token(auth_manager))
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert "not for you" not in response.text and "root:" not in response.text


def test_dot_segments_are_resolved_by_the_client_and_serve_nothing(client: TestClient, auth_manager) -> None:
    client.cookies.set("_token", _token(auth_manager))
    response = client.get("/dags/orders_pipeline/runs/../../secret.html")  # becomes /dags/secret.html
    assert "not for you" not in response.text and "No run of this DAG" in response.text


def test_under_root() -> None:
    assert under_root("file:///lake/d/date=1/report/report.html", "file:///lake")
    assert not under_root("file:///lake/../etc/report.html", "file:///lake")
    assert not under_root("file:///lakehouse/report.html", "file:///lake")
    assert not under_root("file:///lake/d/passwd", "file:///lake")
    assert not under_root("s3://other/lake/report.html", "s3://bucket/lake")
    assert under_root("s3://bucket/lake/d/report.json", "s3://bucket/lake")
