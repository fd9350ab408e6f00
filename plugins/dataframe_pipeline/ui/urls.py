"""Where the reports are served: one definition for the app, the plugin and the operator link. Pure."""

from __future__ import annotations

from urllib.parse import quote

#: where the plugin mounts the app on the api-server
URL_PREFIX = "/quality-reports"
#: the XCom key under which the report task leaves its result (also when it fails after writing)
REPORT_XCOM_KEY = "quality_report"


def report_path(dag_id: str, run_id: str) -> str:
    """The path of a run's report page (ids percent-encoded: run ids hold ``:`` and ``+``)."""
    return f"{URL_PREFIX}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
