"""Run a Great Expectations suite on a DataFrame and report the outcome in a small, JSON-safe form.

Suites are stored as the JSON of GX 1.x's ``ExpectationSuite.to_json_dict()`` (``name``,
``expectations`` with ``type`` and ``kwargs``, ``meta``), plus this project's ``severity`` values,
``on_failure`` and ``monitors`` (``validate/suite.py``). :func:`load_suite` checks that shape without
importing GX; :func:`run_suite` validates one whole DataFrame with GX core on an ephemeral, in-memory
context (nothing is written to disk, no progress bars) and returns a :class:`ValidationReport`. The
validate step streams instead (``validate/streaming.py``, which builds its GX suite and context with
the helpers here); :func:`run_suite` is the whole-frame reference its tests and benchmark compare with.

GX takes several seconds to import, so it is imported inside :func:`run_suite`, never at module top.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError, ValidationFailedError

# While it imports, GX logs one INFO line per public function of its own API docs registry ("Skipping
# registering function ... because it does not have a class", some 200 lines): noise in validate's log
# that hides the step's own story. Its warnings and errors still show.
logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

    import pandas as pd
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

#: keys of ``ExpectationSuite.to_json_dict()``; anything else is a typo
SUITE_KEYS = frozenset({"name", "id", "expectations", "suite_parameters", "meta", "notes", "monitors"})
#: keys of ``ExpectationConfiguration.to_json_dict()``
EXPECTATION_KEYS = frozenset(
    {"type", "kwargs", "meta", "notes", "description", "severity", "id", "rendered_content", "on_failure"}
)
#: keys of an expectation that are this project's (see ``validate/suite.py``), not GX's: stripped before GX
PROJECT_KEYS = frozenset({"on_failure", "severity"})
#: how many unexpected values (and their row positions) a failure keeps
MAX_PARTIAL = 10
#: how many failures :meth:`ValidationReport.summary` spells out before "and N more"
SUMMARY_FAILURES = 5

_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": MAX_PARTIAL}
_DATASOURCE = "dataframe_pipeline"
_ASSET = "frame"
_BATCH_DEFINITION = "whole_frame"


@dataclass(frozen=True)
class ExpectationFailure:
    """One expectation that did not pass.

    :param expectation_type: e.g. ``expect_column_values_to_be_unique``.
    :param column: the column checked, or None for table-level expectations.
    :param kwargs: the expectation's arguments (JSON-safe, without GX's ``batch_id``).
    :param unexpected_count: rows that broke a column-map expectation; None for aggregate ones.
    :param partial_unexpected: up to ``MAX_PARTIAL`` of those values (JSON-safe; nulls as None).
    :param partial_unexpected_index: their index labels, i.e. row positions in the step input.
    :param observed_value: what an aggregate expectation observed (row count, column list, ...).
    :param exception: the error message when GX could not evaluate it (e.g. a missing column).
    """

    expectation_type: str
    column: str | None
    kwargs: Mapping[str, Any]
    unexpected_count: int | None = None
    partial_unexpected: tuple[Any, ...] = ()
    partial_unexpected_index: tuple[Any, ...] = ()
    observed_value: Any = None
    exception: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field."""
        return {
            "expectation_type": self.expectation_type,
            "column": self.column,
            "kwargs": dict(self.kwargs),
            "unexpected_count": self.unexpected_count,
            "partial_unexpected": list(self.partial_unexpected),
            "partial_unexpected_index": list(self.partial_unexpected_index),
            "observed_value": self.observed_value,
            "exception": self.exception,
        }

    def describe(self) -> str:
        """Short text for logs, e.g. ``expect_column_values_to_be_unique(order_id): 2 unexpected``."""
        target = f"({self.column})" if self.column is not None else ""
        if self.exception is not None:
            detail = f"not evaluated ({self.exception})"
        elif self.unexpected_count is not None:
            detail = f"{self.unexpected_count} unexpected"
        elif self.observed_value is not None:
            detail = f"observed {self.observed_value!r}"
        else:
            detail = "failed"
        return f"{self.expectation_type}{target}: {detail}"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of one suite on one DataFrame.

    :param suite_name: the suite's ``name``.
    :param success: True when every expectation passed.
    :param evaluated: expectations evaluated.
    :param successful: expectations that passed.
    :param unsuccessful: expectations that failed (including ones GX could not evaluate).
    :param rows: rows in the validated DataFrame.
    :param failures: the failed expectations, in suite order.
    """

    suite_name: str
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    rows: int
    failures: tuple[ExpectationFailure, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for the report file stored next to the data and for XCom)."""
        return {
            "suite_name": self.suite_name,
            "success": self.success,
            "evaluated": self.evaluated,
            "successful": self.successful,
            "unsuccessful": self.unsuccessful,
            "rows": self.rows,
            "failures": [f.as_dict() for f in self.failures],
        }

    def summary(self) -> str:
        """One line for logs and alerts."""
        status = "passed" if self.success else "FAILED"
        line = (
            f"suite {self.suite_name} {status}: {self.successful}/{self.evaluated} expectations passed "
            f"on {self.rows} rows"
        )
        if not self.failures:
            return line
        shown = "; ".join(f.describe() for f in self.failures[:SUMMARY_FAILURES])
        more = len(self.failures) - SUMMARY_FAILURES
        return f"{line}; failed: {shown}" + (f"; and {more} more" if more > 0 else "")

    def raise_for_failure(self) -> None:
        """Raise :class:`ValidationFailedError` with :meth:`summary` unless the suite passed."""
        if not self.success:
            raise ValidationFailedError(self.summary())


