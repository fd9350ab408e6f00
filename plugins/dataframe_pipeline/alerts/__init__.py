"""Alerting: one notifier for task failures (in the task), missed deadlines (in the triggerer) and
validation warnings, sent to every configured channel (e-mail over SMTP, a Slack webhook, a JSON webhook),
each an Airflow connection.

- :mod:`~dataframe_pipeline.alerts.message`: what an alert says (pure logic);
- :mod:`~dataframe_pipeline.alerts.channels`: how it is sent, by the connection's ``conn_type``;
- :mod:`~dataframe_pipeline.alerts.notifier`: the Airflow notifier and which connections it uses.
"""

from __future__ import annotations

from dataframe_pipeline.alerts.channels import post_json, webhook_url
from dataframe_pipeline.alerts.message import Alert, build_alert
from dataframe_pipeline.alerts.notifier import (
    PipelineAlertNotifier,
    alert_validation_warnings,
    configured_conn_ids,
)

__all__ = [
    "Alert",
    "PipelineAlertNotifier",
    "alert_validation_warnings",
    "build_alert",
    "configured_conn_ids",
    "post_json",
    "webhook_url",
]
