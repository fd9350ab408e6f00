"""The alert notifier against real receivers on loopback: a JSON webhook and a Slack webhook (HTTP servers
these tests start; the Slack connection's host points the provider's hook at it) and an SMTP server
(aiosmtpd). Connections are Airflow connections from ``AIRFLOW_CONN_*``; what arrived is asserted."""

from __future__ import annotations

import asyncio
import email
import json
import logging
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from dataframe_pipeline.alerts import PipelineAlertNotifier, alert_validation_warnings
from dataframe_pipeline.exceptions import ValidationFailedError
from tests.integration.servers import free_port

SECRET = "tok-SECRET-123"
SLACK_TOKEN = "T0001/B0001/SLACKSECRETxyz"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200
    answer = b""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(type(self).answer)

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]):
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def webhook(monkeypatch):
    _Receiver.received, _Receiver.status, _Receiver.answer = [], 200, b""
    server = _serve(_Receiver)
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": server.server_port,
        "schema": "http",
        "password": SECRET,
        "extra": {"endpoint": "/hooks/pipeline"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TEST_ALERTS", json.dumps(conn))
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "test_alerts")
    yield _Receiver
    server.shutdown()


class _SlackReceiver(_Receiver):
    received: list[dict] = []
    answer = b"ok"  # what Slack answers a good webhook call


@pytest.fixture
def slack(monkeypatch):
    _SlackReceiver.received, _SlackReceiver.status = [], 200
    server = _serve(_SlackReceiver)
    conn = {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{server.server_port}", "password": SLACK_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SLACK", json.dumps(conn))
    yield _SlackReceiver
    server.shutdown()


@pytest.fixture
def smtp(monkeypatch):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[email.message.EmailMessage] = []
            self.envelopes: list = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {
            "to": "oncall@example.org, data-team@example.org",
            "from_email": "airflow@example.org",
            "disable_ssl": True,
            "disable_tls": True,
            "retry_limit": 0,
            "timeout": 10,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_TEST_SMTP", json.dumps(conn))
    yield inbox
    controller.stop()


class _TI:
    """The task callback's ``ti``: what Airflow's RuntimeTaskInstance offers the notifier."""

    dag_id, run_id, task_id, try_number, map_index, state = "orders_pipeline", "manual__1", "validate", 3, -1, "failed"

    def xcom_pull(self, task_ids):
        results = {
            "clean": {"step": "clean", "accounting": {"rows_in": 100, "rows_out": 97, "rows_quarantined": 3}},
            "refine": {"step": "refine", "accounting": {"rows_in": 97, "rows_out": 95, "rows_dropped": 2}},
        }
        return [results.get(t) for t in task_ids]


class _Task:
    retries = 2
    upstream_task_ids = frozenset({"refine", "clean"})


def _validation_failure() -> Exception:
    """The exception a failed suite leaves in the context: the operator's no-retry wrapper around it."""
    from airflow.sdk.exceptions import AirflowFailException

    cause = ValidationFailedError(
        "suite orders FAILED: 7/9 checks passed on 100 rows, 2 errors, 0 warnings: "
        "expect_column_values_to_not_be_null(order_id) 3 unexpected"
    )
    try:
        raise AirflowFailException(f"{type(cause).__name__}: {cause}") from cause
    except AirflowFailException as err:
        return err


def _failure_context() -> dict:
    return {"ti": _TI(), "task": _Task(), "exception": _validation_failure()}


def test_failure_alert_names_run_task_try_error_accounting_and_log(webhook, caplog, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")
    caplog.set_level(logging.DEBUG)
    PipelineAlertNotifier(title="task failed").notify(_failure_context())
    assert len(webhook.received) == 1
    sent = webhook.received[0]
    assert sent["path"] == "/hooks/pipeline"
    assert sent["auth"] == f"Bearer {SECRET}"
    body = sent["body"]
    assert (body["dag_id"], body["run_id"], body["task_id"]) == ("orders_pipeline", "manual__1", "validate")
    assert (body["try_number"], body["max_tries"]) == (3, 3)
    assert body["error_class"] == "ValidationFailedError"
    assert body["error"].startswith("suite orders FAILED")
    assert "expect_column_values_to_not_be_null(order_id) 3 unexpected" in body["error"]
    assert body["accounting"]["clean"] == {"rows_in": 100, "rows_out": 97, "rows_quarantined": 3}
    assert body["accounting"]["refine"]["rows_dropped"] == 2
    assert body["url"] == "http://airflow.example:8080/dags/orders_pipeline/runs/manual__1/tasks/validate?try_number=3"
    assert "ValidationFailedError: suite orders FAILED" in body["text"]
    assert SECRET not in caplog.text
    assert "ALERT [dataframe-pipeline] task failed: orders_pipeline / manual__1 / validate (try 3 of 3)" in caplog.text


def test_email_over_smtp_arrives_with_subject_and_fields(smtp, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "test_smtp")
    PipelineAlertNotifier(title="task failed").notify(_failure_context())
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["Subject"] == "[dataframe-pipeline] task failed: orders_pipeline / manual__1 / validate"
    assert mail["From"] == "airflow@example.org"
    assert sorted(smtp.envelopes[0].rcpt_tos) == ["data-team@example.org", "oncall@example.org"]
    body = mail.get_body(("html",)).get_content()
    for field in ("DAG", "orders_pipeline", "Run", "manual__1", "Task", "validate", "3 of 3", "ValidationFailedError"):
        assert field in body
    assert "Rows of clean" in body
    assert "in 100, out 97, quarantined 3" in body
    assert '<a href="http://localhost:8080/dags/orders_pipeline/runs/manual__1/tasks/validate?try_number=3">' in body


def test_slack_webhook_gets_the_message_at_the_token_path(slack, monkeypatch, caplog) -> None:
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "test_slack")
    caplog.set_level(logging.DEBUG)
    PipelineAlertNotifier(title="task failed").notify(_failure_context())
    assert len(slack.received) == 1
    sent = slack.received[0]
    assert sent["path"] == f"/{SLACK_TOKEN}"
    assert sent["body"]["text"].startswith("[dataframe-pipeline] task failed: orders_pipeline / manual__1 / validate")
    section = sent["body"]["blocks"][0]["text"]["text"]
    assert "*Error:* ValidationFailedError: suite orders FAILED" in section
    assert "|Log>" in section
    assert SLACK_TOKEN not in caplog.text
    assert "alert sent via connection test_slack: Slack webhook" in caplog.text


def test_several_channels_at_once_each_get_one_alert(webhook, slack, smtp, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "test_alerts, test_slack,test_smtp")
    outcomes = PipelineAlertNotifier().deliver(PipelineAlertNotifier().build(_failure_context()))
    assert outcomes == {"test_alerts": "HTTP 200", "test_slack": "Slack webhook", "test_smtp": "mail to 2 recipient(s)"}
    assert (len(webhook.received), len(slack.received), len(smtp.messages)) == (1, 1, 1)


def test_a_failing_channel_does_not_stop_the_others_nor_raise(webhook, slack, monkeypatch, caplog) -> None:
    slack.status = 500
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "test_slack,test_alerts")
    PipelineAlertNotifier().notify(_failure_context())
    assert len(webhook.received) == 1
    assert "alert to connection test_slack failed: AirflowException" in caplog.text
    assert SLACK_TOKEN not in caplog.text


