"""Airflow plugin: each run's quality report in the Airflow UI.

- ``fastapi_apps``: the reports app (``dataframe_pipeline/ui/app.py``) mounted on the api-server at
  ``/quality-reports``; it checks the user's JWT itself (Airflow adds no authentication to plugin apps);
- ``external_views``: a "Quality report" tab on every DAG run's page (an iframe of the run's report);
- the report task's "Quality report" extra link is declared by ``QualityReportOperator`` itself.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dataframe_pipeline.ui.urls import URL_PREFIX


def _base_path() -> str:
    """The path part of ``[api] base_url`` (Airflow served under a prefix), without a trailing slash."""
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def _app():
    from dataframe_pipeline.ui.app import create_app

    return create_app()


class QualityReportsPlugin(AirflowPlugin):
    """Serves the quality reports and links them from the DAG run page."""

    name = "quality_reports"
    fastapi_apps = [{"app": _app(), "url_prefix": URL_PREFIX, "name": "Quality reports"}]
    external_views = [
        {
            "name": "Quality report",
            "href": _base_path() + URL_PREFIX + "/dags/{DAG_ID}/runs/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "quality_report",
            "icon": None,
        }
    ]
