"""ingest/kafka/schema.py: loading a message schema, the reasons of violations, and the compiled
predicate against jsonschema's own verdict."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for

from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.ingest.kafka.schema import MessageSchema, _compile, load_json_schema
from dataframe_pipeline.ingest.kafka.source import KafkaSource

PROJECT = Path(__file__).resolve().parents[3]
SENSOR = json.loads((PROJECT / "include" / "schemas" / "sensor_reading.schema.json").read_text())
READING = {"device_id": "sensor-001", "event_time": "2026-12-01T12:00:00.000Z", "temperature_c": 20.5,
           "humidity_pct": 40.0}  # fmt: skip


def test_a_mapping_is_taken_as_it_is_and_a_path_is_relative_to_the_base(tmp_path) -> None:
    schema = {"type": "object", "required": ["a"]}
    assert load_json_schema(schema, tmp_path) == schema
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "a.schema.json").write_text(json.dumps(schema))
    assert load_json_schema("schemas/a.schema.json", tmp_path) == schema
    assert load_json_schema(str(tmp_path / "schemas" / "a.schema.json"), PROJECT) == schema
    assert load_json_schema("schemas/sensor_reading.schema.json", PROJECT / "include") == SENSOR


@pytest.mark.parametrize(
    ("value", "content", "problem"),
    [
        ("schemas/none.schema.json", None, "no such file"),
        ("bad.json", "{not json", "is not JSON"),
        ("list.json", "[1, 2]", "holds a JSON list"),
        ("schema.yaml", None, "the path of a .json file"),
        (42, None, "must be a JSON Schema"),
        ({"type": "strin"}, None, "not a valid JSON Schema"),
        ({"properties": {"a": {"minimum": "zero"}}}, None, r"\$.properties.a.minimum: 'zero' is not of type"),
        ({"properties": {"a": {"format": "no-such-format"}}}, None, r"format \['no-such-format'\] cannot be checked"),
    ],
)
def test_a_bad_schema_or_path_names_json_schema_and_the_value(tmp_path, value, content, problem) -> None:
    if content is not None:
        (tmp_path / value).write_text(content)
    with pytest.raises(ConfigurationError, match=problem) as caught:
        load_json_schema(value, tmp_path)
    assert caught.value.field == "json_schema"
    assert str(caught.value).startswith(f"json_schema={str(value) if isinstance(value, str) else value!r}")


def test_kafka_source_checks_its_schema() -> None:
    KafkaSource(topics=("t",), json_schema=SENSOR).validate()
    with pytest.raises(ConfigurationError, match="json_schema"):
        KafkaSource(topics=("t",), json_schema={"type": 3}).validate()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"temperature_c": "hot"}, "$.temperature_c: 'hot' is not of type 'number', 'null'"),
        ({"device_id": None}, "$.device_id: None is not of type 'string'"),
        ({"firmware": "1.2.3"}, "$: Additional properties are not allowed ('firmware' was unexpected)"),
        ({"event_time": "yesterday"}, "$.event_time: 'yesterday' is not a 'date-time'"),
        ({"humidity_pct": 140.0}, "$.humidity_pct: 140.0 is greater than the maximum of 100"),
        ({"device_id": "sensor 001"}, "$.device_id: 'sensor 001' does not match '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'"),
    ],
)
def test_a_violation_is_named_by_its_json_path_and_jsonschema_message(change, reason) -> None:
    schema = MessageSchema.of(SENSOR)
    assert schema.violation(READING) is None
    assert schema.violation({**READING, **change}) == reason


def test_a_missing_field_and_more_errors_are_counted() -> None:
    schema = MessageSchema.of(SENSOR)
    reading = {k: v for k, v in READING.items() if k != "device_id"}
    assert schema.violation(reading) == "$: 'device_id' is a required property"
    # jsonschema's best_match: the error nearest the root first
    assert schema.violation({**reading, "temperature_c": "hot"}) == "$: 'device_id' is a required property (and 1 more)"
    enum = MessageSchema.of({"properties": {"status": {"enum": ["ok", "degraded"]}}})
    assert enum.violation({"status": "broken"}) == "$.status: 'broken' is not one of ['ok', 'degraded']"


def test_a_long_bad_value_is_cut_in_the_reason() -> None:
    reason = MessageSchema.of({"properties": {"a": {"type": "number"}}}).violation({"a": "x" * 5000})
    assert reason is not None and reason.startswith("$.a: 'xxx") and len(reason) < 600 and reason.endswith("...")


# -- the compiled predicate ---------------------------------------------------------------------

SCHEMAS: list[dict[str, Any]] = [
    SENSOR,
    {"$schema": "http://json-schema.org/draft-07/schema#", **{k: v for k, v in SENSOR.items() if k != "$schema"}},
    {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
    {"type": ["string", "null"], "minLength": 2, "maxLength": 4, "pattern": "a"},
    {"enum": ["ok", 1, None, True, 2.5]},
    {"const": 0},
    {"const": False},
    {"exclusiveMinimum": -1.5, "maximum": 1},
    {"properties": {"a": {"type": "boolean"}, "b": False, "c": True}, "additionalProperties": {"type": "string"}},
    {"required": ["a", "b"], "properties": {"a": {"properties": {"x": {"type": "number"}}, "required": ["x"]}}},
    {"type": "object", "properties": {"t": {"format": "date-time"}, "d": {"format": "date"}}},
    {"type": ["number", "boolean", "array", "object"]},
    False,
    True,
]
SCALARS: list[Any] = [None, True, False, 0, 1, -1, 10, 1.0, 2.5, -999.0, 100, 140.0, -1.5, math.nan, math.inf,
                      "", "a", "ab", "abcd", "abcde", "hot", "sensor-001", "2026-12-01T12:00:00Z",
                      "2026-12-01T12:00:00.000+00:00", "2026-13-01T12:00:00Z", "2026-12-01", "é", [], [1],
                      {}]  # fmt: skip
KEYS = ["device_id", "event_time", "temperature_c", "humidity_pct", "a", "b", "c", "x", "t", "d", "firmware"]


def _instances(rng: random.Random, n: int) -> list[Any]:
    found: list[Any] = list(SCALARS)
    for _ in range(n):
        keys = rng.sample(KEYS, rng.randrange(len(KEYS)))
        value = {k: rng.choice(SCALARS) for k in keys}
        if "a" in value and rng.random() < 0.5:
            value["a"] = {"x": rng.choice(SCALARS)}
        found.append(value)
    found.extend({**READING, **{k: rng.choice(SCALARS)}} for k in READING for _ in range(20))
    return found


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: json.dumps(s)[:60])
def test_the_compiled_predicate_accepts_exactly_what_jsonschema_accepts(schema) -> None:
    cls = validator_for(schema)
    reference = cls(schema, format_checker=cls.FORMAT_CHECKER)
    fast = _compile(schema, cls.FORMAT_CHECKER)
    assert fast is not None, "these keywords are all compiled"
    values = _instances(random.Random(7), 3000)
    verdicts = [(value, reference.is_valid(value), fast(value)) for value in values]
    assert [v for v, valid, quick in verdicts if quick and not valid] == []  # a True is the verdict
    missed = [v for v, valid, quick in verdicts if valid and not quick]
    if schema is not True and schema is not False and schema.get("type") == "integer":
        # jsonschema's integers include 1.0: the predicate leaves those to it
        assert missed and all(isinstance(v, float) and v.is_integer() for v in missed)
    else:
        assert missed == []
    assert any(valid for _, valid, _ in verdicts) or schema is False
    if isinstance(schema, dict):
        compiled = MessageSchema.of(schema)
        assert [v for v, valid, _ in verdicts if (compiled.violation(v) is None) != valid] == []


def test_the_predicate_leaves_to_jsonschema_what_it_does_not_compile() -> None:
    referenced = MessageSchema.of({"$defs": {"n": {"type": "number"}}, "properties": {"a": {"$ref": "#/$defs/n"}}})
    assert MessageSchema.of(SENSOR).fast is not None and referenced.fast is None
    assert MessageSchema.of({"anyOf": [{"type": "string"}, {"type": "number"}]}).fast is None
    assert MessageSchema.of({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}).fast is None
    assert referenced.violation({"a": 1}) is None
    assert referenced.violation({"a": "x"}) == "$.a: 'x' is not of type 'number'"
    # an integer-valued float is an integer for jsonschema: the predicate says no, jsonschema yes
    integer = MessageSchema.of({"type": "integer"})
    assert integer.fast is not None and not integer.fast(1.0) and integer.violation(1.0) is None
