"""The local Airflow helper's command line (include/scripts/local_airflow.py): ports and shell exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.scripts.local_airflow import LocalAirflow, ports, shell_exports
from tests.integration.servers import free_port

pytestmark = pytest.mark.unit
SCRIPT = Path(__file__).resolve().parents[2] / "include" / "scripts" / "local_airflow.py"


def _recorded(home: Path, port: int, demo_api_port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "instance.json").write_text(json.dumps({"port": port, "demo_api_port": demo_api_port}))


def test_the_environment_wins_then_what_the_last_start_recorded_then_the_defaults(tmp_path: Path) -> None:
    assert ports(tmp_path, {}, "status") == (8080, 8765)
    _recorded(tmp_path, 8090, 8766)
    assert ports(tmp_path, {}, "status") == (8090, 8766)
    assert ports(tmp_path, {}, "env") == (8090, 8766)
    assert ports(tmp_path, {"AIRFLOW_PORT": "9001"}, "status") == (9001, 8766)
    (tmp_path / "instance.json").write_text("not json")
    assert ports(tmp_path, {}, "status") == (8080, 8765)


def test_env_puts_the_venvs_airflow_first_on_path_and_names_the_port(tmp_path: Path) -> None:
    af = LocalAirflow(home=tmp_path, port=8092)
    lines = shell_exports(af)
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    path = subprocess.run(
        ["/bin/bash", "-c", "\n".join(lines) + '\nprintf %s "$PATH"; echo; command -v airflow'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert path[0].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert path[1] == str(Path(sys.executable).parent / "airflow")
    assert exported["AIRFLOW__API__PORT"] == "8092"
    assert "127.0.0.1:8092" in exported["AIRFLOW__API__BASE_URL"]


def test_status_and_env_on_the_command_line_honour_a_non_default_port(tmp_path: Path) -> None:
    """`make status` / `local_airflow.py env` after `AIRFLOW_PORT=8093 make run`, without AIRFLOW_PORT."""
    _recorded(tmp_path, 8093, 8768)
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_PORT", "DEMO_API_PORT")}
    run = [sys.executable, str(SCRIPT), "--home", str(tmp_path)]
    out = subprocess.run([*run, "env"], capture_output=True, text=True, check=True, env=env).stdout
    assert "export AIRFLOW__API__PORT=8093" in out
    status = subprocess.run([*run, "status", "--json"], capture_output=True, text=True, check=False, env=env)
    report = json.loads(status.stdout)
    assert (report["running"], report["healthy"], report["url"]) == ({}, False, "http://127.0.0.1:8093")


def test_status_of_an_airflow_that_is_not_running_says_so_and_exits_3(tmp_path: Path) -> None:
    """Nothing listens on the recorded port: every component stopped, exit code 3 for scripts, the demo
    services still shown, and the same facts under --json."""
    port, demo_api_port = free_port(), free_port()
    _recorded(tmp_path, port, demo_api_port)
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW_PORT", "DEMO_API_PORT")}
    run = [sys.executable, str(SCRIPT), "--home", str(tmp_path), "status"]
    text = subprocess.run(run, capture_output=True, text=True, check=False, env=env)
    assert text.returncode == 3, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"Airflow at http://127.0.0.1:{port}: NOT RUNNING (start it with `make run`)"
    for name in (
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "demo-api",
        "kafka-broker",
        "sensor-producer",
    ):
        assert any(line.split()[:2] == [name, "stopped"] for line in lines), (name, lines)
    assert "DAGs: unknown while Airflow is not running" in lines
    as_json = subprocess.run([*run, "--json"], capture_output=True, text=True, check=False, env=env)
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    assert report["exit_code"] == 3 and report["dags"] is None and report["health"] is None
    assert {name: c["state"] for name, c in report["components"].items()} == dict.fromkeys(
        ("api-server", "scheduler", "dag-processor", "triggerer", "demo-api", "kafka-broker", "sensor-producer"),
        "stopped",
    )
    assert report["components"]["demo-api"]["url"] == f"http://127.0.0.1:{demo_api_port}/health"


def test_a_component_whose_process_is_gone_is_stopped_and_a_live_one_that_does_not_answer_is_unhealthy(
    tmp_path: Path,
) -> None:
    """State from the pid file and the probe: a stale pid file is stopped (and removed), a live process whose
    port does not answer is running but unhealthy."""
    af = LocalAirflow(home=tmp_path, port=free_port(), demo_api_port=free_port())
    (tmp_path / "run").mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "run" / "demo-api.pid").write_text(str(sleeper.pid))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "run" / "scheduler.pid").write_text(str(dead.pid))
        report = af.status()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert report["components"]["demo-api"]["state"] == "unhealthy"
    assert report["components"]["demo-api"]["pid"] == sleeper.pid
    assert "does not answer" in report["components"]["demo-api"]["detail"]
    assert report["components"]["scheduler"]["state"] == "stopped"
    assert not (tmp_path / "run" / "scheduler.pid").exists()
