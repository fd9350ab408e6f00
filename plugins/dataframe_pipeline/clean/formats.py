"""Format normalisation: text cleanup, column renames, unit conversion and time-zone conversion.

All stateless: each batch is handled on its own, so the output does not depend on the batch split.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Literal, cast

import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, split_rows
from dataframe_pipeline.core.columns import check_names as _check_names
from dataframe_pipeline.core.columns import require as _require
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

CASES = (None, "lower", "upper")
UNICODE_FORMS = (None, "NFC", "NFKC")
_UnicodeForm = Literal["NFC", "NFKC"]


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


class NormalizeText(BatchTransformer):
    """Normalise text columns: Unicode form, accents, surrounding and repeated whitespace, case.

    Nulls stay null; the columns keep their dtype (``str`` / ``object``).

    :param columns: the text columns.
    :param strip: remove leading and trailing whitespace.
    :param collapse_spaces: replace each run of whitespace with one space.
    :param case: ``None``, ``"lower"`` or ``"upper"``.
    :param unicode_form: ``"NFC"``, ``"NFKC"`` or ``None`` (applied first).
    :param remove_accents: drop combining marks (``"é"`` -> ``"e"``), then recompose to ``unicode_form``.
    """

    def __init__(
        self,
        columns: list[str],
        *,
        strip: bool = True,
        collapse_spaces: bool = True,
        case: str | None = None,
        unicode_form: str | None = "NFC",
        remove_accents: bool = False,
    ) -> None:
        self.columns = columns
        self.strip = strip
        self.collapse_spaces = collapse_spaces
        self.case = case
        self.unicode_form = unicode_form
        self.remove_accents = remove_accents

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``case``, ``unicode_form`` or flags."""
        _check_names("columns", self.columns, columns)
        if self.case not in CASES:
            raise ConfigurationError("case", self.case, f"must be one of {list(CASES)}")
        if self.unicode_form not in UNICODE_FORMS:
            raise ConfigurationError("unicode_form", self.unicode_form, f"must be one of {list(UNICODE_FORMS)}")
        for field in ("strip", "collapse_spaces", "remove_accents"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigurationError(field, getattr(self, field), "must be True or False")

    def normalize(self, text: str) -> str:
        """One value, normalised."""
        # a form of UNICODE_FORMS (check_params); a str parameter, so that the reference documents it as one
        form = cast("_UnicodeForm | None", self.unicode_form)
        if form:
            text = unicodedata.normalize(form, text)
        if self.remove_accents:
            text = unicodedata.normalize(form or "NFC", _strip_accents(text))
        if self.collapse_spaces:
            text = " ".join(text.split()) if self.strip else _collapse_inner(text)
        elif self.strip:
            text = text.strip()
        if self.case == "lower":
            text = text.lower()
        elif self.case == "upper":
            text = text.upper()
        return text

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Normalise ``columns``.

        :param batch: a batch indexed by input position.
        """
        _require("NormalizeText", batch, self.columns)
        out = batch.copy(deep=False)
        for column in self.columns:
            series = batch[column]
            text = series.map(lambda v: self.normalize(v) if isinstance(v, str) else v)
            out[column] = text.astype(series.dtype)
        return BatchResult(data=out)


def _collapse_inner(text: str) -> str:
    """Runs of whitespace become one space; leading and trailing whitespace keep one character."""
    return re.sub(r"\s+", " ", text)


class RenameColumns(BatchTransformer):
    """Rename columns.

    :param mapping: old name -> new name; every old name must be in the input, new names unique.
    """

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for a non-mapping, an absent column or a name clash."""
        if not isinstance(self.mapping, Mapping) or not self.mapping:
            raise ConfigurationError("mapping", self.mapping, "must be a non-empty mapping old -> new name")
        if columns is not None:
            for old in self.mapping:
                if old not in columns:
                    raise ConfigurationError("mapping", old, f"not a column of the input {list(columns)}")
            renamed = self.get_feature_names_out(columns)
            if len(set(renamed)) != len(renamed):
                raise ConfigurationError("mapping", self.mapping, f"gives duplicate column names {renamed}")

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """The input columns, renamed."""
        return [self.mapping.get(c, c) for c in input_features]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Rename the columns of the batch.

        :param batch: a batch indexed by input position.
        """
        _require("RenameColumns", batch, list(self.mapping))
        return BatchResult(data=batch.rename(columns=self.mapping))


class ConvertUnits(BatchTransformer):
    """Convert a numeric column to ``target`` units: value * factor of the row's unit.

    With ``unit_column``, each row's unit is looked up in ``factors``; a non-null value with an unknown
    or null unit is quarantined (rule ``convert_units``); the unit column of the kept rows becomes
    ``target``. Without it, every value is in ``from_unit``. The column becomes float64 (``Float64`` if nullable).

    :param column: the numeric column.
    :param unit_column: the column naming each row's unit, or ``None``.
    :param factors: unit -> multiplier to the target unit (``factors[target]`` is normally 1).
    :param target: the unit of the output.
    :param from_unit: the unit of every value when there is no ``unit_column``.
    """

    def __init__(
        self,
        column: str,
        unit_column: str | None = None,
        factors: dict[str, float] | None = None,
        target: str = "kg",
        from_unit: str | None = None,
    ) -> None:
        self.column = column
        self.unit_column = unit_column
        self.factors = factors
        self.target = target
        self.from_unit = from_unit

    @property
    def _factors(self) -> Mapping[str, float]:
        return self.factors if self.factors is not None else {"g": 0.001, "kg": 1}

    def _from_factor(self) -> float:
        """The factor of ``from_unit``, the unit of every value without ``unit_column``."""
        factors = self._factors
        if self.from_unit is None or self.from_unit not in factors:
            raise ConfigurationError("from_unit", self.from_unit, f"must be one of {list(factors)} without unit_column")
        return factors[self.from_unit]

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad factors, units or columns."""
        factors = self._factors
        if not isinstance(factors, Mapping) or not factors:
            raise ConfigurationError("factors", factors, "must be a non-empty mapping unit -> factor")
        for unit, factor in factors.items():
            ok = isinstance(factor, int | float) and not isinstance(factor, bool)
            if not ok or not math.isfinite(factor):
                raise ConfigurationError(f"factors.{unit}", factor, "must be a finite number")
        if self.unit_column is None:
            self._from_factor()
        for field in ("column", "unit_column"):
            name = getattr(self, field)
            if name is not None and columns is not None and name not in columns:
                raise ConfigurationError(field, name, f"not a column of the input {list(columns)}")

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Quarantine rows with an unknown unit, convert the others.

        :param batch: a batch indexed by input position.
        """
        _require("ConvertUnits", batch, [self.column, *([self.unit_column] if self.unit_column else [])])
        values = batch[self.column]
        if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            raise DataContractError(f"ConvertUnits: column {self.column!r} has dtype {values.dtype}, not numeric")
        nullable = isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
        if self.unit_column is None:
            out = batch.copy(deep=False)
            out[self.column] = values.astype("Float64" if nullable else "float64") * self._from_factor()
            return BatchResult(data=out)
        units = batch[self.unit_column]
        factor = units.map(lambda u: self._factors.get(u) if isinstance(u, str) else None).astype("float64")
        unknown = factor.isna() & values.notna()
        known = sorted(self._factors)
        reasons = units.map(
            lambda u: (
                f"{self.unit_column}={u!r} is not a known unit {known}"
                if isinstance(u, str)
                else f"{self.unit_column} is missing"
            )
        )
        result = split_rows(batch, unknown, self.rule_name, reasons.astype("str"))
        kept = result.data.copy(deep=False)
        converted = kept[self.column].astype("Float64" if nullable else "float64") * factor[kept.index].to_numpy()
        kept[self.column] = converted
        kept[self.unit_column] = pd.Series(self.target, index=kept.index, dtype=units.dtype)
        return BatchResult(data=kept, rejected=result.rejected)


class ConvertTimezone(BatchTransformer):
    """Convert datetime columns to the time zone ``to``.

    Naive columns are first read as local time in ``from_tz`` (``DataContractError`` when ``from_tz``
    is ``None``); nonexistent or ambiguous local times (DST changes) become null.

    :param columns: the datetime columns.
    :param to: the target time zone (IANA name).
    :param from_tz: the time zone of naive values.
    """

    def __init__(self, columns: list[str], to: str = "UTC", from_tz: str | None = None) -> None:
        self.columns = columns
        self.to = to
        self.from_tz = from_tz

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns`` or an unknown time zone."""
        _check_names("columns", self.columns, columns)
        for field in ("to", "from_tz"):
            value = getattr(self, field)
            if value is None and field == "from_tz":
                continue
            try:
                pd.Timestamp("2000-01-01", tz=value)
            except (TypeError, ValueError, KeyError) as error:
                raise ConfigurationError(field, value, f"not a time zone: {error}") from error

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Convert ``columns`` to ``to``.

        :param batch: a batch indexed by input position.
        """
        _require("ConvertTimezone", batch, self.columns)
        out = batch.copy(deep=False)
        for column in self.columns:
            series = batch[column]
            if not pd.api.types.is_datetime64_any_dtype(series.dtype):
                raise DataContractError(f"ConvertTimezone: column {column!r} has dtype {series.dtype}, not datetime")
            if getattr(series.dtype, "tz", None) is None:
                if self.from_tz is None:
                    raise DataContractError(f"ConvertTimezone: column {column!r} is naive and from_tz is not set")
                series = series.dt.tz_localize(self.from_tz, ambiguous="NaT", nonexistent="NaT")
            out[column] = series.dt.tz_convert(self.to)
        return BatchResult(data=out)
