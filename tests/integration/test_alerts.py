"""The alert notifier against a real webhook receiver on loopback (an HTTP server these tests start)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from dataframe_pipeline.alerts import PipelineAlertNotifier


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch):
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.server_port,
        "schema": "http",
        "password": "tok-SECRET-123",
        "extra": {"endpoint": "/hooks/pipeline"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TEST_ALERTS", json.dumps(conn))
    yield _Receiver
    server.shutdown()


class _TI:
    dag_id, run_id, task_id, try_number, state = "orders_pipeline", "manual__1", "validate", 1, "failed"


def test_failure_alert_is_posted_with_token_and_never_logs_the_secret(webhook, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = PipelineAlertNotifier(title="task failed", conn_id="test_alerts")
    notifier.notify({"ti": _TI(), "exception": ValueError("suite failed: 2 of 9 expectations")})
    assert len(webhook.received) == 1
    sent = webhook.received[0]
    assert sent["path"] == "/hooks/pipeline"
    assert sent["auth"] == "Bearer tok-SECRET-123"
    assert sent["body"]["dag_id"] == "orders_pipeline"
    assert sent["body"]["task_id"] == "validate"
    assert "suite failed" in sent["body"]["text"]
    assert "tok-SECRET-123" not in caplog.text
    assert "ALERT [dataframe-pipeline] task failed: orders_pipeline / manual__1 / validate" in caplog.text


def test_deadline_alert_runs_async_as_the_triggerer_calls_it(webhook) -> None:
    async def call():
        # CallbackTrigger does: await callback(**kwargs, context=context)
        await PipelineAlertNotifier(title="deadline missed", conn_id="test_alerts", context={"dag_id": "d1"})

    asyncio.run(call())
    assert webhook.received[0]["body"]["title"] == "deadline missed"
    assert webhook.received[0]["body"]["dag_id"] == "d1"


def test_broken_webhook_does_not_raise(webhook, caplog) -> None:
    webhook.status = 500
    PipelineAlertNotifier(conn_id="test_alerts").notify({"ti": _TI()})
    assert "alert to connection test_alerts failed: HTTPError" in caplog.text


def test_missing_connection_only_logs(caplog) -> None:
    caplog.set_level(logging.INFO)
    PipelineAlertNotifier(conn_id="no_such_conn_xyz").notify({"ti": _TI()})
    assert "ALERT" in caplog.text
