"""include/scripts/statsd_exporter.py: the StatsD line parser, the mapping file and the series it exposes
(the cases of statsd_exporter's own line and mapper tests that the project's traffic can meet)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from include.scripts.statsd_exporter import (
    COUNTER,
    GAUGE,
    OBSERVER,
    Event,
    Exporter,
    Mapper,
    MappingConfigError,
    escape_metric_name,
    main,
    parse_line,
)

MAPPING = Path(__file__).resolve().parents[2] / "include" / "monitoring" / "statsd_mapping.yml"


# -- the line protocol ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "events"),
    [
        ("foo:2|c", [Event(COUNTER, "foo", 2)]),
        ("foo:2|c|@0.1", [Event(COUNTER, "foo", 20)]),  # a sampled counter counts what it stands for
        ("foo:3|g", [Event(GAUGE, "foo", 3)]),
        ("foo:+3|g", [Event(GAUGE, "foo", 3, relative=True)]),
        ("foo:-3|g", [Event(GAUGE, "foo", -3, relative=True)]),
        ("foo:3|g|@0.5", [Event(GAUGE, "foo", 3)]),  # gauges ignore the rate
        ("foo:1500|ms", [Event(OBSERVER, "foo", 1.5)]),  # milliseconds -> seconds
        ("foo:1500|h", [Event(OBSERVER, "foo", 1500)]),
        ("foo:0.5|d", [Event(OBSERVER, "foo", 0.5)]),
        ("foo:10|ms|@0.5", [Event(OBSERVER, "foo", 0.01)] * 2),
        ("foo:1:2|ms", [Event(OBSERVER, "foo", 0.001), Event(OBSERVER, "foo", 0.002)]),  # extended aggregation
        ("foo:1|c:2|g", [Event(COUNTER, "foo", 1), Event(GAUGE, "foo", 2)]),  # several samples
        ("a.b,dag_id=d,task_id=t:1|c", [Event(COUNTER, "a.b", 1, {"dag_id": "d", "task_id": "t"})]),  # InfluxDB
        ("a.b:1|c|#dag_id:d,#task_id:t", [Event(COUNTER, "a.b", 1, {"dag_id": "d", "task_id": "t"})]),  # DogStatsD
        ("a.b#dag_id=d:1|c", [Event(COUNTER, "a.b", 1, {"dag_id": "d"})]),  # Librato
        ("a[dag_id=d].b:1|c", [Event(COUNTER, "a.b", 1, {"dag_id": "d"})]),  # SignalFx
        ("a,tag.name=v:1|c", [Event(COUNTER, "a", 1, {"tag_name": "v"})]),  # label names escaped
        ("a:1|c|#k:v|c:abc|T1656581400", [Event(COUNTER, "a", 1, {"k": "v", "container_id": "abc"})]),
        ("", []),
    ],
)
def test_lines_become_events(line: str, events: list[Event]) -> None:
    result = parse_line(line)
    assert result.events == events
    assert result.sample_errors == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("foo", "malformed_line"),
        (":1|c", "malformed_line"),
        ("foo:1", "not_enough_parts_after_colon"),
        ("foo:abc|c", "malformed_value"),
        ("foo:1|c||", "malformed_component"),
        ("foo:1|s", "illegal_event"),  # sets: not supported, as in statsd_exporter
        ("foo:1|x", "illegal_event"),
        ("foo:1:2|c", "invalid_extended_aggregate_type"),
        ("foo,a=b:1|c|#c:d", "mixed_tagging_styles"),
        ("foo:1|c|x", "invalid_sample_factor"),
    ],
)
def test_bad_lines_are_refused_with_the_reason(line: str, reason: str) -> None:
    result = parse_line(line)
    assert result.events == []
    assert result.sample_errors == [reason]


def test_malformed_tags_are_counted_and_the_rest_kept() -> None:
    result = parse_line("foo,a=1,broken,=x:1|c")
    assert result.events == [Event(COUNTER, "foo", 1, {"a": "1"})]
    assert result.tag_errors == 2


@pytest.mark.parametrize(
    ("name", "escaped"),
    [("airflow.ti.finish", "airflow_ti_finish"), ("a-b", "a_b"), ("a--b", "a_b"), ("1a", "_1a"), ("ok_1", "ok_1")],
)
def test_escape_metric_name(name: str, escaped: str) -> None:
    assert escape_metric_name(name) == escaped


# -- the mapping file ----------------------------------------------------------------------------------


def test_the_projects_mapping_maps_airflows_names() -> None:
    mapper = Mapper.load(MAPPING)
    found = mapper.find("airflow.dagrun.duration.success", OBSERVER)
    assert found is not None
    mapping, name, labels = found
    assert (name, labels) == ("airflow_dagrun_duration_seconds", {"state": "success"})
    assert mapping.observer_type == "histogram"
    assert mapping.buckets[0] == 1 and mapping.buckets[-1] == 7200
    assert mapper.find("airflow.ti.finish", COUNTER)[1:] == ("airflow_ti_finish_total", {})  # type: ignore[index]
    assert mapper.find("airflow.dagrun.duration", OBSERVER) is None  # a glob part is a whole part
    assert mapper.find("airflow.dagrun.duration.success.x", OBSERVER) is None
    assert mapper.find("airflow.serde.load", OBSERVER) is None


def test_first_glob_in_file_order_wins_then_regex() -> None:
    mapper = Mapper.from_yaml(
        """
