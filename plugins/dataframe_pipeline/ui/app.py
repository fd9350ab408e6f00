"""The FastAPI app serving the quality reports, mounted on the api-server by ``plugins/quality_reports.py``.

Routes (under ``/quality-reports``):

- ``GET /dags/{dag_id}``: the runs of a DAG that have a report, newest first (HTML; ``?format=json``);
- ``GET /dags/{dag_id}/runs/{run_id}``: the run's report page (``?format=json``: its ``report.json``).

**Authentication.** Airflow adds none to plugin apps, so every route depends on the api-server's own
:func:`airflow.api_fastapi.core_api.security.get_user`: the JWT of the ``Authorization: Bearer`` header,
else of the ``_token`` cookie the UI's login sets (an iframe request carries only cookies), validated
by the auth manager (signature, expiry, audience, revocation). No token: 401; a bad one: 403. The user
must also be allowed to read the DAG's runs (the auth manager's ``is_authorized_dag``).

**Finding a report.** The report task leaves its result as the XCom ``quality_report`` of its run
(read from the metadata database by DAG and run id, so any run id works); the app serves only the
``report.html`` / ``report.json`` that result names, and only under the storage root. Ids never become
paths, so there is no path to traverse.
"""

from __future__ import annotations

import html
import json
import logging
import posixpath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from dataframe_pipeline.ui.urls import REPORT_XCOM_KEY, report_path

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

REPORT_FILES = ("report.html", "report.json")
#: the page is self-contained: inline styles and data: images only, framed by the Airflow UI only
PAGE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


class ReportFinder(Protocol):
    """Where the reports of a DAG's runs are (the report task's results)."""

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None: ...

    def runs(self, dag_id: str, limit: int = 100) -> list[dict[str, Any]]: ...


