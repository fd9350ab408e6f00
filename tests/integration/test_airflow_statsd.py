"""Airflow's own metrics as the compose stack configures them: Airflow's StatsD logger (the
``AIRFLOW__METRICS__*`` settings of docker-compose.yaml) sends over UDP on loopback to
include/scripts/statsd_exporter.py with include/monitoring/statsd_mapping.yml (the stand-in for the
stack's prom/statsd-exporter: no package of it here), and its ``/metrics`` has the series, names and
labels the alert rules and the dashboard query. tests/e2e/test_airflow_metrics.py does the same with a
running Airflow and a real Prometheus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.prometheus_servers import compose_metrics_env, start_statsd_exporter

PROJECT = Path(__file__).resolve().parents[2]
MONITORING = PROJECT / "include" / "monitoring"

EMIT = """
from datetime import timedelta
from airflow.configuration import conf
from airflow._shared.observability.metrics import stats
from airflow.observability.metrics import stats_utils

legacy = conf.getboolean("metrics", "legacy_names_on")
stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=legacy)
# the calls of Airflow's scheduler, task runner and deadline model, with their tags
stats.incr("ti.finish", tags={"dag_id": "orders_pipeline", "task_id": "clean", "state": "failed"})
stats.incr("deadline_alerts.deadline_missed", tags={"dag_id": "orders_pipeline", "dagrun_id": "scheduled__x"})
stats.incr("scheduler_heartbeat", 1, 1)
stats.timing("dagrun.duration.failed", timedelta(seconds=3), tags={"dag_id": "orders_pipeline"})
"""

WANTED = ("airflow_ti_finish_total", "airflow_deadline_alerts_deadline_missed_total",
          "airflow_scheduler_heartbeat_total", "airflow_dagrun_duration_seconds_count")  # fmt: skip


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``/metrics`` as {sample name: [(labels, value), ...]}."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_airflow_statsd_metrics_map_to_the_names_the_rules_use(tmp_path: Path) -> None:
    exporter = start_statsd_exporter(tmp_path)
    try:
        env = {
            **os.environ,
            **compose_metrics_env(),
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",  # compose: the statsd-exporter service
            "AIRFLOW__METRICS__STATSD_PORT": str(exporter.udp_port),
            "AIRFLOW_HOME": str(tmp_path),
        }
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "true"
        done = subprocess.run(
            [sys.executable, "-c", EMIT], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        deadline = time.monotonic() + 10
        while set(WANTED) - set(samples := scrape(exporter.url)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        exporter.stop()

    assert samples["airflow_ti_finish_total"] == [
        ({"dag_id": "orders_pipeline", "task_id": "clean", "state": "failed"}, 1.0)
    ]
    [(labels, value)] = samples["airflow_deadline_alerts_deadline_missed_total"]
    assert labels == {"dag_id": "orders_pipeline"} and value == 1  # the run id tag does not reach StatsD
    assert samples["airflow_scheduler_heartbeat_total"] == [({}, 1.0)]
    # the timer: milliseconds in StatsD, one observation of 3 s in the histogram of its state
    assert samples["airflow_dagrun_duration_seconds_count"] == [({"dag_id": "orders_pipeline", "state": "failed"}, 1.0)]
    assert samples["airflow_dagrun_duration_seconds_sum"] == [({"dag_id": "orders_pipeline", "state": "failed"}, 3.0)]
    buckets = {labels["le"]: value for labels, value in samples["airflow_dagrun_duration_seconds_bucket"]}
    assert buckets["1"] == 0 and buckets["5"] == 1 and buckets["+Inf"] == 1
    # nothing Airflow sent was refused
    assert "statsd_exporter_sample_errors_total" not in samples
    assert "statsd_exporter_events_conflict_total" not in samples
    # the rules and the dashboard use exactly these names (and the histogram's _count of the timer)
    rules = (MONITORING / "alerts.yml").read_text() + json.dumps(
        json.loads((MONITORING / "grafana" / "dashboards" / "dataframe_pipeline.json").read_text())
    )
    for used in WANTED:
        assert used in rules
