"""Where an alert goes: each Airflow connection is one channel, its ``conn_type`` picks how.

- ``smtp`` (or ``email``): the smtp provider's ``SmtpHook``; host, port, login, password; extra ``to``
  (comma list), ``from_email``, and ``disable_ssl`` / ``disable_tls`` for a plain server;
- ``slackwebhook``: the slack provider's ``SlackWebhookHook``; password: the webhook token
  (``T.../B.../...``) or its whole URL; host (``https://hooks.slack.com/services`` by default);
- ``http`` (or ``https``): a JSON POST; host, port, schema, extra ``endpoint``; the password is sent as
  a bearer token.

The generic webhook is a plain POST rather than the http provider's ``HttpHook``: that hook sends every
other key of the extra as a request header, which would put ``endpoint`` into the headers. An HTTP connection
without a host only logs (the default ``pipeline_alerts`` of ``airflow_settings.yaml``).

Every channel raises on failure; the notifier catches, logs the error class (never the message: a Slack
error names the webhook URL, which is the secret) and goes on with the next channel.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataframe_pipeline.alerts.message import Alert

SMTP_TYPES = frozenset({"smtp", "email"})
SLACK_TYPES = frozenset({"slackwebhook", "slack_webhook"})
HTTP_TYPES = frozenset({"http", "https"})


class AlertChannelError(Exception):
    """A connection cannot carry alerts (unknown type, no recipients, not an http(s) URL)."""


def webhook_url(conn: Any) -> str | None:
    """The URL of an HTTP connection (host, port, schema, extra ``endpoint``), or None without a host."""
    if not conn or not conn.host:
        return None
    host = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
    if conn.port:
        host = f"{host.rstrip('/')}:{conn.port}"
    endpoint = (conn.extra_dejson or {}).get("endpoint", "")
    return host.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 10) -> int:
    """POST ``payload`` as JSON to an http(s) URL; returns the HTTP status."""
    if not url.startswith(("http://", "https://")):
        raise AlertChannelError(f"webhook URL must be http(s), got scheme {url.split(':', 1)[0]!r}")
    req = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url,
        data=json.dumps(payload, default=str).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (checked above)
        return int(resp.status)


def recipients(conn: Any) -> list[str]:
    """The ``to`` of an SMTP connection's extra: a comma list or a list."""
    value = (conn.extra_dejson or {}).get("to") or []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def send_http(conn: Any, alert: Alert) -> str:
    url = webhook_url(conn)
    if url is None:
        return "logged only (no host)"
    headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
    return f"HTTP {post_json(url, alert.as_dict(), headers)}"


def send_smtp(conn: Any, alert: Alert) -> str:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    to = recipients(conn)
    if not to:
        raise AlertChannelError(f"connection {conn.conn_id!r} has no recipients (extra 'to')")
    with SmtpHook(smtp_conn_id=conn.conn_id) as hook:
        hook.send_email_smtp(to=to, subject=alert.subject, html_content=alert.html())
    return f"mail to {len(to)} recipient(s)"


def send_slack(conn: Any, alert: Alert) -> str:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    body = {"text": alert.text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": slack_text(alert)}}]}
    SlackWebhookHook(slack_webhook_conn_id=conn.conn_id, timeout=10).send_dict(body)
    return "Slack webhook"


def slack_text(alert: Alert) -> str:
    """The Slack message: the title in bold, then the lines, the log as a link."""
    lines = [f"*{alert.title}*"]
    for line in alert.lines():
        label, _, value = line.partition(": ")
        lines.append(f"<{value}|{label}>" if label == "Log" else f"*{label}:* {value}")
    return "\n".join(lines)[:3000]  # Slack's limit of a section's text


def send(conn: Any, alert: Alert) -> str:
    """Send ``alert`` through ``conn``; returns what was done (for the log)."""
    conn_type = (conn.conn_type or "").lower()
    if conn_type in SMTP_TYPES:
        return send_smtp(conn, alert)
    if conn_type in SLACK_TYPES:
        return send_slack(conn, alert)
    if conn_type in HTTP_TYPES:
        return send_http(conn, alert)
    raise AlertChannelError(f"connection {conn.conn_id!r}: conn_type {conn_type!r} is not smtp, slackwebhook or http")
