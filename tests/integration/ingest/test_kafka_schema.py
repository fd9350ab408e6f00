"""KafkaIngestOperator's ``json_schema`` and ``group_id`` against a real Kafka-protocol broker (Tansu on
loopback, ``tests/kafka_broker.py``): schema violations of every kind are quarantined and
dead-lettered with their coordinates while the batch goes on; a bad schema fails before any read; two
operators with their own ``group_id`` commit to their own groups."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.integration.ingest.test_kafka import context, group_offsets, landed, operator, quarantined, topic
from tests.kafka_broker import produce, read_topic

__all__ = ["topic"]  # the fixture

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["device", "seq", "temp", "status"],
    "additionalProperties": False,
    "properties": {
        "device": {"type": "string", "minLength": 1},
        "seq": {"type": "integer", "minimum": 0},
        "temp": {"type": ["number", "null"]},
        "status": {"enum": ["ok", "degraded"]},
        "at": {"type": "string", "format": "date-time"},
    },
}
#: each violation (as the value is built from a good one) and the reason it is quarantined with
VIOLATIONS = {
    "wrong type": ({"temp": "hot"}, "$.temp: 'hot' is not of type 'number', 'null'"),
    "missing required": ({"device": None}, "$: 'device' is a required property"),
    "extra property": ({"firmware": "1.2.3"}, "$: Additional properties are not allowed ('firmware' was unexpected)"),
    "enum": ({"status": "broken"}, "$.status: 'broken' is not one of ['ok', 'degraded']"),
    "format": ({"at": "yesterday"}, "$.at: 'yesterday' is not a 'date-time'"),
    "bound": ({"seq": -1}, "$.seq: -1 is less than the minimum of 0"),
    # not ASCII: the reader's slow path validates too
    "not ascii": ({"device": "capteur-é", "temp": "chaud"}, "$.temp: 'chaud' is not of type 'number', 'null'"),
}


def _reading(i: int) -> dict:
    return {"device": f"d{i % 7}", "seq": i, "temp": 20.0 + i % 5, "status": "ok", "at": "2026-12-01T12:00:00Z"}


def _violation(i: int, change: dict) -> bytes:
    value = {**_reading(i), **change}
    return json.dumps({k: v for k, v in value.items() if v is not None}, ensure_ascii=False).encode()


def test_schema_violations_of_every_kind_are_quarantined_and_dead_lettered(kafka_broker, topic, tmp_path) -> None:
    n = 500
    values = [json.dumps(_reading(i)).encode() for i in range(n)]
    bad = {}  # seq -> (kind, reason)
    for j, (kind, (change, reason)) in enumerate(VIOLATIONS.items()):
        seq = 37 + 61 * j
        values[seq] = _violation(seq, change)
        bad[seq] = (kind, reason)
    produce(kafka_broker, topic, values, [f"d{i % 7}".encode() for i in range(n)])
    schema_file = tmp_path / "events.schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    result = operator(tmp_path, topic, json_schema=str(schema_file)).execute(context(0))  # an absolute path

    k = len(VIOLATIONS)
    seq_of = {values[seq]: seq for seq in bad}  # the value as produced -> its position
    frame = landed(result)
    assert len(frame) == n - k
    assert sorted(frame["seq"]) == [i for i in range(n) if i not in bad]
    quarantine = quarantined(result)
    assert len(quarantine) == k
    assert set(quarantine["rule"]) == {"schema_violation"}
    by_seq = {}  # seq -> (the quarantined record with its Kafka coordinates, the quarantine row)
    for _, row in quarantine.iterrows():
        record = json.loads(row["record"])
        by_seq[seq_of[record["_raw_line"].encode()]] = (record, row)
    assert sorted(by_seq) == sorted(bad)
    for seq, (record, row) in by_seq.items():
        assert row["reason"] == bad[seq][1], bad[seq][0]
        assert record["_kafka_key"] == f"d{seq % 7}" and record["_kafka_partition"] in (0, 1, 2)
        assert record["_kafka_timestamp"].startswith("20")
        assert row["source"] == f"kafka://{topic}:{row['input_position']}"
    assert (result["accounting"]["rows_in"], result["accounting"]["rows_out"]) == (n, n - k)
    assert result["accounting"]["rows_quarantined"] == k
    assert result["kafka"]["by_rule"] == {"schema_violation": k}

    dead = read_topic(kafka_broker, f"{topic}-dlt", expected=k)
    assert len(dead) == k
    for message in dead:
        headers = dict(message.headers())
        seq = seq_of[message.value()]
        record, row = by_seq[seq]
        assert headers["dlt.rule"] == b"schema_violation"
        assert headers["dlt.reason"].decode() == bad[seq][1]
        assert headers["dlt.topic"] == topic.encode()
        assert int(headers["dlt.partition"]) == record["_kafka_partition"]
        assert int(headers["dlt.offset"]) == row["input_position"]
        assert message.value() == values[seq] and message.key() == f"d{seq % 7}".encode()


def test_without_a_schema_the_same_messages_land(kafka_broker, topic, tmp_path) -> None:
    """The control of the test above: the record layer alone lets most of these violations through."""
    values = [json.dumps(_reading(i)).encode() for i in range(50)]
    values[10] = _violation(10, {"status": "broken"})
    values[20] = _violation(20, {"device": None})
    produce(kafka_broker, topic, values, [b"k"] * 50)
    result = operator(tmp_path, topic, columns=list(SCHEMA["properties"])).execute(context(0))
    assert (result["dataset"]["rows"], result["quarantine"]["rows"]) == (50, 0)


@pytest.mark.parametrize(
    ("json_schema", "shown"),
    [
        ({"type": "object", "properties": {"temp": {"type": "numbr"}}}, r"json_schema=\{.*not a valid JSON Schema"),
        ("schemas/no_such.schema.json", r"json_schema='schemas/no_such.schema.json': no such file: .*/include/"),
        ({"properties": {"at": {"format": "date-tim"}}}, r"json_schema=\{.*format \['date-tim'\] cannot be checked"),
    ],
)
def test_a_bad_schema_or_a_missing_file_fails_before_any_read(
    kafka_broker, topic, tmp_path, json_schema, shown
) -> None:
    produce(kafka_broker, topic, [json.dumps(_reading(0)).encode()], [b"k"])
    with pytest.raises(AirflowFailException, match=shown):
        operator(tmp_path, topic, json_schema=json_schema).execute(context(0))
    assert not list(tmp_path.glob("**/_manifest.json")) and not list(tmp_path.glob("_kafka_offsets/**/*.json"))
    assert set(group_offsets(kafka_broker, f"pipeline-{topic}", topic).values()) == {-1001}


def test_the_shipped_sensor_schema_is_found_relative_to_include(kafka_broker, topic, tmp_path) -> None:
    good = {"device_id": "sensor-001", "event_time": "2026-12-01T12:00:00.000Z", "temperature_c": None,
            "humidity_pct": 40.0}  # fmt: skip
    values = [json.dumps(good).encode(), json.dumps({**good, "temperature_c": "hot"}).encode()]
    produce(kafka_broker, topic, values, [b"sensor-001"] * 2)
    result = operator(tmp_path, topic, json_schema="schemas/sensor_reading.schema.json").execute(context(0))
    assert (result["dataset"]["rows"], result["quarantine"]["rows"]) == (1, 1)
    assert quarantined(result)["reason"].tolist() == ["$.temperature_c: 'hot' is not of type 'number', 'null'"]


def test_two_operators_with_their_own_group_id_commit_to_their_own_groups(kafka_broker, topic, tmp_path) -> None:
    values = [json.dumps(_reading(i)).encode() for i in range(300)]
    produce(kafka_broker, topic, values, [f"d{i % 7}".encode() for i in range(300)])
    # two sources of one topic (as the two sensor DAGs are: their own ledgers and datasets)
    first = operator(tmp_path / "a", topic, source_id=f"a.{topic}", group_id=f"group-a-{topic}", max_messages=100)
    second = operator(tmp_path / "b", topic, source_id=f"b.{topic}", group_id=f"group-b-{topic}")
    a = first.execute(context(0))
    b = second.execute(context(0))
    # what a group holds: the end of each range read (a partition not read yet: nothing committed, -1001)
    ends_a = {r["partition"]: r["end"] if r["end"] > r["first"] else -1001 for r in a["kafka"]["ranges"]}
    ends_b = {r["partition"]: r["end"] if r["end"] > r["first"] else -1001 for r in b["kafka"]["ranges"]}
    assert a["dataset"]["rows"] == 100 and b["dataset"]["rows"] == 300
    assert group_offsets(kafka_broker, f"group-a-{topic}", topic) == ends_a  # not overwritten by the second
    assert group_offsets(kafka_broker, f"group-b-{topic}", topic) == ends_b
    # the connection's group (pipeline-<topic>) was not used by either
    assert set(group_offsets(kafka_broker, f"pipeline-{topic}", topic).values()) == {-1001}
    # and each next batch starts where its own source ended
    again = operator(tmp_path / "a", topic, source_id=f"a.{topic}", group_id=f"group-a-{topic}").execute(context(1))
    assert again["dataset"]["rows"] == 200
    assert group_offsets(kafka_broker, f"group-a-{topic}", topic) == ends_b


def test_a_bad_group_id_names_the_field(kafka_broker, topic, tmp_path) -> None:
    with pytest.raises(AirflowFailException, match="group_id=''"):
        operator(tmp_path, topic, group_id="").execute(context(0))