def _deadline_context(state: str) -> dict:
    """What the scheduler hands the deadline callback (``Deadline.handle_miss``): the run as the REST
    API's DAGRunResponse JSON and the deadline."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse

    dag_run = {"dag_id": "orders_pipeline", "dag_run_id": "manual__2026-10-09", "state": state, "run_type": "manual"}
    assert set(dag_run) <= set(DAGRunResponse.model_fields)  # the keys Airflow's context really has
    return {"dag_run": dag_run, "deadline": {"id": "0199", "deadline_time": "2026-10-09T00:30:00+00:00"}}


def _run_deadline_callback(state: str) -> list:
    """Run the deadline callback the way the triggerer does: Airflow's CallbackTrigger with the callback's
    path and kwargs as ``run_deadline()`` stores them, plus the context."""
    from airflow.triggers.callback import CallbackTrigger

    from dataframe_pipeline.defaults import run_deadline

    callback = run_deadline().callback
    kwargs = {**callback.kwargs, "context": _deadline_context(state)}
    trigger = CallbackTrigger(callback_path=callback.path, callback_kwargs=kwargs)

    async def events():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())


def test_missed_deadline_of_a_running_run_sends_one_alert_naming_dag_and_run(webhook) -> None:
    events = _run_deadline_callback("running")
    assert events[-1]["state"] == "success"
    assert len(webhook.received) == 1
    body = webhook.received[0]["body"]
    assert body["title"] == "deadline missed"
    assert (body["dag_id"], body["run_id"]) == ("orders_pipeline", "manual__2026-10-09")
    assert body["deadline"] == "2026-10-09T00:30:00+00:00"
    assert body["url"] == "http://localhost:8080/dags/orders_pipeline/runs/manual__2026-10-09"
    assert "deadline missed: orders_pipeline / manual__2026-10-09" in body["text"]


@pytest.mark.parametrize("state", ["failed", "success"])
def test_no_deadline_alert_for_a_finished_run(webhook, caplog, state) -> None:
    caplog.set_level(logging.INFO)
    events = _run_deadline_callback(state)
    assert events[-1]["state"] == "success"
    assert webhook.received == []
    assert f"no alert, run orders_pipeline / manual__2026-10-09 already {state}" in caplog.text


def test_validation_warning_monitors_send_one_alert(webhook) -> None:
    result = {
        "accounting": {"rows_in": 40, "rows_out": 40, "rows_quarantined": 0, "rows_dropped": 0},
        "validation": {
            "success": True,
            "monitors": [
                {"name": "volume_drop", "severity": "warning", "success": False, "message": "40 rows, 62% below"},
                {"name": "freshness", "severity": "warning", "success": False, "message": "newest is 3 days old"},
                {"name": "max_duplicate_rate", "severity": "warning", "success": True, "message": "0.0"},
            ],
        },
    }
    ctx = {"ti": _TI(), "task": _Task()}
    alert = alert_validation_warnings(ctx, result)
    assert alert is not None
    assert len(webhook.received) == 1
    body = webhook.received[0]["body"]
    assert body["title"] == "data quality warning"
    assert body["details"] == [
        "Monitor volume_drop [warning]: 40 rows, 62% below",
        "Monitor freshness [warning]: newest is 3 days old",
    ]
    assert body["accounting"]["validate"]["rows_in"] == 40
    passed = {**result, "validation": {"monitors": [{"name": "x", "severity": "warning", "success": True}]}}
    assert alert_validation_warnings(ctx, passed) is None
    assert len(webhook.received) == 1


def test_broken_webhook_does_not_raise(webhook, caplog) -> None:
    webhook.status = 500
    PipelineAlertNotifier().notify({"ti": _TI()})
    assert "alert to connection test_alerts failed: HTTPError" in caplog.text


def test_missing_connection_only_logs(caplog, monkeypatch) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("PIPELINE_ALERT_CONN_IDS", "no_such_conn_xyz")
    PipelineAlertNotifier().notify({"ti": _TI()})
    assert "ALERT [dataframe-pipeline] task failed: orders_pipeline / manual__1 / validate" in caplog.text
    assert "no connection 'no_such_conn_xyz'" in caplog.text


def test_http_connection_without_host_only_logs(monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_HOOK", json.dumps({"conn_type": "http", "extra": {"endpoint": "/"}}))
    outcomes = PipelineAlertNotifier(conn_id="empty_hook").deliver(PipelineAlertNotifier().build({"ti": _TI()}))
    assert outcomes == {"empty_hook": "logged only (no host)"}


def test_the_validate_operator_alerts_once_for_failed_warning_monitors(webhook, tmp_path, monkeypatch) -> None:
    """The real operator path: a suite that passes with two failed warning monitors publishes (the task
    succeeds) and sends one alert naming both."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from dataframe_pipeline.ingest.operators import FileIngestOperator
    from dataframe_pipeline.validate.operators import ValidateOperator

    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    source = tmp_path / "orders.csv"
    source.write_text("id,amount,email\n1,10,a@x\n2,,\n3,7,\n4,,\n")
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "orders",
                "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
                "monitors": {"max_missing_rate": {"amount": 0.1, "email": 0.2, "severity": "warning"}},
            }
        )
    )
    ctx = {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=1, dag_id="orders_pipeline", run_id="scheduled__x", task_id="validate"),
        "run_id": "scheduled__x",
    }
    lake = (tmp_path / "lake").as_uri()
    ingested = FileIngestOperator(task_id="ingest", source=str(source), storage_root=lake).execute(ctx)
    result = ValidateOperator(task_id="validate", input_dataset=ingested, suite=str(suite), storage_root=lake).execute(
        ctx
    )
    assert result["validation"]["success"] is True  # warnings publish
    assert len(webhook.received) == 1
    body = webhook.received[0]["body"]
    assert (body["title"], body["dag_id"], body["task_id"]) == ("data quality warning", "orders_pipeline", "validate")
    assert body["details"] == [
        "Monitor max_missing_rate:amount [warning]: amount: 50.0000% missing (max 10.0000%)",
        "Monitor max_missing_rate:email [warning]: email: 75.0000% missing (max 20.0000%)",
    ]
    assert body["accounting"]["validate"]["rows_in"] == 4
