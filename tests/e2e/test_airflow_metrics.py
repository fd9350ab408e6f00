"""Airflow's own metrics and the pipeline's reach a real Prometheus from a real Airflow run.

A module of its own Airflow (its own home and ports), configured with docker-compose.yaml's
``AIRFLOW__METRICS__*`` settings (StatsD on, InfluxDB-style tags, legacy names off) aimed at
include/scripts/statsd_exporter.py with include/monitoring/statsd_mapping.yml (the loopback stand-in for
the stack's prom/statsd-exporter), and with the pipeline's Pushgateway URL. A real Prometheus (Debian's)
scrapes the exporter with the compose Prometheus's ``airflow`` job (its relabelling drops the run id) and
the Pushgateway every second, and evaluates include/monitoring/alerts.yml. One orders_pipeline run; then
Prometheus's query API must show, for that run: a finish count per task instance with its dag_id,
task_id and state, the run's duration in the histogram of its state, the scheduler's heartbeat going up,
a missed deadline (the run deadline is 15 s here), and every step's row accounting for the run's
partition; every ``airflow_*`` name the rules and the dashboard query has a series, and every rule
evaluates without error.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime
from types import SimpleNamespace

import pytest

from include.scripts.local_airflow import LocalAirflow, prepare_demo_data, train
from tests.prometheus_servers import (
    PROJECT,
    compose_metrics_env,
    compose_scrape_job,
    query,
    start_prometheus,
    start_pushgateway,
    start_statsd_exporter,
    wait_for,
)

pytestmark = pytest.mark.timeout(900)

DAG_ID = "orders_pipeline"
DAY = "2026-10-14"
STEPS = ["ingest", "clean", "enrich", "refine", "validate", "store"]
MONITORING = PROJECT / "include" / "monitoring"
DEADLINE_MINUTES = "0.25"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("airflow-metrics")
    servers = []
    af = None
    try:
        pushgateway = start_pushgateway(base)
        servers.append(pushgateway)
        exporter = start_statsd_exporter(base)
        servers.append(exporter)
        prometheus = start_prometheus(
            base,
            [pushgateway.url.removeprefix("http://")],
            rule_files=[str(MONITORING / "alerts.yml")],
            jobs=[compose_scrape_job("airflow", exporter.target)],
        )
        servers.append(prometheus)
        af = LocalAirflow.isolated(
            base,
            extra_env={
                **compose_metrics_env(),
                "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",  # compose: the statsd-exporter service
                "AIRFLOW__METRICS__STATSD_PORT": str(exporter.udp_port),
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs this test triggers
                "DATAFRAME_PIPELINE_PUSHGATEWAY_URL": pushgateway.url,
                "PIPELINE_DEADLINE_MINUTES": DEADLINE_MINUTES,  # the run outlasts it: a missed deadline
            },
        )
        prepare_demo_data()
        af.start(timeout=240)
        af.load_settings()
        train(af)
        run_id = af.trigger(DAG_ID, f"{DAY}T00:00:00Z")
        af.unpause(DAG_ID)
        run = af.wait_for_run(DAG_ID, run_id, timeout=600)
        assert run["state"] == "success", run
        yield SimpleNamespace(af=af, prometheus=prometheus, run=run, tis=af.task_instances(DAG_ID, run_id))
    finally:
        if af is not None:
            af.stop()
        for server in reversed(servers):
            server.stop()


def settled(prometheus, promql: str, expected: dict, key, timeout: float = 30.0) -> dict:
    """Query until ``{key(series): value}`` equals ``expected`` (a scrape or two after the last datagram)."""
    deadline = time.monotonic() + timeout
    found: dict = {}
    while time.monotonic() < deadline:
        found = {key(s["metric"]): float(s["value"][1]) for s in query(prometheus, promql)}
        if found == expected:
            break
        time.sleep(0.5)
    return found


def test_every_task_instance_of_the_run_is_counted_with_its_labels(stack) -> None:
    expected = Counter((ti["task_id"], ti["state"]) for ti in stack.tis)
    assert set(STEPS) <= {task for task, _ in expected}
    promql = f'sum by (task_id, state) (airflow_ti_finish_total{{dag_id="{DAG_ID}"}})'
    found = settled(stack.prometheus, promql, dict(expected), lambda m: (m["task_id"], m["state"]))
    assert found == dict(expected)
    # the series carry dag_id, task_id and state, the labels alerts.yml groups by
    [series] = query(stack.prometheus, f'airflow_ti_finish_total{{dag_id="{DAG_ID}",task_id="store"}}')
    assert {"dag_id", "task_id", "state"} <= set(series["metric"])


def test_the_run_duration_is_in_the_histogram_of_its_state(stack) -> None:
    started, ended = (datetime.fromisoformat(stack.run[k]) for k in ("start_date", "end_date"))
    selector = f'{{dag_id="{DAG_ID}",state="success"}}'
    [count] = wait_for(stack.prometheus, f"airflow_dagrun_duration_seconds_count{selector}")
    assert float(count["value"][1]) == 1
    assert count["metric"]["run_type"] == "manual"
    [total] = wait_for(stack.prometheus, f"airflow_dagrun_duration_seconds_sum{selector}")
    assert float(total["value"][1]) == pytest.approx((ended - started).total_seconds(), abs=1.0)
    # no run of this DAG failed, and the failed-run rule's expression is empty
    assert query(stack.prometheus, f'airflow_dagrun_duration_seconds_count{{dag_id="{DAG_ID}",state="failed"}}') == []


def test_the_scheduler_heartbeat_goes_up(stack) -> None:
    [first] = wait_for(stack.prometheus, "airflow_scheduler_heartbeat_total")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [now] = query(stack.prometheus, "airflow_scheduler_heartbeat_total")
        if float(now["value"][1]) > float(first["value"][1]):
            break
        time.sleep(1)
    assert float(now["value"][1]) > float(first["value"][1])
    assert float(wait_for(stack.prometheus, "rate(airflow_scheduler_heartbeat_total[30s]) > 0")[0]["value"][1]) > 0


def test_the_missed_deadline_is_counted_without_the_run_id(stack) -> None:
    [series] = wait_for(stack.prometheus, f'airflow_deadline_alerts_deadline_missed_total{{dag_id="{DAG_ID}"}}')
    assert float(series["value"][1]) >= 1
    assert not {"dagrun_id", "run_id"} & set(series["metric"])  # the compose job's labeldrop


def test_every_step_of_the_run_pushed_its_accounting_for_the_partition(stack) -> None:
    run_id = stack.run["dag_run_id"]
    for step in STEPS:
        accounting = stack.af.xcom(DAG_ID, run_id, step)["accounting"]
        labels = f'job="dataframe_pipeline",dag_id="{DAG_ID}",task_id="{step}",partition="date={DAY}"'
        for name in ("rows_in", "rows_out", "rows_quarantined", "rows_dropped"):
            [series] = wait_for(stack.prometheus, f"dataframe_pipeline_{name}{{{labels}}}")
            assert float(series["value"][1]) == accounting[name], (step, name)
        assert wait_for(stack.prometheus, f"dataframe_pipeline_last_success_timestamp_seconds{{{labels}}}")


def used_airflow_metrics() -> set[str]:
    """Every ``airflow_*`` series name include/monitoring/alerts.yml and the Grafana dashboard query."""
    text = (MONITORING / "alerts.yml").read_text() + json.dumps(
        json.loads((MONITORING / "grafana" / "dashboards" / "dataframe_pipeline.json").read_text())
    )
    return set(re.findall(r"\bairflow_[a-z0-9_]+", text))


def test_every_airflow_metric_the_rules_and_dashboard_use_has_series(stack) -> None:
    used = used_airflow_metrics()
    assert {"airflow_ti_finish_total", "airflow_dagrun_duration_seconds_count", "airflow_scheduler_heartbeat_total",
            "airflow_deadline_alerts_deadline_missed_total"} <= used  # fmt: skip
    missing = [name for name in sorted(used) if not query(stack.prometheus, f'count({{__name__="{name}"}})')]
    assert missing == []


def test_every_alert_rule_evaluates_and_a_healthy_run_fires_none_of_airflow_s(stack) -> None:
    import urllib.request

    time.sleep(3)  # a few evaluations (every second) after the run
    with urllib.request.urlopen(f"{stack.prometheus.url}/api/v1/rules", timeout=5) as answer:
        groups = json.loads(answer.read())["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 9
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    quiet = ("DataframePipelineTaskFailureRateHigh", "DataframePipelineDagRunFailed", "AirflowSchedulerDown")
    firing = {r["name"] for r in rules if r["name"] in quiet and r["alerts"]}
    assert firing == set()


def test_the_exporter_refused_nothing_airflow_sent(stack) -> None:
    wait_for(stack.prometheus, "statsd_exporter_lines_total > 0")
    assert query(stack.prometheus, "statsd_exporter_sample_errors_total") == []
    assert query(stack.prometheus, "statsd_exporter_events_conflict_total") == []
    assert query(stack.prometheus, "statsd_exporter_tag_errors_total") == []
