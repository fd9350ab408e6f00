"""The validation plan of a suite: which expectations run how, with which severity and failure action.

A suite file is the JSON of GX 1.x's ``ExpectationSuite.to_json_dict()`` (see ``expectations.py``) with
three additions of this project, all checked here at configuration time (before any data is read):

- ``severity`` on an expectation (GX's own field): ``"critical"`` (the default) blocks publishing, i.e.
  the step fails with :class:`~dataframe_pipeline.exceptions.ValidationFailedError`; ``"warning"`` is
  reported and publishing goes on. Results report them as ``"error"`` and ``"warning"``. GX's third
  value, ``"info"``, is refused: a check either blocks or warns.
- ``on_failure: "quarantine"`` on a row-level expectation (column-map, referential, rule): rows that
  fail it go to the step's quarantine under the rule ``expectation:<type>:<column>`` and are not passed
  on; the expectation then reports what it found and does not fail the run. Refused on aggregate
  expectations (uniqueness, means, row counts...), whose failure is not a property of one row.
- ``monitors`` at the top level: data-quality monitoring over time (``validate/monitoring.py``).

Every expectation is one of three kinds (:data:`KINDS`):

- ``map``: column-map expectations GX evaluates batch by batch; their counts add up exactly;
- ``aggregate``: expectations needing the whole column or table (uniqueness, distinct values, quantiles,
  mean/min/max/sum/stdev, row and column counts, column existence/order/types), computed from streaming
  state of ours (``validate/aggregates.py``): GX's per-batch verdict of these is wrong;
- ``row``: this project's row-level checks (``validate/rules.py``): a referential check against another
  dataset, a rule class, or a pandas expression.

Any other expectation type is refused, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: column-map expectations GX evaluates per batch (counts summed, first examples kept)
MAP_TYPES = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_values_to_match_strftime_format",
    }
)
#: expectations computed from this project's streaming state (``validate/aggregates.py``)
AGGREGATE_TYPES = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_quantile_values_to_be_between",
    }
)
#: this project's row-level expectations (``validate/rules.py``)
ROW_TYPES = frozenset(
    {
        "expect_column_values_to_be_in_dataset",
        "expect_rows_to_pass_rule",
        "expect_rows_to_pass_expression",
    }
)
KINDS = {**dict.fromkeys(MAP_TYPES, "map"), **dict.fromkeys(AGGREGATE_TYPES, "aggregate")}
KINDS.update(dict.fromkeys(ROW_TYPES, "row"))

#: the suite's ``severity`` values and what the results call them
SEVERITIES = {"critical": "error", "warning": "warning"}
DEFAULT_SEVERITY = "critical"
ON_FAILURE = ("fail", "quarantine")


@dataclass(frozen=True)
class Check:
    """One expectation of a suite, as the validator runs it.

    :param index: its position in the suite (results keep suite order).
    :param type: the expectation type.
    :param kwargs: its arguments (as written in the suite).
    :param kind: ``map``, ``aggregate`` or ``row`` (see the module docstring).
    :param severity: ``error`` (blocks publishing) or ``warning``.
    :param on_failure: ``fail`` (counted against the verdict) or ``quarantine`` (failing rows are removed).
    :param item: the expectation as written (for GX).
    """

    index: int
    type: str
    kwargs: Mapping[str, Any]
    kind: str
    severity: str
    on_failure: str = "fail"
    item: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def column(self) -> str | None:
        column = self.kwargs.get("column")
        return str(column) if column is not None else None

    @property
    def rule(self) -> str:
        """The quarantine rule of the rows this check rejects: ``expectation:<type>:<column or name>``."""
        kwargs = self.kwargs
        target = kwargs.get("name") or self.column or kwargs.get("rule") or kwargs.get("expression") or f"#{self.index}"
        return f"expectation:{self.type}:{target}"

    @property
    def quarantines(self) -> bool:
        return self.on_failure == "quarantine"


@dataclass(frozen=True)
class SuitePlan:
    """A suite checked and split by kind.

    :param name: the suite's name.
    :param checks: every expectation, in suite order.
    :param monitors: the suite's ``monitors`` section (checked by ``validate/monitoring.py``).
    """

    name: str
    checks: tuple[Check, ...]
    monitors: Mapping[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str, *, quarantine: bool | None = None) -> list[Check]:
        return [c for c in self.checks if c.kind == kind and (quarantine is None or c.quarantines == quarantine)]

    @property
    def quarantines(self) -> bool:
        """Whether some check removes rows (the step then writes its own output dataset)."""
        return any(c.quarantines for c in self.checks)


def _check_of(index: int, item: Mapping[str, Any]) -> Check:
    where = f"expectations[{index}]"
    kind = KINDS.get(item["type"])
    if kind is None:
        raise ConfigurationError(
            f"{where}.type", item["type"], "not supported by the streaming validator (see docs: validation)"
        )
    severity = item.get("severity") or DEFAULT_SEVERITY
    if severity not in SEVERITIES:
        raise ConfigurationError(f"{where}.severity ({item['type']})", severity, f"must be one of {sorted(SEVERITIES)}")
    on_failure = item.get("on_failure") or "fail"
    if on_failure not in ON_FAILURE:
        raise ConfigurationError(f"{where}.on_failure ({item['type']})", on_failure, f"must be one of {ON_FAILURE}")
    if on_failure == "quarantine" and kind == "aggregate":
        raise ConfigurationError(
            f"{where}.on_failure ({item['type']})",
            on_failure,
            "only row-level expectations (column-map, referential, rules) can quarantine rows; this one is "
            "about the whole column or table",
        )
    return Check(
        index=index,
        type=item["type"],
        kwargs=dict(item["kwargs"]),
        kind=kind,
        severity=SEVERITIES[severity],
        on_failure=on_failure,
        item=item,
    )


def plan_suite(suite: Mapping[str, Any]) -> SuitePlan:
    """Check a suite dict (shape, types, severities, failure actions, row checks) and plan it.

    :param suite: as :func:`~dataframe_pipeline.validate.expectations.load_suite` returns it.
    :raises ConfigurationError: naming the expectation's field and the bad value.
    """
    from dataframe_pipeline.validate.aggregates import check_aggregate
    from dataframe_pipeline.validate.expectations import suite_problem
    from dataframe_pipeline.validate.monitoring import check_monitors
    from dataframe_pipeline.validate.rules import check_row

    problem = suite_problem(suite)
    if problem:
        raise ConfigurationError("suite", suite.get("name") if isinstance(suite, dict) else None, problem)
    checks = tuple(_check_of(i, item) for i, item in enumerate(suite["expectations"]))
    for check in checks:
        if check.kind == "aggregate":
            check_aggregate(check)
        elif check.kind == "row":
            check_row(check)
    monitors = dict(suite.get("monitors") or {})
    check_monitors(monitors)
    return SuitePlan(name=str(suite["name"]), checks=checks, monitors=monitors)
