"""JSON Schema validation of Kafka message values: :func:`load_json_schema` (a mapping, or the path of
a ``.json`` file) and :class:`MessageSchema` (the validator, built once, and the reason of a violation).

The verdict and the reason are jsonschema's, for any draft it knows (``$schema``; the latest without
one). A measurement says why there is more here than one ``validator.is_valid`` call per message:
jsonschema takes ~27 us for a four-field sensor reading, when the whole reader takes ~10 us per
message. So a schema made only of the common keywords (``type``, ``properties``, ``required``,
``additionalProperties``, ``enum``, ``const``, numeric bounds, string lengths, ``pattern``,
``format``; draft 6 and later) is also compiled into a plain predicate that accepts only what
jsonschema accepts (``tests/unit/ingest/test_kafka_schema.py`` compares them: they agree but for
integer-valued floats, which the predicate leaves to jsonschema). A message the predicate refuses, and
every message of a schema with other keywords (``$ref``, ``anyOf``, ``items``, ...), goes to
jsonschema, whose answer counts: the predicate only spares the call for the messages that are valid.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataframe_pipeline.exceptions import ConfigurationError

FIELD = "json_schema"
#: how much of jsonschema's message a reason keeps (it shows the bad value, which may be large)
REASON_CHARS = 500

Check = Callable[[Any], bool]

#: keywords that never change a verdict
_ANNOTATIONS = frozenset({"$schema", "$id", "$anchor", "$comment", "$defs", "definitions", "title", "description",
                          "default", "examples", "deprecated", "readOnly", "writeOnly"})  # fmt: skip
#: the keywords the predicate implements; a schema (or subschema) with any other goes to jsonschema whole
_COMPILED = frozenset({"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                       "minLength", "maxLength", "pattern", "format", "properties", "required",
                       "additionalProperties"})  # fmt: skip
#: values of these keywords are data, not schemas (a ``format`` key there is not the keyword)
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})


def load_json_schema(value: Any, base: Path) -> dict[str, Any]:
    """The schema ``value`` names: a mapping as it is, or a ``.json`` file (relative to ``base``), checked.

    Raises :class:`ConfigurationError` naming ``json_schema`` and the value for a missing or unreadable
    file, a value that is not JSON or not an object, or a schema that is not valid for its draft.
    """
    if isinstance(value, Mapping):
        schema = dict(value)
    elif isinstance(value, str | Path) and str(value).endswith(".json"):
        path = Path(value) if Path(value).is_absolute() else base / value
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(FIELD, str(value), f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(FIELD, str(value), f"cannot read {path}: {exc}") from None
        except ValueError as exc:
            raise ConfigurationError(FIELD, str(value), f"{path} is not JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise ConfigurationError(FIELD, str(value), f"{path} holds a JSON {type(schema).__name__}, not a schema")
    else:
        raise ConfigurationError(FIELD, value, "must be a JSON Schema (a mapping) or the path of a .json file")
    MessageSchema.of(schema, shown=value if not isinstance(value, Mapping) else None)
    return schema


@dataclass(frozen=True)
class MessageSchema:
    """A checked JSON Schema, ready for one call per message.

    :param validator: jsonschema's validator of the schema (with a format checker if it uses ``format``).
    :param fast: the compiled predicate (True: valid), or None when the schema uses other keywords.
    """

    validator: Any
    fast: Check | None

    @classmethod
    def of(cls, schema: Mapping[str, Any], shown: Any = None) -> MessageSchema:
        """Check ``schema`` (:class:`ConfigurationError` naming ``json_schema`` and ``shown``, default
        the schema) and build its validator once."""
        from jsonschema import Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        shown = schema if shown is None else str(shown)
        if not isinstance(schema, Mapping):
            raise ConfigurationError(FIELD, shown, "must be a JSON Schema (a mapping)")
        schema = dict(schema)
        validator_class = validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except SchemaError as exc:
            where = exc.json_path if hasattr(exc, "json_path") else "$"
            raise ConfigurationError(
                FIELD, shown, f"not a valid JSON Schema ({validator_class.__name__}): {where}: {exc.message}"
            ) from None
        formats = _formats(schema)
        checker = None
        if formats:
            checker = validator_class.FORMAT_CHECKER
            unknown = sorted(formats - set(checker.checkers))
            if unknown:
                raise ConfigurationError(FIELD, shown, f"format {unknown} cannot be checked here (jsonschema "
                                         f"checks {sorted(checker.checkers)})")  # fmt: skip
        validator = validator_class(schema, format_checker=checker)
        drafts = (Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator)
        fast = _compile(schema, checker) if validator_class in drafts else None
        return cls(validator, fast)

    def violation(self, value: Any) -> str | None:
        """None if ``value`` is valid; else the most relevant error as ``<JSON path>: <message>``."""
        if self.fast is not None and self.fast(value):
            return None
        from jsonschema.exceptions import best_match
        from referencing.exceptions import Unresolvable

        try:
            errors = list(self.validator.iter_errors(value))
        except Unresolvable as exc:
            raise ConfigurationError(FIELD, self.validator.schema, f"cannot resolve a reference: {exc}") from None
        if not errors:
            return None
        best = best_match(errors)
        message = best.message if len(best.message) <= REASON_CHARS else best.message[:REASON_CHARS] + "..."
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{best.json_path}: {message}{more}"


def _formats(schema: Any) -> set[str]:
    """The ``format`` values a schema uses, at any depth."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            found.add(schema["format"])
        for key, value in schema.items():
            if key not in _DATA_KEYWORDS:
                found |= _formats(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _formats(value)
    return found


# -- the compiled predicate -------------------------------------------------------------------
# Each check mirrors jsonschema's keyword function (jsonschema/_keywords.py) for drafts 6 to 2020-12: a
# keyword applies only to instances of its type, and comparisons are written as jsonschema's are. Only
# a True must be exact: a False sends the value to jsonschema. So types are tested by the exact classes
# json.loads makes (a subclass, or an integer-valued float for "integer", is left to jsonschema).

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),  # type(True) is bool: booleans are not numbers here, as in JSON Schema
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_NUMBERS = frozenset(_TYPES["number"])


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all(checks: list[Check]) -> Check:
    """One predicate for several (no generator per call: this runs for every message)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    def every(value: Any) -> bool:
        for check in checks:  # noqa: SIM110 - a loop, not all(): no generator per message
            if not check(value):
                return False
        return True

    return every


def _scalar_equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal`` for scalars: ``True`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    return bool(one == two)


def _compile(schema: Any, checker: Any) -> Check | None:
    """A predicate that is True only where jsonschema finds ``schema`` valid, or None if it uses a
    keyword not implemented here."""
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict) or set(schema) - _COMPILED - _ANNOTATIONS:
        return None
    checks: list[Check | None] = [
        _type_check(schema), _value_check(schema), *_number_checks(schema), *_string_checks(schema, checker),
        _object_check(schema, checker),
    ]  # fmt: skip
    if any(check is None for check in checks):
        return None
    return _all([check for check in checks if check is not None and check is not _always])


def _type_check(schema: dict[str, Any]) -> Check | None:
    if "type" not in schema:
        return _always
    names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
    if not all(isinstance(n, str) and n in _TYPES for n in names):
        return None
    allowed = frozenset(t for n in names for t in _TYPES[n])
    if len(allowed) == 1:
        (only,) = allowed
        return lambda value: type(value) is only
    return lambda value: type(value) in allowed


def _value_check(schema: dict[str, Any]) -> Check | None:
    tests = [list(schema["enum"])] if "enum" in schema else []
    if "const" in schema:
        tests.append([schema["const"]])
    if not tests:
        return _always
    if not all(v is None or isinstance(v, str | int | float) for values in tests for v in values):
        return None  # arrays and objects compare deeply: left to jsonschema
    return lambda value: all(any(_scalar_equal(value, v) for v in values) for values in tests)


#: each bound and the comparison that makes a number invalid (as jsonschema writes it)
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "minimum": operator.lt, "maximum": operator.gt, "exclusiveMinimum": operator.le, "exclusiveMaximum": operator.ge,
}  # fmt: skip


def _number_checks(schema: dict[str, Any]) -> list[Check | None]:
    checks: list[Check | None] = []
    for keyword, invalid in _BOUNDS.items():
        if keyword in schema:
            bound = schema[keyword]
            checks.append(_bound_check(invalid, bound) if type(bound) in _NUMBERS else None)
    return checks


def _bound_check(invalid: Callable[[Any, Any], bool], bound: Any) -> Check:
    numbers = _NUMBERS
    return lambda value: type(value) not in numbers or not invalid(value, bound)


def _string_checks(schema: dict[str, Any], checker: Any) -> list[Check | None]:
    checks: list[Check | None] = []
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda v: type(v) is not str or not len(v) < low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        checks.append(lambda v: type(v) is not str or not len(v) > high)
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: type(v) is not str or search(v) is not None)
    if "format" in schema and checker is not None:
        checks.append(_format_check(checker, schema["format"]))
    return checks


def _format_check(checker: Any, name: Any) -> Check:
    """FormatChecker.conforms without its per-call overhead: the checker's function, falsy or raising = False."""
    if name not in checker.checkers:
        return _always  # jsonschema ignores a format it has no checker for (MessageSchema.of refuses those)
    function = checker.checkers[name][0]

    def conforms(value: Any) -> bool:
        try:
            return bool(function(value))
        except Exception:  # whatever it raised, jsonschema says what it means
            return False

    return conforms


def _object_check(schema: dict[str, Any], checker: Any) -> Check | None:
    if not {"properties", "required", "additionalProperties"} & set(schema):
        return _always
    properties: dict[str, Check] = {}
    for name, subschema in (schema.get("properties") or {}).items():
        check = _compile(subschema, checker)
        if check is None:
            return None
        properties[name] = check
    extra = _compile(schema.get("additionalProperties", True), checker)
    if extra is None:
        return None
    return _object_predicate(list(schema.get("required", ())), properties, extra)


def _object_predicate(required: list[str], properties: dict[str, Check], extra: Check) -> Check:
    def check_object(value: Any) -> bool:
        if type(value) is not dict:
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            check = properties.get(name, extra)
            if check is not _always and not check(item):
                return False
        return True

    return check_object
