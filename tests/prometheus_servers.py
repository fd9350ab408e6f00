"""A real Pushgateway and a real Prometheus for the tests (Debian packages ``prometheus-pushgateway`` and
``prometheus``; ``make test`` installs them), each a subprocess on a free loopback port, with a query
helper over Prometheus's HTTP API. Missing binaries skip with the reason (fail under CI=true).

Airflow's StatsD metrics go through ``include/scripts/statsd_exporter.py`` (:func:`start_statsd_exporter`),
the loopback stand-in for the compose stack's prom/statsd-exporter, with the same mapping file."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.conftest import require_service

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT = Path(__file__).resolve().parents[1]
STATSD_EXPORTER = PROJECT / "include" / "scripts" / "statsd_exporter.py"
STATSD_MAPPING = PROJECT / "include" / "monitoring" / "statsd_mapping.yml"
INSTALL = "apt-get install -y prometheus prometheus-pushgateway (or make test)"


def binary(name: str) -> str:
    """The path of a Prometheus binary; skips (fails under CI=true) when it is missing."""
    path = shutil.which(name)
    require_service(path is not None, f"no {name} binary: {INSTALL}")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s: {log.read_text()[-2000:]}")


@dataclass
class Server:
    """A running server: its URL and process."""

    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(args: list[str], url: str, ready_path: str, log: Path) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = Server(url, process)
    try:
        wait_ready(url + ready_path, process, log)
    except Exception:
        server.stop()
        raise
    return server


def start_pushgateway(workdir: Path) -> Server:
    port = free_port()
    # in memory only: Debian's build persists to /var/lib/prometheus/pushgateway.data by default, which
    # every gateway started here would share (and load: one test's series in the next one's gateway)
    args = [binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
    return start(args, f"http://127.0.0.1:{port}", "/-/ready", workdir / "pushgateway.log")


@dataclass
class StatsdExporter(Server):
    """The exporter's ``/metrics`` URL and process, and the UDP port it receives StatsD lines on."""

    udp_port: int = 0

    @property
    def target(self) -> str:
        return self.url.removeprefix("http://")


def start_statsd_exporter(workdir: Path, mapping: Path = STATSD_MAPPING) -> StatsdExporter:
    """include/scripts/statsd_exporter.py on a free UDP port and a free HTTP port, with ``mapping``."""
    port, udp_port = free_port(), free_udp_port()
    args = [
        sys.executable,
        str(STATSD_EXPORTER),
        f"--statsd.mapping-config={mapping}",
        f"--statsd.listen-udp=127.0.0.1:{udp_port}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    server = start(args, f"http://127.0.0.1:{port}", "/metrics", workdir / "statsd_exporter.log")
    return StatsdExporter(server.url, server.process, udp_port)


def compose_metrics_env() -> dict[str, str]:
    """The ``AIRFLOW__METRICS__*`` settings docker-compose.yaml gives Airflow (StatsD on, its host aside)."""
    compose = yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())
    env = compose["services"]["airflow-scheduler"]["environment"]
    return {k: str(v) for k, v in env.items() if k.startswith("AIRFLOW__METRICS__")}


def compose_scrape_job(job_name: str, target: str) -> dict:
    """A scrape config of include/monitoring/prometheus.yml (the compose Prometheus), aimed at ``target``."""
    config = yaml.safe_load((PROJECT / "include" / "monitoring" / "prometheus.yml").read_text())
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == job_name]
    return {**job, "static_configs": [{"targets": [target]}]}


def start_prometheus(
    workdir: Path, targets: list[str], rule_files: list[str] | None = None, jobs: list[dict] | None = None
) -> Server:
    """Prometheus scraping each ``host:port`` target every second (``honor_labels``: the pushed
    ``job``/``dag_id`` labels stay), and each scrape config of ``jobs`` as given (its interval set to one
    second), with fresh storage under ``workdir``."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files or [],
        "scrape_configs": [
            {"job_name": f"target{i}", "honor_labels": True, "static_configs": [{"targets": [target]}]}
            for i, target in enumerate(targets)
        ]
        + [{**job, "scrape_interval": "1s"} for job in jobs or []],
    }
    path = workdir / "prometheus.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    args = [
        binary("prometheus"),
        f"--config.file={path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return start(args, f"http://127.0.0.1:{port}", "/-/ready", workdir / "prometheus.log")


def query(prometheus: Server, promql: str) -> list[dict[str, Any]]:
    """The instant vector of a PromQL query: ``[{"metric": {...labels}, "value": [ts, "v"]}, ...]``."""
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(prometheus: Server, promql: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Query until at least ``count`` series answer (the next scrape), or fail with what was there."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = query(prometheus, promql)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{promql}: {len(found)} series after {timeout}s (wanted {count}): {found}")


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_pushgateway(tmp_path_factory.mktemp("pushgateway"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prometheus(pushgateway: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), [pushgateway.url.removeprefix("http://")])
    yield server
    server.stop()
