"""Type coercion: text columns (as read from CSV) to typed columns with a fixed dtype.

Type specs (a name, or a dict with ``"type"`` and options) and the dtype they produce:

============================================================  ==========================================
``"string"``, ``{"type": "string", "case": "lower"|"upper"}``  ``str``; surrounding whitespace stripped
``"email"``                                                    ``str``, lower-case, checked by a regex
``"int"``                                                      ``Int64``; ``"12"``, ``"+12"``, ``"12.0"``
``"float"``                                                    ``float64``; plain decimals, exponent ok
``"bool"``                                                     ``boolean``; true/false/yes/no/t/f/y/n/1/0
``"category"``, ``{"type": "category", "categories": [...]}``  ``category`` with fixed categories
``"datetime"``, ``{"type": "datetime", "format": ..., "utc": true}``  ``datetime64[ns, UTC]`` or
                                                               ``datetime64[ns]``
============================================================  ==========================================

Every value is stripped first and an empty string is null. A non-null value that does not parse is an
error: with ``on_error="quarantine"`` the row is rejected (rule ``coerce_types``, reason
``"<col>: cannot parse '<raw>' as <type>"``, several reasons joined with ``"; "``); with
``on_error="null"`` the value becomes null and is counted in ``n_nulled_``.

The output dtype never depends on the batch (an all-null ``int`` column is still ``Int64``), so
batches concatenate cleanly. That is why a plain ``"category"`` learns its categories in a fit pass
(the transformer is then ``stateful``; the sorted distinct values become ``categories_``): categories
taken from each batch would give each batch a different dtype. With ``"categories"`` given, no fit is
needed and other values are errors.

Datetimes are parsed as ISO 8601 unless ``format`` (a ``strftime`` pattern) is given. Naive values
are taken as UTC; with ``utc`` false (the default) the result is naive: values that carry an offset
are converted to UTC, then the zone is dropped. Values outside the ``datetime64[ns]`` range (years
1677-2262) are errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import BatchResult, reject
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from typing import Self

ON_ERROR = ("quarantine", "null")
#: the options each type accepts besides ``type``
TYPE_OPTIONS: dict[str, frozenset[str]] = {
    "string": frozenset({"case"}),
    "email": frozenset(),
    "int": frozenset(),
    "float": frozenset(),
    "bool": frozenset(),
    "category": frozenset({"categories"}),
    "datetime": frozenset({"format", "utc"}),
}
CASES = ("lower", "upper")
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

# [0-9], not \d: \d also matches other scripts' digits, which the casts below do not read.
_INT_RE = r"[+-]?[0-9]+(?:\.0*)?"
_FLOAT_RE = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# Pragmatic: one @, a non-empty local part, a domain of non-empty dot-separated labels, no spaces.
_EMAIL_RE = r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+"
# The same in RE2 syntax, run by Arrow on Arrow-backed text (~6x faster than Python's re per value).
# RE2's \s is ASCII [\t\n\f\r ] only, so the rest of what Python's \s matches is spelt out.
_NOT_SPACE = r"@\s\v\x{1c}-\x{1f}\x{85}\p{Z}"
_EMAIL_RE2 = rf"[^{_NOT_SPACE}]+@[^{_NOT_SPACE}.]+(?:\.[^{_NOT_SPACE}.]+)+"
# ISO 8601 as most systems write it, in seconds: the form the Arrow fast path of datetimes parses.
_SIMPLE_ISO_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}$"
_INT64_SAFE_DIGITS = 18  # any 18-digit number fits in int64
_NS_MIN = pd.Timestamp.min.tz_localize("UTC")
_NS_MAX = pd.Timestamp.max.tz_localize("UTC")


@dataclass(frozen=True)
class TypeSpec:
    """A parsed type spec.

    :param type: one of the keys of ``TYPE_OPTIONS``.
    :param case: ``"lower"`` or ``"upper"`` for ``string``.
    :param format: ``strftime`` pattern for ``datetime`` (``None``: ISO 8601).
    :param utc: ``datetime`` output is UTC-aware.
    :param categories: the fixed categories of ``category`` (``None``: learnt by fitting).
    """

    type: str
    case: str | None = None
    format: str | None = None
    utc: bool = False
    categories: tuple[str, ...] | None = None


def parse_spec(field: str, spec: str | Mapping[str, Any]) -> TypeSpec:
    """Turn a type spec from the configuration into a :class:`TypeSpec`.

    :param field: the configuration field, for error messages (``types.<col>``).
    :param spec: a type name or a dict with ``"type"`` and its options.
    :raises ConfigurationError: unknown type or option, or a bad option value.
    """
    given = spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str) or spec["type"] not in TYPE_OPTIONS:
        raise ConfigurationError(field, given, f"expected a type among {list(TYPE_OPTIONS)} or a dict with 'type'")
    unknown = set(spec) - {"type"} - TYPE_OPTIONS[spec["type"]]
    if unknown:
        raise ConfigurationError(field, spec, f"unknown options {sorted(unknown)} for type {spec['type']!r}")
    parsed = TypeSpec(**spec)
    _check_options(field, parsed)
    if parsed.categories is not None:
        parsed = replace(parsed, categories=tuple(parsed.categories))
    return parsed


def _check_options(field: str, spec: TypeSpec) -> None:
    if spec.case is not None and spec.case not in CASES:
        raise ConfigurationError(f"{field}.case", spec.case, f"must be one of {list(CASES)}")
    if spec.format is not None and (not isinstance(spec.format, str) or "%" not in spec.format):
        raise ConfigurationError(f"{field}.format", spec.format, "must be a strftime pattern such as '%Y-%m-%d'")
    if not isinstance(spec.utc, bool):
        raise ConfigurationError(f"{field}.utc", spec.utc, "must be true or false")
    categories = spec.categories
    if categories is not None and (
        isinstance(categories, str)
        or not isinstance(categories, Sequence)
        or not all(isinstance(c, str) and c == c.strip() and c for c in categories)
        or len(set(categories)) != len(categories)
    ):
        raise ConfigurationError(
            f"{field}.categories", categories, "must be a list of distinct, non-empty, stripped strings"
        )


class TypeCoercion(BatchTransformer):
    """Parse columns into their declared types; values that do not parse are errors.

    :param types: column -> type spec (see the module docstring).
    :param on_error: ``"quarantine"`` rejects a row with an unparseable value; ``"null"`` sets the value
        to null and counts it in ``n_nulled_`` (a ``Counter`` per column).
    """

    def __init__(self, types: dict[str, str | dict], on_error: str = "quarantine") -> None:
        self.types = types
        self.on_error = on_error

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """True when a ``category`` column has no fixed categories: they are learnt by fitting."""
        return bool(self._columns_to_fit())

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for a bad type spec, ``on_error``, or a column not in ``columns``."""
        if not isinstance(self.types, Mapping) or not self.types:
            raise ConfigurationError("types", self.types, "must be a non-empty mapping column -> type")
        for column, spec in self.types.items():
            parse_spec(f"types.{column}", spec)
            if columns is not None and column not in columns:
                raise ConfigurationError("types", column, f"not a column of the input {list(columns)}")
        if self.on_error not in ON_ERROR:
            raise ConfigurationError("on_error", self.on_error, f"must be one of {list(ON_ERROR)}")

    def columns_read(self) -> list[str] | None:
        return list(self.types)

    def writes_column(self, name: str) -> bool:
        return name in self.types

    def may_remove_rows(self) -> bool:
        return self.on_error != "null"

    def _specs(self) -> dict[str, TypeSpec]:
        return {column: parse_spec(f"types.{column}", spec) for column, spec in self.types.items()}

    def _columns_to_fit(self) -> list[str]:
        return [c for c, s in self._specs().items() if s.type == "category" and s.categories is None]

    # -- fitting (only for categories to learn) -------------------------------------------------

    def _reset(self) -> None:
        self._seen: dict[str, set[str]] = {c: set() for c in self._columns_to_fit()}
        self.n_nulled_: Counter[str] = Counter()
        self.__dict__.pop("categories_", None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Collect the distinct values of the ``category`` columns without fixed categories.

        :param batch: a batch indexed by input position.
        """
        if not hasattr(self, "_seen") or hasattr(self, "categories_"):
            # First call, or first call after finish_fit(): a new fit starts.
            self._reset()
        for column in self._seen:
            self._seen[column].update(_text(_column(batch, column)).dropna().unique().tolist())
        return self

    def finish_fit(self) -> Self:
        """Compute ``categories_``: column -> sorted list of the values seen."""
        if not hasattr(self, "_seen"):
            self._reset()
        self.categories_ = {column: sorted(values) for column, values in self._seen.items()}
        self._seen = {c: set() for c in self._seen}
        return self

    # -- transforming --------------------------------------------------------------------------

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Convert every configured column; quarantine or null the values that do not parse.

        :param batch: a batch indexed by input position.
        """
        specs = self._fitted_specs()
        out = batch.copy(deep=False)
        failures: dict[str, pd.Series] = {}
        for column, spec in specs.items():
            out[column], failures[column] = convert(_column(batch, column), spec)
        failed = pd.DataFrame(failures, index=batch.index)
        if self.on_error == "null":
            self._count_nulled(failed)
            return BatchResult(data=out)
        bad = failed.any(axis=1)
        if not bad.any():
            return BatchResult(data=out)
        reasons = _reasons(batch, failed[bad], specs)
        return BatchResult(data=out[~bad], rejected=reject(batch[bad], self.rule_name, reasons))

    def _fitted_specs(self) -> dict[str, TypeSpec]:
        specs = self._specs()
        to_fit = [c for c, s in specs.items() if s.type == "category" and s.categories is None]
        if not to_fit:
            return specs
        if not hasattr(self, "categories_"):
            raise NotFittedError("TypeCoercion.transform() called before fit(): categories to learn")
        return {c: replace(s, categories=tuple(self.categories_[c])) if c in to_fit else s for c, s in specs.items()}

    def _count_nulled(self, failed: pd.DataFrame) -> None:
        if not hasattr(self, "n_nulled_"):
            self.n_nulled_ = Counter()
        for column, n in failed.sum().items():
            if n:
                self.n_nulled_[str(column)] += int(n)


def _column(batch: pd.DataFrame, column: str) -> pd.Series:
    if column not in batch.columns:
        raise DataContractError(f"TypeCoercion: column {column!r} is not in the batch {list(batch.columns)}")
    return batch[column]


def _reasons(batch: pd.DataFrame, failed: pd.DataFrame, specs: Mapping[str, TypeSpec]) -> pd.Series:
    """One reason per failing row: every column that failed, in ``types`` order.

    Built column by column over the failing values only (a per-cell lookup costs more than the
    conversion itself on large batches).
    """
    parts: dict[Any, list[str]] = {}
    for column in failed.columns:
        mask = failed[column].to_numpy(dtype=bool)
        if not mask.any():
            continue
        kind = specs[column].type
        raw = batch.loc[failed.index[mask], column].astype(object)
        for position, value in zip(raw.index, raw, strict=True):
            parts.setdefault(position, []).append(f"{column}: cannot parse {str(value)!r} as {kind}")
    return pd.Series(["; ".join(parts[p]) for p in failed.index], index=failed.index, dtype="str")


# -- conversions -------------------------------------------------------------------------------


def convert(series: pd.Series, spec: TypeSpec) -> tuple[pd.Series, pd.Series]:
    """Convert ``series`` to ``spec``'s type.

    :param series: the raw values (usually ``str``).
    :param spec: the target type; ``category`` needs ``categories``.
    :returns: the converted values (null where the value did not parse) and a boolean Series that is
        True where a non-null input value did not parse.
    """
    typed = _convert_typed(series, spec)
    if typed is not None:
        return typed, series.notna() & typed.isna()
    text = _text(series)
    values = _PARSERS[spec.type](text, spec)
    return values, text.notna() & values.isna()


def _text(series: pd.Series) -> pd.Series:
    """Stripped ``str`` values; empty strings become null."""
    # "str" (NaN as null) whatever the input: the masks below must be plain booleans, never pd.NA.
    text = series.astype("str").str.strip()
    return text.mask(text == "")


def _convert_typed(series: pd.Series, spec: TypeSpec) -> pd.Series | None:
    """Conversions that need no text parsing; ``None`` when the input must be parsed as text."""
    dtype = series.dtype
    is_bool = pd.api.types.is_bool_dtype(dtype)
    if spec.type == "int" and pd.api.types.is_integer_dtype(dtype) and not is_bool:
        return series.astype("Int64")
    if spec.type == "float" and pd.api.types.is_numeric_dtype(dtype) and not is_bool:
        return series.astype("float64")
    if spec.type == "bool" and is_bool:
        return series.astype("boolean")
    if spec.type == "datetime" and pd.api.types.is_datetime64_any_dtype(dtype):
        aware = series.dt.tz_convert("UTC") if series.dt.tz is not None else series.dt.tz_localize("UTC")
        return _finish_datetime(aware, spec)
    return None


def _parse_string(text: pd.Series, spec: TypeSpec) -> pd.Series:
    if spec.case == "lower":
        return text.str.lower()
    if spec.case == "upper":
        return text.str.upper()
    return text


def _parse_email(text: pd.Series, spec: TypeSpec) -> pd.Series:
    lowered = text.str.lower()
    return lowered.where(fullmatch(lowered, _EMAIL_RE, _EMAIL_RE2))


def fullmatch(text: pd.Series, pattern: str, re2_pattern: str | None = None) -> pd.Series:
    """``text.str.fullmatch(pattern)`` as plain booleans (null: False).

    When ``text`` is Arrow-backed and ``re2_pattern`` (the same language in RE2 syntax) is given,
    Arrow's RE2 matches it; pandas would fall back to Python's ``re`` value by value for patterns
    like ``pattern``.
    """
    if re2_pattern is not None and isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        matched = pc.match_substring_regex(pa.array(text.array), f"^(?:{re2_pattern})$")
        return pd.Series(pc.fill_null(matched, False).to_numpy(zero_copy_only=False), index=text.index)
    return text.str.fullmatch(pattern).fillna(False).astype(bool)


def _parse_int(text: pd.Series, spec: TypeSpec) -> pd.Series:
    values = _arrow_ints(text)
    if values is not None:
        return values
    valid = text.str.fullmatch(_INT_RE)
    # The Arrow cast below reads neither a "+" sign nor a fraction.
    digits = text.where(valid).str.replace(r"^\+|\.0*$", "", regex=True)
    long = digits.str.lstrip("-").str.len() > _INT64_SAFE_DIGITS
    if long.any():
        too_big = pd.Series(False, index=digits.index)
        too_big[long] = [not -(2**63) <= int(v) < 2**63 for v in digits[long]]
        digits = digits.mask(too_big)
    return digits.astype("Int64")


def _arrow_ints(text: pd.Series) -> pd.Series | None:
    """The well-formed values of Arrow-backed ``text`` cast by Arrow (nulls elsewhere), or ``None`` for
    other text or when a value has more digits than surely fit in int64 (the general path checks
    those one by one). The same steps as the general path, on Arrow arrays: 2x faster."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    arrow = pa.array(text.array)
    valid = pc.match_substring_regex(arrow, f"^(?:{_INT_RE})$")
    digits = pc.replace_substring_regex(pc.if_else(valid, arrow, pa.scalar(None, arrow.type)), r"^\+|\.0*$", "")
    if pc.any(pc.greater(pc.utf8_length(pc.utf8_ltrim(digits, "-")), _INT64_SAFE_DIGITS)).as_py():
        return None
    ints = pc.cast(digits, pa.int64())
    values = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
    nulls = pc.is_null(ints).to_numpy(zero_copy_only=False)
    return pd.Series(pd.arrays.IntegerArray(values, nulls), index=text.index)


def _parse_float(text: pd.Series, spec: TypeSpec) -> pd.Series:
    values = _arrow_floats(text)
    if values is None:
        values = text.where(text.str.fullmatch(_FLOAT_RE)).astype("float64")
    # "1e999" is a well-formed literal of a value float64 cannot hold.
    return values.where(np.isfinite(values))


def _arrow_floats(text: pd.Series) -> pd.Series | None:
    """The well-formed values of Arrow-backed ``text`` cast by Arrow (nulls elsewhere), or ``None`` for
    other text or when Arrow refuses a value.

    pandas' ``astype("float64")`` converts value by value through Python floats (20x slower here).
    Both round correctly to the nearest float64, so they agree on every literal ``_FLOAT_RE`` accepts.
    """
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    arrow = pa.array(text.array)
    valid = pc.match_substring_regex(arrow, f"^(?:{_FLOAT_RE})$")
    try:
        floats = pc.cast(pc.if_else(valid, arrow, pa.scalar(None, arrow.type)), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(floats.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _parse_bool(text: pd.Series, spec: TypeSpec) -> pd.Series:
    lowered = text.str.lower()
    values = pd.Series(pd.NA, index=text.index, dtype="boolean")
    values[lowered.isin(TRUE_WORDS)] = True
    values[lowered.isin(FALSE_WORDS)] = False
    return values


def _parse_category(text: pd.Series, spec: TypeSpec) -> pd.Series:
    if spec.categories is None:
        raise NotFittedError("category column without categories: fit first or give 'categories'")
    known = text.where(text.isin(spec.categories))
    return known.astype(pd.CategoricalDtype(list(spec.categories)))


def _parse_datetime(text: pd.Series, spec: TypeSpec) -> pd.Series:
    if spec.format is None:
        values = _arrow_datetimes(text, spec)
        if values is not None:
            return values
    parsed = pd.to_datetime(text, format=spec.format or "ISO8601", utc=True, errors="coerce")
    return _finish_datetime(parsed, spec)


def _arrow_datetimes(text: pd.Series, spec: TypeSpec) -> pd.Series | None:
    """ISO 8601 parsing of Arrow-backed ``text``: the values of the common form ``_SIMPLE_ISO_RE``
    parsed by Arrow's strict ISO 8601 cast, the others by pandas; ``None`` for other text, or when
    Arrow refuses a value of the common form (``2026-02-30 00:00:00``), to let pandas parse them all.

    pandas parses ISO 8601 text 3x slower; the two agree on every value of that form (naive: UTC).
    """
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return None
    arrow = pa.array(text.array)
    simple = pc.fill_null(pc.match_substring_regex(arrow, _SIMPLE_ISO_RE), False)
    try:
        seconds = pc.cast(pc.if_else(simple, arrow, pa.scalar(None, arrow.type)), pa.timestamp("s"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    # what _finish_datetime does, on whole seconds: NaT (the smallest int64) is out of range too
    since_epoch = seconds.to_numpy(zero_copy_only=False).astype("datetime64[s]").view(np.int64)
    in_range = (since_epoch >= _NS_MIN.value // 10**9 + 1) & (since_epoch <= _NS_MAX.value // 10**9)
    nanoseconds = np.where(in_range, since_epoch * 10**9, np.iinfo(np.int64).min).view("datetime64[ns]")
    values = pd.Series(nanoseconds, index=text.index)
    values = values.dt.tz_localize("UTC") if spec.utc else values
    others = ~simple.to_numpy(zero_copy_only=False) & text.notna().to_numpy()
    if others.any():
        rest = text[others]
        parsed = pd.to_datetime(rest, format="ISO8601", utc=True, errors="coerce")
        values[others] = _finish_datetime(parsed, spec).array
    return values


def _finish_datetime(aware: pd.Series, spec: TypeSpec) -> pd.Series:
    """UTC-aware values of any resolution to ``datetime64[ns, UTC]`` or naive ``datetime64[ns]``."""
    in_range = (aware >= _NS_MIN) & (aware <= _NS_MAX)
    values = aware.where(in_range).astype("datetime64[ns, UTC]")
    return values if spec.utc else values.dt.tz_localize(None)


_PARSERS: dict[str, Callable[[pd.Series, TypeSpec], pd.Series]] = {
    "string": _parse_string,
    "email": _parse_email,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "category": _parse_category,
    "datetime": _parse_datetime,
}