mappings:
  - match: "a\\\\.(\\\\w+)\\\\.c"
    match_type: regex
    name: regex_${1}
  - match: a.*.c
    name: first_$1
    labels: {part: "$1", missing: "x${2}y"}  # no second capture: nothing
  - match: a.b.c
    name: second
  - match: a.*.*
    match_metric_type: gauge
    name: gauge_${1}_${2}
"""
    )
    assert mapper.find("a.b.c", COUNTER)[1:] == ("first_b", {"part": "b", "missing": "xy"})  # type: ignore[index]
    assert mapper.find("a.b.d", GAUGE)[1:] == ("gauge_b_d", {})  # type: ignore[index]
    assert mapper.find("a.b.d", COUNTER) is None  # match_metric_type
    assert mapper.find("x.a.b.c", COUNTER)[1:] == ("regex_b", {})  # type: ignore[index]  # regex: a search


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("mappings: [{match: a.b, name: x, ttl: 1m}]", "mappings[0]: unsupported keys ['ttl']"),
        ("mappings: [{match: a.b}]", "no metric name"),
        ("mappings: [{match: a.b, name: 'bad-name'}]", "mappings[0].name: 'bad-name'"),
        ("mappings: [{match: 'a..b', name: x}]", "mappings[0].match: invalid glob 'a..b'"),
        ("mappings: [{match: a.b, name: x, labels: {'1x': y}}]", "invalid label key '1x'"),
        ("mappings: [{match: a.b, name: x, observer_type: gauge}]", "invalid observer type 'gauge'"),
        ("mappings: [{match: '(', match_type: regex, name: x}]", "invalid regex '('"),
        ("mapping: []", "top level"),
    ],
)
def test_a_bad_mapping_file_fails_naming_the_field(text: str, names: str) -> None:
    with pytest.raises(MappingConfigError, match=None) as raised:
        Mapper.from_yaml(text)
    assert names in str(raised.value)


def test_check_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main([f"--statsd.mapping-config={MAPPING}", "--check-config"]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("mappings: [{match: a.b, name: x, scale: 2, timer_type: histogram, nope: 1}]")
    assert main([f"--statsd.mapping-config={bad}", "--check-config"]) == 2
    assert "unsupported keys ['nope']" in capsys.readouterr().err


# -- the series ----------------------------------------------------------------------------------------


def exposed(exporter: Exporter) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)  # type: ignore[arg-type]
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_airflow_datagrams_become_the_series_the_rules_query() -> None:
    exporter = Exporter(Mapper.load(MAPPING))
    exporter.handle_packet(
        b"airflow.ti.finish,dag_id=d,task_id=t,state=success:1|c\n"
        b"airflow.ti.finish,dag_id=d,task_id=t,state=success:1|c\n"
        b"airflow.dagrun.duration.success,dag_id=d,run_type=manual:3000|ms\n"
        b"airflow.scheduler_heartbeat:1|c\n"
        b"airflow.executor.open_slots:4|g\n"
        b"airflow.executor.open_slots:-1|g\n"
        b"airflow.serde.load:12|ms"
    )
    samples = exposed(exporter)
    assert samples["airflow_ti_finish_total"] == {(("dag_id", "d"), ("state", "success"), ("task_id", "t")): 2}
    run = (("dag_id", "d"), ("run_type", "manual"), ("state", "success"))
    assert samples["airflow_dagrun_duration_seconds_count"] == {run: 1}
    assert samples["airflow_dagrun_duration_seconds_sum"] == {run: 3}
    buckets = {dict(k)["le"]: v for k, v in samples["airflow_dagrun_duration_seconds_bucket"].items()}
    assert buckets == {"1": 0, "5": 1, "15": 1, "60": 1, "300": 1, "900": 1, "1800": 1, "3600": 1, "7200": 1,
                       "+Inf": 1}  # fmt: skip
    assert samples["airflow_scheduler_heartbeat_total"] == {(): 1}
    assert samples["airflow_executor_open_slots"] == {(): 3}  # unmapped: dots to underscores; a delta
    assert samples["airflow_serde_load_count"] == {(): 1}  # unmapped timer: a summary
    assert samples["airflow_serde_load"][(("quantile", "0.5"),)] == 0.012
    assert samples["statsd_exporter_events_unmapped_total"] == {(): 3}
    assert samples["statsd_exporter_lines_total"] == {(): 7}


def test_unmapped_counters_keep_their_name() -> None:
    exporter = Exporter(Mapper())
    exporter.handle_line("airflow.dag_processing.processes:1|c")
    assert exposed(exporter)["airflow_dag_processing_processes"] == {(): 1}


def test_what_is_refused_is_counted() -> None:
    exporter = Exporter(Mapper())
    for line in ("foo:1|c", "foo:2|g", "foo:-1|c", "bad", "x,a=1,b:1|c", "h:1|ms", "h_count:1|c"):
        exporter.handle_line(line)
    samples = exposed(exporter)
    assert samples["foo"] == {(): 1}  # the counter; the gauge of the same name conflicts
    assert samples["statsd_exporter_events_conflict_total"] == {
        (("metric_name", "foo"), ("type", "gauge")): 1,
        (("metric_name", "h_count"), ("type", "counter")): 1,  # the summary's _count
    }
    assert samples["statsd_exporter_events_error_total"] == {(("reason", "illegal_negative_counter"),): 1}
    assert samples["statsd_exporter_sample_errors_total"] == {(("reason", "malformed_line"),): 1}
    assert samples["statsd_exporter_tag_errors_total"] == {(): 1}


def test_mapping_labels_scale_honor_labels_and_drop() -> None:
    exporter = Exporter(
        Mapper.from_yaml(
            """
