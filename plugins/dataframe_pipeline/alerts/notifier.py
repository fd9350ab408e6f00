"""The Airflow notifier of the pipeline: task failures (sync), missed deadlines (async, in the triggerer),
validation warnings (called by the validate operator)."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from dataframe_pipeline.alerts import channels
from dataframe_pipeline.alerts.message import FINISHED_STATES, Alert, build_alert, failed_warning_monitors

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

log = logging.getLogger(__name__)

DEFAULT_CONN_IDS = "pipeline_alerts"
CONN_IDS_VARIABLE = "pipeline_alert_conn_ids"


def configured_conn_ids() -> list[str]:
    """The alert connections: ``PIPELINE_ALERT_CONN_IDS`` (comma list; ``PIPELINE_ALERT_CONN_ID`` is the
    older single name), else the Variable ``pipeline_alert_conn_ids``, else ``pipeline_alerts``."""
    value = os.environ.get("PIPELINE_ALERT_CONN_IDS") or os.environ.get("PIPELINE_ALERT_CONN_ID")
    if not value:
        try:
            from airflow.sdk import Variable

            value = Variable.get(CONN_IDS_VARIABLE, default=None)
        except Exception:  # no API server to ask (a test, a CLI): the default
            value = None
    return split_ids(value or DEFAULT_CONN_IDS)


def split_ids(value: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def base_url() -> str:
    """The UI's address for links: ``[api] base_url`` (``AIRFLOW__API__BASE_URL``)."""
    try:
        from airflow.sdk.configuration import conf

        return str(conf.get("api", "base_url", fallback="http://localhost:8080"))
    except Exception:  # configuration unreadable: a link to the default address is still a hint
        return os.environ.get("AIRFLOW__API__BASE_URL", "http://localhost:8080")


def upstream_results(context: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(task_id, XCom result)`` of the tasks directly upstream of the context's task (their row
    accounting goes into the alert); nothing where XCom cannot be read."""
    task, ti = context.get("task"), context.get("ti")
    task_ids = sorted(getattr(task, "upstream_task_ids", None) or [])
    xcom_pull = getattr(ti, "xcom_pull", None)
    if not task_ids or xcom_pull is None:
        return []
    try:
        pulled = xcom_pull(task_ids=task_ids)
    except Exception as err:  # an alert without the accounting beats no alert
        log.info("alert: upstream results not readable (%s)", type(err).__name__)
        return []
    values = pulled if isinstance(pulled, list) else [pulled]
    return list(zip(task_ids, values, strict=False))


class PipelineAlertNotifier(BaseNotifier):
    """Log an alert and send it to every configured channel (e-mail, Slack webhook, JSON webhook).

    Use it as ``on_failure_callback`` (it fires once, when the retries are exhausted), as
    ``on_retry_callback``, or as a deadline callback:
    ``AsyncCallback(PipelineAlertNotifier, kwargs={"title": "deadline missed"})``. A deadline of a run that
    has already finished (success or failed) is skipped with a log line: the run told its own story.
    Sending never raises, and no connection secret reaches the log.

    :param title: first words of the alert.
    :param conn_id: the connection(s) to send through, a comma list; default: :func:`configured_conn_ids`.
    :param details: extra lines of the message.
    """

    def __init__(
        self,
        title: str = "task failed",
        conn_id: str | None = None,
        details: list[str] | None = None,
        context: Context | None = None,
    ) -> None:
        super().__init__(context=context)
        self.title = title
        self.conn_id = conn_id
        self.details = details

    def conn_ids(self) -> list[str]:
        return split_ids(self.conn_id) if self.conn_id else configured_conn_ids()

    def build(self, context: Mapping[str, Any]) -> Alert:
        return build_alert(
            context, self.title, base_url=base_url(), upstream=upstream_results(context), details=self.details or ()
        )

    @staticmethod
    def _connection(conn_id: str) -> Any:
        from airflow.sdk import BaseHook

        try:
            return BaseHook.get_connection(conn_id)
        except Exception:  # a missing connection means: log only
            log.info("alert: no connection %r, alert only logged", conn_id)
            return None

    def deliver(self, alert: Alert) -> dict[str, str]:
        """Log ``alert`` and send it through each connection; returns ``{conn_id: outcome}``."""
        log.warning("ALERT %s", alert.text)
        outcomes = {}
        for conn_id in self.conn_ids():
            conn = self._connection(conn_id)
            if conn is None:
                outcomes[conn_id] = "no connection"
                continue
            try:
                outcomes[conn_id] = channels.send(conn, alert)
                log.info("alert sent via connection %s: %s", conn_id, outcomes[conn_id])
            except Exception as err:  # never let alerting fail the callback; the class only (no secret)
                outcomes[conn_id] = f"failed: {type(err).__name__}"
                log.error("alert to connection %s failed: %s", conn_id, type(err).__name__)
        return outcomes

    def skip_reason(self, context: Mapping[str, Any], alert: Alert) -> str | None:
        """Why a deadline alert is not sent: its run has finished (the scheduler marks deadlines of failed
        runs missed too), or the context names no run at all."""
        if context.get("deadline") is None:
            return None
        if alert.run_state in FINISHED_STATES:
            return f"run {alert.dag_id} / {alert.run_id} already {alert.run_state}"
        if not alert.dag_id or not alert.run_id:
            return f"the callback context names no DAG run (keys: {sorted(context)})"
        return None

    def notify(self, context: Context) -> None:
        ctx = dict(context or {})
        alert = self.build(ctx)
        reason = self.skip_reason(ctx, alert)
        if reason:
            log.info("deadline %s passed: no alert, %s", alert.deadline, reason)
            return
        self.deliver(alert)

    async def async_notify(self, context: Context) -> None:
        import asyncio

        await asyncio.to_thread(self.notify, context)


def alert_validation_warnings(context: Mapping[str, Any], result: Mapping[str, Any]) -> Alert | None:
    """One alert for a validation that passed with failed ``warning`` monitors (volume drop, stale data,
    missing-value, duplicate or outlier rates): the run publishes, the team hears of it. The validate
    operator calls this after a green run; ``None`` when every monitor passed. Never raises."""
    try:
        monitors = failed_warning_monitors(result.get("validation"))
        if not monitors:
            return None
        lines = [f"Monitor {m.get('name')} [{m.get('severity')}]: {m.get('message')}" for m in monitors]
        notifier = PipelineAlertNotifier(title="data quality warning", details=lines)
        alert = notifier.build(context)
        alert = dataclasses.replace(alert, accounting={**alert.accounting, **_own_accounting(context, result)})
    except Exception as err:  # a warning alert must not fail a validation that passed
        log.error("validation warning alert not built: %s", type(err).__name__)
        return None
    notifier.deliver(alert)
    return alert


def _own_accounting(context: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    from dataframe_pipeline.alerts.message import accounting_of

    task_id = getattr(context.get("ti"), "task_id", None) or "validate"
    return accounting_of([(task_id, result)])
