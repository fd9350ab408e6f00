"""The Docker stack, checked statically (no Docker engine runs here): the Dockerfile (parsed instruction by
instruction, hadolint-style rules) and docker-compose.yaml (services, health checks, pinned images, the
connections of airflow_settings.yaml, the Kafka topics, the bucket, the mounted monitoring files)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
REQUIRED_SERVICES = {
    "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    "airflow-worker-1", "airflow-worker-2", "kafka", "minio", "statsd-exporter", "prometheus", "grafana", "pushgateway",
}  # fmt: skip
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile: comments dropped, continuation lines joined."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "a continuation line at the end of the Dockerfile"
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((PROJECT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())


def substitute(value: str) -> str:
    """Compose's ``${VAR:-default}`` interpolation with the defaults (``$$`` is a literal ``$``)."""
    value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    value = re.sub(r"\$\{[A-Z0-9_]+\}", "", value)
    return value.replace("$$", "$")


def command_of(svc: dict) -> str:
    command = svc.get("command") or ""
    return " ".join(command) if isinstance(command, list) else command


def airflow_services(compose: dict) -> dict[str, dict]:
    """The long-running Airflow components (api-server, scheduler, ..., workers)."""
    return {name: svc for name, svc in compose["services"].items() if command_of(svc) in AIRFLOW_COMMANDS}