class XComReportFinder:
    """Reads the ``quality_report`` XComs from Airflow's metadata database (in the api-server)."""

    def _query(self, dag_id: str, run_id: str | None, limit: int) -> list[dict[str, Any]]:
        from airflow.models.dagrun import DagRun
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        query = (
            select(XComModel, DagRun.run_after)
            .join(DagRun, DagRun.id == XComModel.dag_run_id)
            .where(XComModel.dag_id == dag_id, XComModel.key == REPORT_XCOM_KEY)
        )
        if run_id is not None:
            query = query.where(XComModel.run_id == run_id)
        query = query.order_by(DagRun.run_after.desc()).limit(limit)
        with create_session() as session:
            rows = session.execute(query).all()
            out = []
            for xcom, run_after in rows:
                value = XComModel.deserialize_value(xcom)
                if isinstance(value, str):
                    value = json.loads(value)
                if isinstance(value, dict):
                    out.append({**value, "run_id": xcom.run_id, "task_id": xcom.task_id, "run_after": str(run_after)})
            return out

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        found = self._query(dag_id, run_id, 1)
        return found[0] if found else None

    def runs(self, dag_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._query(dag_id, None, limit)


def under_root(uri: str, root: str) -> bool:
    """Whether ``uri`` names a report file inside ``root`` (same scheme and bucket, no ``..`` escape,
    symlinks resolved on local disks)."""
    import os

    target, base = urlsplit(uri), urlsplit(root)
    if (target.scheme or "file") != (base.scheme or "file") or target.netloc != base.netloc:
        return False
    if posixpath.basename(target.path) not in REPORT_FILES:
        return False
    if (target.scheme or "file") == "file":
        path, top = os.path.realpath(target.path), os.path.realpath(base.path)
    else:
        path, top = posixpath.normpath(target.path), posixpath.normpath(base.path)
    return path.startswith(top.rstrip("/") + "/")


def read_uri(uri: str) -> bytes:
    from dataframe_pipeline.core.operators import lake_path

    return lake_path(uri).read_bytes()


def authorized_user() -> Callable[..., Any]:
    """A dependency: the api-server's own authentication (:func:`get_user`: the bearer header, else the
    ``_token`` cookie), then read access to the DAG's runs."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import get_user

    def dependency(request: Request, user: Any = Depends(get_user)) -> Any:  # noqa: B008
        dag_id = request.path_params.get("dag_id")
        allowed = get_auth_manager().is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
        )
        if not allowed:
            raise HTTPException(403, f"user {user.get_name()!r} may not read the runs of DAG {dag_id!r}")
        return user

    return dependency


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    style = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2933}td,th{padding:.2rem .6rem}"
    text = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    text += f"<style>{style}</style></head><body>{body}</body></html>"
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY})


def create_app(
    finder: ReportFinder | None = None,
    storage_root: Callable[[], str] | None = None,
    reader: Callable[[str], bytes] = read_uri,
) -> FastAPI:
    """The app; ``finder``, ``storage_root`` and ``reader`` are seams for tests (defaults: XCom in the
    metadata database, ``DATAFRAME_PIPELINE_STORAGE_ROOT``, Airflow's object storage)."""
    from dataframe_pipeline.core import settings

    finder = finder or XComReportFinder()
    root = storage_root or settings.storage_root
    app = FastAPI(title="Quality reports", docs_url=None, redoc_url=None, openapi_url=None)
    user = Depends(authorized_user())

    app.add_exception_handler(HTTPException, _error)  # type: ignore[arg-type]

    def _report(dag_id: str, run_id: str) -> dict[str, Any]:
        found = finder.run(dag_id, run_id)
        if not found:
            raise HTTPException(
                404,
                f"no quality report for run {run_id!r} of DAG {dag_id!r} yet: its report task has not "
                "finished, or the DAG has no report task",
            )
        return found

    def _read(uri: str | None) -> bytes:
        if not uri or not under_root(uri, root()):
            log.warning("refused to serve %r: not a report file under the storage root %s", uri, root())
            raise HTTPException(404, "the report's location is not a report file under the storage root")
        try:
            return reader(uri)
        except FileNotFoundError as err:
            raise HTTPException(404, f"the report file {uri} is gone") from err

    @app.get("/dags/{dag_id}/runs/{run_id:path}", dependencies=[user])
    def run_report(dag_id: str, run_id: str, format: str = Query("html", pattern="^(html|json)$")) -> Response:
        found = _report(dag_id, run_id)
        if format == "json":
            return Response(_read(found.get("report_uri")), media_type="application/json")
        page = _read(found.get("html_uri"))
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})

    @app.get("/dags/{dag_id}", dependencies=[user])
    def dag_reports(dag_id: str, format: str = Query("html", pattern="^(html|json)$")) -> Response:
        runs = [
            {k: r.get(k) for k in ("run_id", "run_after", "verdict", "drifted_columns", "partition")}
            for r in finder.runs(dag_id)
        ]
        if format == "json":
            return JSONResponse({"dag_id": dag_id, "runs": runs})
        return _index_page(dag_id, runs)

    return app


async def _error(request: Request, exc: HTTPException) -> Response:
    """Errors as JSON for API clients, as a short page for a browser (or the UI's iframe)."""
    if request.query_params.get("format") == "json" or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    message = html.escape(str(exc.detail))
    hint = " Log in to Airflow first." if exc.status_code in (401, 403) else ""
    return _page("Quality report", f"<h1>{exc.status_code}</h1><p>{message}.{hint}</p>", exc.status_code)


def _index_page(dag_id: str, runs: list[dict[str, Any]]) -> HTMLResponse:
    rows = "".join(
        f"<tr><td><a href='{html.escape(_relative(dag_id, r['run_id']))}'>{html.escape(r['run_id'])}</a></td>"
        f"<td>{html.escape(str(r.get('partition') or ''))}</td><td>{html.escape(str(r.get('verdict')))}</td>"
        f"<td>{html.escape(', '.join(r.get('drifted_columns') or []) or '-')}</td></tr>"
        for r in runs
    )
    body = f"<h1>Quality reports of {html.escape(dag_id)}</h1>"
    body += (
        f"<table><tr><th>run</th><th>partition</th><th>verdict</th><th>drifted</th></tr>{rows}</table>"
        if runs
        else "<p>No run of this DAG has a quality report yet.</p>"
    )
    return _page(f"Quality reports of {dag_id}", body)


def _relative(dag_id: str, run_id: str) -> str:
    """A run's report relative to the DAG's index page (``<dag id>/runs/<run id>``): any mount prefix works."""
    return report_path(dag_id, run_id).split("/dags/", 1)[1]
