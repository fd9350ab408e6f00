"""Airflow's own metrics as the compose stack configures them: Airflow's StatsD logger (the
``AIRFLOW__METRICS__*`` settings of docker-compose.yaml) sends to a real UDP socket on loopback, and the
datagrams, mapped the way statsd-exporter maps them with include/monitoring/statsd_mapping.yml, give the
series the alert rules and the dashboard query.

statsd-exporter itself is not run (no package of it on Debian or PyPI); its mapping is applied here with
its glob rule (``*`` is one dot-separated part, ``$1`` the first) and its tag handling (InfluxDB-style
``name,tag=value`` tags become labels).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import yaml

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


def compose_metrics_env() -> dict[str, str]:
    compose = yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())
    env = compose["services"]["airflow-scheduler"]["environment"]
    return {k: str(v) for k, v in env.items() if k.startswith("AIRFLOW__METRICS__")}


def parse(datagram: str) -> tuple[str, dict[str, str], float, str]:
    """``name,tag=v,...:value|type`` -> (name, tags, value, type)."""
    head, _, rest = datagram.rpartition(":")
    value, _, kind = rest.partition("|")
    name, *tags = head.split(",")
    return name, dict(tag.split("=", 1) for tag in tags), float(value), kind.split("|")[0]


def map_name(name: str, mappings: list[dict]) -> tuple[str, dict[str, str]] | None:
    """statsd-exporter's glob mapping: the Prometheus name and the extra labels, or None (unmapped)."""
    for entry in mappings:
        pattern = (
            "^" + r"\.".join("([^.]+)" if part == "*" else re.escape(part) for part in entry["match"].split(".")) + "$"
        )
        found = re.match(pattern, name)
        if found:
            labels = {k: found.expand(re.sub(r"\$(\d+)", r"\\\1", v)) for k, v in (entry.get("labels") or {}).items()}
            return entry["name"], labels
    return None


def series_datagrams(series: dict) -> list[str]:
    return [entry[3] for entry in series.values()]


def test_airflow_statsd_metrics_map_to_the_names_the_rules_use(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    env = {
        **os.environ,
        **compose_metrics_env(),
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",  # compose: the statsd-exporter service
        "AIRFLOW__METRICS__STATSD_PORT": str(receiver.getsockname()[1]),
        "AIRFLOW_HOME": str(tmp_path),
    }
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "true"
    done = subprocess.run(
        [sys.executable, "-c", EMIT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wanted = {"airflow.ti.finish", "airflow.deadline_alerts.deadline_missed", "airflow.scheduler_heartbeat",
              "airflow.dagrun.duration.failed"}  # fmt: skip
    mappings = yaml.safe_load((MONITORING / "statsd_mapping.yml").read_text())["mappings"]
    series = {}
    try:
        while wanted - {name for name, *_ in map(parse, series_datagrams(series))}:
            for datagram in receiver.recv(65535).decode().splitlines():
                name, tags, value, kind = parse(datagram)
                mapped = map_name(name, mappings)
                if name in wanted:  # Airflow sends others too (serde timings...): statsd-exporter names them itself
                    assert mapped is not None, f"unmapped: {datagram}"
                    series[mapped[0]] = ({**tags, **mapped[1]}, value, kind, datagram)
    finally:
        receiver.close()
    series = {k: v[:3] for k, v in series.items()}

    assert series["airflow_ti_finish_total"] == (
        {"dag_id": "orders_pipeline", "task_id": "clean", "state": "failed"},
        1,
        "c",
    )
    labels, _, kind = series["airflow_deadline_alerts_deadline_missed_total"]
    assert labels["dag_id"] == "orders_pipeline" and kind == "c"
    assert series["airflow_scheduler_heartbeat_total"][2] == "c"
    assert series["airflow_dagrun_duration_seconds"] == ({"dag_id": "orders_pipeline", "state": "failed"}, 3000, "ms")
    # the rules and the dashboard use exactly these names (and the histogram's _count of the timer)
    rules = (MONITORING / "alerts.yml").read_text() + json.dumps(
        json.loads((MONITORING / "grafana" / "dashboards" / "dataframe_pipeline.json").read_text())
    )
    for used in ("airflow_ti_finish_total", "airflow_deadline_alerts_deadline_missed_total",
                 "airflow_scheduler_heartbeat_total", "airflow_dagrun_duration_seconds_count"):  # fmt: skip
        assert used in rules
