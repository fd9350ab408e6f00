"""The monitoring files of include/monitoring: alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), the Grafana dashboard parses and queries only metrics that exist (the pipeline's
or Airflow's through statsd-exporter), and every panel's PromQL parses (promtool, as recording rules)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dataframe_pipeline.metrics import METRICS, PREFIX
from tests.conftest import require_service

MONITORING = Path(__file__).resolve().parents[2] / "include" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "dataframe_pipeline.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def promtool() -> str:
    path = shutil.which("promtool")
    require_service(path is not None, "no promtool: apt-get install -y prometheus (or make test)")
    return str(path)


def run_promtool(*args: str, cwd: Path = MONITORING) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers once strings, label matchers, ranges and
    grouping label lists are removed, that are neither functions (followed by ``(``) nor keywords."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {n for n in names if n not in KEYWORDS and not re.fullmatch(r"\d+[smhdwy]?", n)}


def airflow_metrics() -> set[str]:
    """The Prometheus names statsd-exporter gives Airflow's metrics (include/monitoring/statsd_mapping.yml)."""
    mapping = yaml.safe_load((MONITORING / "statsd_mapping.yml").read_text())["mappings"]
    names = set()
    for entry in mapping:
        names.add(entry["name"])
        if entry.get("observer_type") == "histogram":
            names.update(entry["name"] + suffix for suffix in HISTOGRAM_SUFFIXES)
    return names


def known_metrics() -> set[str]:
    return {PREFIX + name for name in METRICS} | airflow_metrics()


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dashboard["panels"]:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        out.extend((panel["title"], target["expr"]) for target in panel["targets"])
    return out


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def test_metric_names_of_an_expression() -> None:
    expr = 'sum by (dag_id) (increase(a_total{state="failed"}[1h])) / on(dag_id) b > 2 * 86400 unless c offset 1d'
    assert metric_names(expr) == {"a_total", "b", "c"}


def test_alert_rules_pass_promtool_check() -> None:
    out = run_promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in out


def test_alert_rules_pass_their_unit_tests() -> None:
    out = run_promtool("test", "rules", "alerts_test.yml")
    assert "SUCCESS" in out


def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]  # where docker-compose.yaml mounts it
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True  # the pushed job/dag_id/task_id labels stay


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_reference_only_metrics_that_exist(source: str) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    known = known_metrics()
    for title, expr in expressions:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= known, f"{title}: unknown metrics {sorted(names - known)} in {expr!r}"


def test_airflow_metrics_are_named_as_airflow_emits_them() -> None:
    """statsd_mapping.yml matches names Airflow's metrics registry declares (the installed source)."""
    import airflow

    registry = Path(airflow.__file__).parent / "_shared" / "observability" / "metrics" / "metrics_template.yaml"
    declared = {entry["name"] for entry in yaml.safe_load(registry.read_text())["metrics"]}
    for entry in yaml.safe_load((MONITORING / "statsd_mapping.yml").read_text())["mappings"]:
        stat = entry["match"].removeprefix("airflow.")
        if stat.endswith(".*"):  # a family, e.g. dagrun.duration.{success,failed}
            assert any(name.startswith(stat[:-1]) for name in declared), stat
        else:
            assert stat in declared, stat


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel{i}", "expr": expr.replace("$dag_id", ".*")}
        for i, (_, expr) in enumerate(dashboard_expressions())
    ]
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"][0]
    provider = yaml.safe_load((provisioning / "dashboards" / "dataframe_pipeline.yaml").read_text())["providers"][0]
    dashboard = json.loads(DASHBOARD.read_text())
    assert source["type"] == "prometheus"
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {source["uid"]}
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"  # mounted there by docker-compose.yaml
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
