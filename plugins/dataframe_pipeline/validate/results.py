"""The outcome of one expectation over a whole dataset, and how batch results add up to it.

:class:`MapCounts` merges the results of a row-level expectation batch by batch: element, unexpected
and missing counts are summed and the first examples kept, then the verdict is decided on the sums as
GX decides it on one frame (``mostly``: the share of non-missing rows that pass; vacuously true when
there is no non-missing row). :class:`Outcome` is one entry of the ``expectations`` list of a step's
``validation`` result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.validate.expectations import MAX_PARTIAL, json_safe

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dataframe_pipeline.validate.suite import Check

#: examples per expectation in the XCom result (report.json keeps MAX_PARTIAL)
XCOM_EXAMPLES = 3


@dataclass
class Outcome:
    """What one expectation found on the whole dataset."""

    check: Check
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    missing_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    observed_value: Any = None
    exception: str | None = None

    def as_dict(self, examples: int = XCOM_EXAMPLES) -> dict[str, Any]:
        """The entry of ``validation["expectations"]`` (JSON-safe, at most ``examples`` examples)."""
        check = self.check
        return {
            "type": check.type,
            "column": check.column,
            "kwargs": json_safe(dict(check.kwargs)),
            "severity": check.severity,
            "success": bool(self.success),
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "missing_count": self.missing_count,
            "examples": json_safe(list(self.examples[:examples])),
            "observed_value": json_safe(self.observed_value),
            "exception": self.exception,
            "on_failure": check.on_failure,
        }

    def describe(self) -> str:
        """One line for the failure message: the expectation, its counts and three examples."""
        check = self.check
        target = f"({check.column})" if check.column is not None else ""
        head = f"{check.type}{target} [{check.severity}]"
        if self.exception is not None:
            return f"{head}: not evaluated ({self.exception})"
        if self.unexpected_count is not None:
            percent = f" ({self.unexpected_percent:.4g}%)" if self.unexpected_percent is not None else ""
            shown = json_safe(list(self.examples[:XCOM_EXAMPLES]))
            return f"{head}: {self.unexpected_count} of {self.element_count} rows unexpected{percent}, e.g. {shown}"
        return f"{head}: observed {json_safe(self.observed_value)!r}"


@dataclass
class MapCounts:
    """Counts of a row-level expectation, added up batch by batch.

    :param has_missing: whether the expectation ignores missing values (then ``missing_count`` is kept
        and the percentages are of the non-missing rows).
    """

    has_missing: bool = True
    element_count: int = 0
    unexpected_count: int = 0
    missing_count: int = 0
    examples: list[Any] = field(default_factory=list)
    exception: str | None = None

    def add(self, element: int, unexpected: int, missing: int = 0, examples: Iterable[Any] = ()) -> None:
        self.element_count += int(element)
        self.unexpected_count += int(unexpected)
        self.missing_count += int(missing)
        room = MAX_PARTIAL - len(self.examples)
        if room > 0:
            self.examples.extend(list(examples)[:room])

    def add_gx(self, result: Mapping[str, Any], exception: str | None) -> None:
        """Add one batch's GX result dict (``ExpectationValidationResult.result``)."""
        if exception is not None:
            self.exception = self.exception or exception
            return
        missing = result.get("missing_count")
        if missing is None:
            self.has_missing = False
        self.add(
            result.get("element_count") or 0,
            result.get("unexpected_count") or 0,
            missing or 0,
            result.get("partial_unexpected_list") or (),
        )

    def outcome(self, check: Check) -> Outcome:
        missing = self.missing_count if self.has_missing else None
        nonmissing = self.element_count - (missing or 0)
        mostly = check.kwargs.get("mostly")
        mostly = 1.0 if mostly is None else float(mostly)
        if self.exception is not None:
            success = False
        elif self.element_count == 0 or nonmissing == 0:
            success = True  # vacuously, as GX
        else:
            success = (nonmissing - self.unexpected_count) / nonmissing >= mostly
        percent = self.unexpected_count / nonmissing * 100 if nonmissing > 0 else None
        return Outcome(
            check=check,
            success=success,
            element_count=self.element_count,
            unexpected_count=self.unexpected_count,
            unexpected_percent=percent,
            missing_count=missing,
            examples=list(self.examples),
            exception=self.exception,
        )