# --- suite shape -------------------------------------------------------------------------------


def _expectation_problem(index: int, item: object) -> str | None:
    where = f"expectations[{index}]"
    if not isinstance(item, dict):
        return f"{where} must be a JSON object, got {type(item).__name__}"
    unknown = sorted(set(item) - EXPECTATION_KEYS)
    if unknown:
        return f"{where} has unknown keys {unknown}"
    if not isinstance(item.get("type"), str) or not item["type"]:
        return f"{where}.type must be a non-empty string, got {item.get('type')!r}"
    if not isinstance(item.get("kwargs"), dict):
        return f"{where}.kwargs must be a JSON object, got {item.get('kwargs')!r}"
    if not isinstance(item.get("meta", {}), dict | None):
        return f"{where}.meta must be a JSON object"
    return None


def suite_problem(suite: object) -> str | None:
    """What is wrong with a suite dict's shape, or None when it looks like ``to_json_dict()`` output.

    Only the shape is checked here (GX is not imported); expectation types and arguments are
    checked by :func:`run_suite` when it builds the suite.

    :param suite: the parsed JSON.
    """
    if not isinstance(suite, dict):
        return f"the suite must be a JSON object, got {type(suite).__name__}"
    unknown = sorted(set(suite) - SUITE_KEYS)
    if unknown:
        return f"unknown top-level keys {unknown} (expected some of {sorted(SUITE_KEYS)})"
    if not isinstance(suite.get("name"), str) or not suite["name"].strip():
        return f"'name' must be a non-empty string, got {suite.get('name')!r}"
    expectations = suite.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        return "'expectations' must be a non-empty list"
    for key in ("meta", "suite_parameters"):
        if not isinstance(suite.get(key, {}), dict | None):
            return f"'{key}' must be a JSON object"
    for index, item in enumerate(expectations):
        problem = _expectation_problem(index, item)
        if problem:
            return problem
    return None


