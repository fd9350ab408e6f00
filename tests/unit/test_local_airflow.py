"""The local Airflow helper's command line (include/scripts/local_airflow.py): ports and shell exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.scripts.local_airflow import LocalAirflow, ports, shell_exports

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
    status = subprocess.run([*run, "status"], capture_output=True, text=True, check=True, env=env).stdout
    assert json.loads(status) == {"running": {}, "healthy": False, "url": "http://127.0.0.1:8093"}