def requirement_pin(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (PROJECT / "requirements.txt").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


# -- Dockerfile ------------------------------------------------------------------------------------------


def test_dockerfile_parser_joins_continuations_and_drops_comments() -> None:
    parsed = instructions("# c\nFROM a:1\nRUN x \\\n  y\n\nuser me\n")
    assert parsed == [("FROM", "a:1"), ("RUN", "x  y"), ("USER", "me")]


def test_base_image_is_the_pinned_official_airflow(dockerfile: list[tuple[str, str]]) -> None:
    froms = [args for keyword, args in dockerfile if keyword == "FROM"]
    assert len(froms) == 1
    image, _, tag = froms[0].split()[0].partition(":")
    assert image == "apache/airflow"
    assert tag.startswith(requirement_pin("apache-airflow") + "-python3.11"), tag  # the venv's Airflow and Python
    args = dict(a.split("=", 1) for k, a in dockerfile if k == "ARG" and "=" in a)
    assert args["AIRFLOW_VERSION"] == requirement_pin("apache-airflow")


def test_hadolint_style_rules(dockerfile: list[tuple[str, str]]) -> None:
    text = (PROJECT / "Dockerfile").read_text()
    assert ":latest" not in text
    for keyword, args in dockerfile:
        assert keyword != "ADD" or not re.search(r"https?://", args), f"ADD of a URL: {args}"  # DL3020
        if keyword == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args, args  # DL3042
        if keyword == "RUN":
            assert not re.search(r"\bsudo\b", args), args  # DL3004
            assert not re.search(r"\bcd\s", args), args  # DL3003: WORKDIR instead
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users, "no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), "the image must not end as root"  # DL3002


def test_image_installs_the_pinned_requirements_and_the_project(dockerfile: list[tuple[str, str]]) -> None:
    copies = [shlex.split(args) for keyword, args in dockerfile if keyword == "COPY"]
    sources = {part.rstrip("/") for parts in copies for part in parts[:-1] if not part.startswith("--")}
    assert {"requirements.txt", "dags", "plugins", "include"} <= sources
    installs = [args for keyword, args in dockerfile if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 1
    assert re.search(r"-r\s+\S*requirements\.txt\b", installs[0]), installs[0]
    # the install runs as the airflow user (the official image refuses pip as root)
    position = dockerfile.index(("RUN", installs[0]))
    users = [args for keyword, args in dockerfile[:position] if keyword == "USER"]
    assert users and users[-1] == "airflow"
    ignored = (PROJECT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".git"} <= set(ignored)


# -- docker-compose.yaml ---------------------------------------------------------------------------------


def test_compose_has_the_whole_stack(compose: dict) -> None:
    assert set(compose["services"]) >= REQUIRED_SERVICES
    commands = {command_of(svc) for svc in compose["services"].values()}
    assert commands >= AIRFLOW_COMMANDS
    workers = [svc for svc in compose["services"].values() if svc.get("command") == "celery worker"]
    assert len(workers) >= 2
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")


def test_every_long_running_service_has_a_health_check(compose: dict) -> None:
    for name, svc in compose["services"].items():
        if name.endswith("-init"):
            assert "restart" not in svc, f"{name} is a one-shot service"
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert svc.get("restart") == "always", name


def test_dependencies_wait_for_health_or_completion(compose: dict) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no health check"
            else:
                assert spec["condition"] == "service_completed_successfully" and dep.endswith("-init"), (name, dep)


def test_images_are_pinned(compose: dict) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+|RELEASE\.\d{4}", tag), f"{name}: {image} has no exact version"
        assert repo


#: connections whose type differs on purpose in the stack (the embedded default is a SQLite file)
STACK_CONN_TYPES = {"warehouse_db": "postgres"}


def test_every_connection_of_airflow_settings_is_in_the_compose_environment(compose: dict) -> None:
    settings = yaml.safe_load((PROJECT / "airflow_settings.yaml").read_text())["airflow"]
    services = airflow_services(compose)
    assert set(services) >= {"airflow-apiserver", "airflow-scheduler", "airflow-worker-1", "airflow-worker-2"}
    for conn in settings["connections"]:
        var = "AIRFLOW_CONN_" + conn["conn_id"].upper()
        for name, svc in services.items():
            assert var in svc["environment"], f"{name} lacks {var}"
            value = json.loads(substitute(svc["environment"][var]))
            assert value["conn_type"] == STACK_CONN_TYPES.get(conn["conn_id"], conn["conn_type"]), (var, value)
    for variable in settings.get("variables", []):
        var = "AIRFLOW_VAR_" + variable["variable_name"].upper()
        assert services["airflow-scheduler"]["environment"][var] == variable["variable_value"]


def test_connections_point_at_services_of_the_stack(compose: dict) -> None:
    env = compose["services"]["airflow-worker-1"]["environment"]
    services = set(compose["services"])
    conns = {k: json.loads(substitute(v)) for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    assert conns["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["bootstrap.servers"].split(":")[0] in services
    assert conns["AIRFLOW_CONN_KAFKA_DEFAULT"]["extra"]["enable.auto.commit"] == "false"
    assert urlsplit(conns["AIRFLOW_CONN_MINIO"]["extra"]["endpoint_url"]).hostname in services
    assert conns["AIRFLOW_CONN_PIPELINE_METRICS"]["host"] in services
    assert conns["AIRFLOW_CONN_DEMO_API"]["host"] in services
    assert env["AIRFLOW__METRICS__STATSD_HOST"] in services
    for key in ("DATAFRAME_PIPELINE_STORAGE_ROOT", "DATAFRAME_PIPELINE_CURATED_ROOT"):
        root = urlsplit(env[key])
        assert root.scheme == "s3"
        assert f"AIRFLOW_CONN_{root.username.upper()}" in conns, key


def test_kafka_runs_kraft_and_the_init_creates_the_pipeline_topics(compose: dict) -> None:
    kafka = compose["services"]["kafka"]
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    dag = (PROJECT / "dags" / "sensor_stream_pipeline.py").read_text()
    topic = re.search(r'os\.environ\.get\("SENSOR_TOPIC", "([^"]+)"\)', dag).group(1)
    assert 'dead_letter_topic=f"{TOPIC}-dlt"' in dag
    script = compose["services"]["kafka-init"]["command"][-1]
    created = set(re.findall(r"--create .*?--topic (\S+)", script))
    assert created == {topic, f"{topic}-dlt"}


def test_minio_init_creates_the_bucket_of_the_lake(compose: dict) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    bucket = urlsplit(env["DATAFRAME_PIPELINE_STORAGE_ROOT"]).hostname
    script = compose["services"]["minio-init"]["command"][-1]
    assert re.search(rf"mc mb (--ignore-existing )?local/{bucket}\b", script), script


def test_mounted_project_files_exist(compose: dict) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT / source).exists(), f"{name} mounts missing {source}"
    prometheus = {v.split(":")[1] for v in compose["services"]["prometheus"]["volumes"]}
    config = yaml.safe_load((PROJECT / "include" / "monitoring" / "prometheus.yml").read_text())
    assert set(config["rule_files"]) <= prometheus
    targets = {t.split(":")[0] for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]}
    assert targets - {"localhost"} <= set(compose["services"])


def test_ci_workflow_runs_lint_and_test_with_the_databases() -> None:
    workflow = yaml.safe_load((PROJECT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.startswith("make lint") for run in runs)
    assert any(run.startswith("make test") for run in runs)
    services = workflow["jobs"]["test"]["services"]
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["mariadb"]["ports"] == ["3306:3306"]
    assert all("--health-cmd" in svc["options"] for svc in services.values())
    assert workflow["jobs"]["test"]["env"]["CI"] == "true"
    pythons = {s["with"]["python-version"] for j in workflow["jobs"].values() for s in j["steps"] if "with" in s}
    assert pythons == {"3.11"}