mappings:
  - match: job.*.ms
    name: job_seconds_total
    scale: 0.001
    labels: {job: "$1", source: mapping}
    honor_labels: true
  - match: noise.*
    name: dropped
    action: drop
"""
        )
    )
    exporter.handle_line("job.load.ms,source=sender:1500|c")
    exporter.handle_line("noise.x:1|c")
    samples = exposed(exporter)
    assert samples["job_seconds_total"] == {(("job", "load"), ("source", "sender")): 1.5}
    assert "dropped" not in samples and "noise_x" not in samples
    assert samples["statsd_exporter_events_actions_total"] == {(("action", "drop"),): 1, (("action", "map"),): 1}


def test_a_summarys_quantiles_cover_the_last_ten_minutes() -> None:
    now = [0.0]
    exporter = Exporter(Mapper(), clock=lambda: now[0])
    for value in (100, 200, 300, 400):
        exporter.handle_line(f"t:{value}|ms")
    now[0] = 300
    exporter.handle_line("t:1000|ms")
    assert exposed(exporter)["t"][(("quantile", "0.5"),)] == 0.3
    now[0] = 700  # the first four are older than ten minutes
    samples = exposed(exporter)
    assert samples["t"][(("quantile", "0.5"),)] == 1.0
    assert samples["t_count"] == {(): 5}  # count and sum are of every observation
