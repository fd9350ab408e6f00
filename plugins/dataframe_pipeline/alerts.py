"""Alerting: one notifier for task failures (sync) and missed deadlines (async, in the triggerer).

The alert is always written to the log; when the Airflow connection (default ``pipeline_alerts``, an
HTTP connection) has a host, it is also POSTed there as JSON (Slack-compatible ``text`` field plus
structured fields). Sending never raises: a broken webhook must not turn a task failure into a
different failure, and the connection's password or token never reaches the log.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = os.environ.get("PIPELINE_ALERT_CONN_ID", "pipeline_alerts")


def alert_payload(context: dict[str, Any], title: str) -> dict[str, Any]:
    """The JSON body of an alert, from whatever the callback context offers."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    payload = {
        "title": title,
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or context.get("dag_id"),
        "run_id": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None) or context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "state": str(getattr(ti, "state", "") or context.get("state") or "") or None,
        "exception": str(context["exception"])[:2000] if context.get("exception") else None,
        "deadline": str(context.get("deadline")) if context.get("deadline") else None,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    where = " / ".join(str(payload[k]) for k in ("dag_id", "run_id", "task_id") if k in payload)
    payload["text"] = f"[dataframe-pipeline] {title}: {where}" + (
        f" - {payload['exception']}" if "exception" in payload else ""
    )
    return payload


def _webhook_url(conn: Any) -> str | None:
    if not conn or not conn.host:
        return None
    host = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
    if conn.port:
        host = f"{host.rstrip('/')}:{conn.port}"
    endpoint = (conn.extra_dejson or {}).get("endpoint", "")
    return host.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10) -> int:
    """POST ``payload`` as JSON; returns the HTTP status."""
    req = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status


class PipelineAlertNotifier(BaseNotifier):
    """Log an alert and POST it to the webhook of an HTTP connection, if one is configured.

    Use it as ``on_failure_callback`` (sync) or as a deadline callback:
    ``AsyncCallback(PipelineAlertNotifier, kwargs={"title": "deadline missed"})``.

    :param title: first words of the alert.
    :param conn_id: Airflow HTTP connection with the webhook (host, optional ``endpoint`` in extra,
        optional password sent as a bearer token).
    """

    def __init__(
        self, title: str = "task failed", conn_id: str = DEFAULT_CONN_ID, context: Context | None = None
    ) -> None:
        super().__init__(context=context)
        self.title = title
        self.conn_id = conn_id

    def _send(self, context: dict[str, Any], conn: Any) -> None:
        payload = alert_payload(context, self.title)
        log.warning("ALERT %s", payload["text"])
        url = _webhook_url(conn)
        if url is None:
            return
        headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
        try:
            status = post_json(url, payload, headers)
            log.info("alert sent to connection %s (HTTP %s)", self.conn_id, status)
        except Exception as err:  # never let alerting fail the callback
            log.error("alert to connection %s failed: %s", self.conn_id, type(err).__name__)

    @staticmethod
    def _connection(conn_id: str) -> Any:
        from airflow.sdk import BaseHook

        try:
            return BaseHook.get_connection(conn_id)
        except Exception:  # a missing connection means: log only
            log.info("no connection %r: alert is only logged", conn_id)
            return None

    def notify(self, context: Context) -> None:
        self._send(dict(context), self._connection(self.conn_id))

    async def async_notify(self, context: Context) -> None:
        import asyncio

        conn = await asyncio.to_thread(self._connection, self.conn_id)
        await asyncio.to_thread(self._send, dict(context or {}), conn)