def load_suite(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an expectation suite stored as the JSON of ``ExpectationSuite.to_json_dict()``.

    :param path: the JSON file.
    :return: the suite as a dict, ready for :func:`run_suite`.
    :raises ConfigurationError: (field ``suite_path``) the file is missing, is not JSON, or is not
        shaped like a suite; the message names the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError("suite_path", str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigurationError("suite_path", str(path), f"cannot read it: {err}") from err
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigurationError("suite_path", str(path), f"not valid JSON: {err}") from err
    problem = suite_problem(suite)
    if problem:
        raise ConfigurationError("suite_path", str(path), problem)
    return suite


# --- running -----------------------------------------------------------------------------------


def _build_suite(suite: Mapping[str, Any]) -> ExpectationSuite:
    """Build the GX suite one expectation at a time.

    ``ExpectationSuite(expectations=[dicts])`` logs and *skips* invalid expectations, which would
    let a typo silently weaken the suite, so each one is built (and checked) here first.
    """
    import great_expectations as gx
    from great_expectations.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = []
    for index, item in enumerate(suite["expectations"]):
        # ids tie an expectation to a stored suite; these suites are files, not store entries
        config = {k: v for k, v in item.items() if k not in ("id", "rendered_content", *PROJECT_KEYS)}
        try:
            expectations.append(ExpectationConfiguration(**config).to_domain_obj())
        except (GreatExpectationsError, ValueError, TypeError) as err:
            problem = f"expectations[{index}] ({item['type']}) is invalid: {_condense(str(err), 300)}"
            raise ConfigurationError("suite", suite["name"], problem) from err
    return gx.ExpectationSuite(
        name=suite["name"],
        expectations=expectations,
        suite_parameters=dict(suite.get("suite_parameters") or {}),
        meta=dict(suite.get("meta") or {}),
    )


def _ephemeral_context() -> AbstractDataContext:
    """An in-memory GX context: no gx/ folder, no data docs directory, no analytics, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # init_temp_docs_sites=False: the default ephemeral config points data docs at a temp dir
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_suite(suite: Mapping[str, Any], df: pd.DataFrame) -> ValidationReport:
    """Validate ``df`` against ``suite`` with Great Expectations and summarise the result.

    One ephemeral context is created per call (GX's import, paid once per process, dominates).

    :param suite: a suite dict as returned by :func:`load_suite` (shape is checked again).
    :param df: the data; its index should be row positions, which failures report.
    :raises ConfigurationError: the suite is malformed or an expectation is unknown or has bad
        arguments. A failing suite does not raise: check ``report.success`` or call
        :meth:`ValidationReport.raise_for_failure`.
    """
    problem = suite_problem(suite)
    if problem:
        name = suite.get("name") if isinstance(suite, dict) else None
        raise ConfigurationError("suite", name, problem)
    gx_suite = _build_suite(suite)
    context = _ephemeral_context()
    asset = context.data_sources.add_pandas(_DATASOURCE).add_dataframe_asset(_ASSET)
    batch = asset.add_batch_definition_whole_dataframe(_BATCH_DEFINITION).get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(gx_suite, result_format=_RESULT_FORMAT)
    return report_from_result(result, suite, len(df))


def report_from_result(
    result: ExpectationSuiteValidationResult, suite: Mapping[str, Any], rows: int
) -> ValidationReport:
    """Turn GX's suite validation result into a :class:`ValidationReport`.

    :param result: what ``batch.validate(suite)`` returned.
    :param suite: the suite dict (its order is the order of the reported failures).
    :param rows: rows in the validated DataFrame.
    """
    stats = result.statistics
    failed = [r for r in result.results if not r.success]
    # GX groups results by metric; report failures in the order the suite lists them
    order = [_identity(e["type"], e["kwargs"]) for e in suite["expectations"]]
    failures = sorted((_failure(r) for r in failed), key=lambda f: _position(f, order))
    return ValidationReport(
        suite_name=str(suite["name"]),
        success=bool(result.success),
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        unsuccessful=int(stats["unsuccessful_expectations"]),
        rows=int(rows),
        failures=tuple(failures),
    )


def _expectation_of(res: ExpectationValidationResult) -> ExpectationConfiguration:
    """The expectation a result is for: GX sets it on every result of a suite's validation (its type
    allows None, for results made by hand)."""
    if res.expectation_config is None:
        raise RuntimeError(f"Great Expectations returned a result without its expectation: {res}")
    return res.expectation_config


def _failure(res: ExpectationValidationResult) -> ExpectationFailure:
    config = _expectation_of(res)
    kwargs = {k: json_safe(v) for k, v in config.kwargs.items() if k != "batch_id"}
    detail = res.result or {}
    count = detail.get("unexpected_count")
    return ExpectationFailure(
        expectation_type=config.type,
        column=kwargs.get("column"),
        kwargs=kwargs,
        unexpected_count=None if count is None else int(count),
        partial_unexpected=tuple(json_safe(detail.get("partial_unexpected_list") or [])),
        partial_unexpected_index=tuple(json_safe(detail.get("partial_unexpected_index_list") or [])),
        observed_value=json_safe(detail.get("observed_value")),
        exception=_exception_message(res.exception_info),
    )


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """The first error message in GX's exception info.

    GX gives either one ``{"raised_exception": ..., "exception_message": ...}`` dict or a dict of
    those keyed by metric id (when a metric could not be computed, e.g. a missing column).
    """
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return _condense(str(entry.get("exception_message") or "unknown error"), 500)
    return None


def _identity(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    plain = {k: v for k, v in kwargs.items() if k != "batch_id"}
    return expectation_type + json.dumps(_numbers_as_float(json_safe(plain)), sort_keys=True)


def _numbers_as_float(value: Any) -> Any:
    # GX stores some numeric kwargs as floats (min_value=1 comes back as 1.0): compare by value
    if isinstance(value, dict):
        return {k: _numbers_as_float(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_float(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _position(failure: ExpectationFailure, order: Sequence[str]) -> int:
    key = _identity(failure.expectation_type, failure.kwargs)
    return order.index(key) if key in order else len(order)


def _condense(text: str, limit: int) -> str:
    # GX and pydantic messages span lines (one per field error); logs and XCom want one line
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def json_safe(value: Any) -> Any:
    """Convert ``value`` to plain JSON types: numpy scalars to Python, NaN/NA/NaT to None,
    timestamps to ISO strings, containers recursively, anything else to ``str``.

    :param value: a value from a GX result or an expectation's kwargs.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return _scalar_json_safe(value)


def _scalar_json_safe(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if _is_missing(value):
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if hasattr(value, "isoformat"):  # datetime.date, datetime.datetime, datetime.time
        return value.isoformat()
    return str(value)


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        missing = pd.isna(value)
    except (TypeError, ValueError):
        return False
    # pd.isna of an array-like is an array, which is not a verdict on the value as a whole
    return missing if isinstance(missing, bool) else False
