"""Encodings of categorical columns (one-hot, ordinal, frequency), each fitted in one streaming pass.

Categories are the text form of the values (``str`` of each non-null value), so an integer column
``1, 2`` gives categories ``"1", "2"``. Feed a column with one dtype across batches: a float column
with ``1.0`` gives the category ``"1.0"``, not ``"1"``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dataframe_pipeline.core.batch import BatchResult, split_rows
from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

HANDLE_UNKNOWN = ("ignore", "quarantine", "error")
#: suffix of the column that flags the categories cut by ``max_categories``: ``<col>__infrequent``
INFREQUENT_SUFFIX = "__infrequent"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_FITTED = ("categories_", "infrequent_categories_", "category_counts_", "output_columns_")


def safe_name(text: str) -> str:
    """Make category text usable in a column name: every character outside ``[A-Za-z0-9_]`` becomes ``_``."""
    return _UNSAFE.sub("_", text)


def _as_text(values: pd.Series) -> pd.Series:
    """Values as strings, nulls kept null (pandas 3 ``str`` dtype)."""
    return values.astype("str")


def _select(counts: Counter[str], max_categories: int | None) -> tuple[list[str], list[str]]:
    """Split categories into (kept, infrequent), both sorted; the most frequent are kept, ties by value."""
    if max_categories is None or len(counts) <= max_categories:
        return sorted(counts), []
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = sorted(value for value, _ in ranked[:max_categories])
    return kept, sorted(value for value, _ in ranked[max_categories:])


class OneHotEncoder(BatchTransformer):
    """Add one 0/1 column ``<col>_<category>`` per fitted category of each column in ``columns``.

    Nulls are not a category: a null gives zeros in every column of its input. The output columns
    are fixed by the fit, so every batch has the same columns, appended after the input's columns
    in the order of ``columns`` then of the sorted categories.

    :param columns: the columns to encode.
    :param handle_unknown: what to do with a category not seen in the fit: ``"ignore"`` (all zeros,
        including the infrequent column), ``"quarantine"`` (reject the row with the reason
        ``"<col>: unseen category '<value>'"``) or ``"error"`` (raise ``DataContractError``).
    :param max_categories: keep at most this many categories per column, the most frequent in the
        fit (ties broken by the smaller value); the other fitted categories set ``<col>__infrequent``.
        Unlike scikit-learn, the infrequent column does not count towards this limit.
    :param drop_input: remove the encoded input columns from the output.
    :param dtype: numpy dtype of the new columns (an integer or bool dtype).
    """

    dynamic_features = True
    stateful = True

    def __init__(
        self,
        columns: list[str],
        handle_unknown: str = "ignore",
        max_categories: int | None = None,
        drop_input: bool = True,
        dtype: str = "uint8",
    ) -> None:
        self.columns = columns
        self.handle_unknown = handle_unknown
        self.max_categories = max_categories
        self.drop_input = drop_input
        self.dtype = dtype

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list(self.columns, columns)
        if self.handle_unknown not in HANDLE_UNKNOWN:
            raise ConfigurationError("handle_unknown", self.handle_unknown, f"must be one of {HANDLE_UNKNOWN}")
        limit = self.max_categories
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigurationError("max_categories", limit, "must be None or an integer >= 1")
        if not isinstance(self.drop_input, bool):
            raise ConfigurationError("drop_input", self.drop_input, "must be True or False")
        kind: str
        try:
            kind = np.dtype(self.dtype).kind
        except TypeError:
            kind = ""
        if kind not in ("u", "i", "b"):
            raise ConfigurationError("dtype", self.dtype, "must name a numpy integer or bool dtype")

    def _reset(self) -> None:
        self._counts: dict[str, Counter[str]] | None = None
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def _accumulator(self) -> dict[str, Counter[str]]:
        counts = getattr(self, "_counts", None)
        if counts is None:
            counts = self._counts = {col: Counter() for col in self.columns}
        return counts

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Add the batch's value counts per column (memory grows with the number of categories only)."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        counts = self._accumulator()
        for col in self.columns:
            seen = _as_text(batch[col]).value_counts(dropna=True)
            counts[col].update({str(k): int(v) for k, v in seen.items()})
        return self

    def finish_fit(self) -> Self:
        """Set ``categories_``, ``infrequent_categories_``, ``category_counts_`` and ``output_columns_``.

        The accumulated counts are released: a later :meth:`partial_fit` starts a new fit.
        """
        counts = self._accumulator()
        self.category_counts_ = {col: dict(sorted(counts[col].items())) for col in self.columns}
        self.categories_: dict[str, list[str]] = {}
        self.infrequent_categories_: dict[str, list[str]] = {}
        for col in self.columns:
            self.categories_[col], self.infrequent_categories_[col] = _select(counts[col], self.max_categories)
        self.output_columns_ = {col: self._names_for(col) for col in self.columns}
        self._split_names([])
        self._counts = None
        return self

    def _names_for(self, col: str) -> list[str]:
        names = [f"{col}_{safe_name(cat)}" for cat in self.categories_[col]]
        if self.infrequent_categories_[col]:
            names.append(f"{col}{INFREQUENT_SUFFIX}")
        return names

    def _check_fitted(self) -> None:
        if not hasattr(self, "output_columns_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")

    def _split_names(self, input_features: Sequence[str]) -> tuple[list[str], list[str]]:
        """(input columns kept, new columns); raise when a name would appear twice in the output."""
        dropped = set(self.columns) if self.drop_input else set()
        passthrough = [c for c in input_features if c not in dropped]
        new = [name for col in self.columns for name in self.output_columns_[col]]
        clashes = sorted(name for name, n in Counter(passthrough + new).items() if n > 1)
        if clashes:
            raise DataContractError(
                f"{self.rule_name}: output column name(s) {clashes} would appear twice (categories that "
                f"differ only in characters outside [A-Za-z0-9_], or a clash with an input column)"
            )
        return passthrough, new

    def columns_read(self) -> list[str] | None:
        return list(self.columns)

    def writes_column(self, name: str) -> bool:
        """The new columns are named ``<column>_<category>`` (or ``<column>__infrequent``)."""
        if self.drop_input and name in self.columns:
            return True
        return any(name.startswith(f"{col}_") for col in self.columns)

    def may_remove_rows(self) -> bool:
        return self.handle_unknown == "quarantine"

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """Input columns (less the encoded ones when ``drop_input``) followed by the new columns.

        The new columns depend on the data: before the fit only the kept input columns are known,
        and that is what is returned (so a configuration check can run before any data is read).
        """
        if not hasattr(self, "output_columns_"):
            dropped = set(self.columns) if self.drop_input else set()
            return [c for c in input_features if c not in dropped]
        passthrough, new = self._split_names(input_features)
        return passthrough + new

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Encode the batch; rows with unseen categories follow ``handle_unknown``."""
        self._check_fitted()
        require_columns(batch, self.columns, self.rule_name)
        passthrough, new = self._split_names(list(batch.columns))
        texts = {col: _as_text(batch[col]) for col in self.columns}
        result = self._route_unknown(batch, texts)
        kept = result.data
        if len(kept) != len(batch):
            texts = {col: text.loc[kept.index] for col, text in texts.items()}
        matrix = np.hstack([self._encode(col, texts[col]) for col in self.columns])
        encoded = pd.DataFrame(matrix, index=kept.index, columns=new, copy=False)
        data = pd.concat([kept[passthrough], encoded], axis=1)
        return BatchResult(data=data, rejected=result.rejected, dropped=result.dropped)

    def _unknown(self, col: str, text: pd.Series) -> pd.Series:
        known = self.categories_[col] + self.infrequent_categories_[col]
        return text.notna() & ~text.isin(known)

    def _route_unknown(self, batch: pd.DataFrame, texts: dict[str, pd.Series]) -> BatchResult:
        if self.handle_unknown == "ignore":
            return BatchResult(data=batch)  # unseen values simply encode as all zeros
        masks = {col: self._unknown(col, texts[col]) for col in self.columns}
        bad = pd.Series(False, index=batch.index)
        for mask in masks.values():
            bad |= mask
        if self.handle_unknown == "ignore" or not bad.any():
            return BatchResult(data=batch)
        if self.handle_unknown == "error":
            found = {col: sorted(texts[col][m].unique().tolist())[:5] for col, m in masks.items() if m.any()}
            raise DataContractError(f"{self.rule_name}: unseen categories (first 5 per column): {found}")
        return split_rows(batch, bad, self.rule_name, _reasons(masks, texts, batch.index))

    def _encode(self, col: str, text: pd.Series) -> np.ndarray:
        categories = self.categories_[col]
        infrequent = self.infrequent_categories_[col]
        matrix = np.zeros((len(text), len(self.output_columns_[col])), dtype=self.dtype)
        codes = _codes(text, categories)  # -1: null, unseen or infrequent
        rows = np.flatnonzero(codes >= 0)
        matrix[rows, codes[rows]] = 1
        if infrequent:
            matrix[:, -1] = text.isin(infrequent).to_numpy()
        return matrix


def _codes(text: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in ``categories`` (-1 when absent or null).

    The batch's distinct values are looked up once (Arrow dictionary-encodes the column), not every
    value: categorical columns repeat a few values many times.
    """
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow" and len(text):
        encoded = pc.dictionary_encode(pa.array(text.array))
        lookup = pd.Index(categories, dtype="str").get_indexer(encoded.dictionary.to_pandas())
        lookup = np.append(lookup, -1)  # null indices point past the dictionary
        indices = pc.fill_null(encoded.indices, len(lookup) - 1).to_numpy(zero_copy_only=False)
        return lookup[indices]
    return pd.Index(categories, dtype="str").get_indexer(text)


def _reasons(masks: dict[str, pd.Series], texts: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """``"<col>: unseen category '<value>'"`` per bad row (joined with ``"; "`` over columns), on ``index``."""
    pieces = [
        texts[col][mask].map(lambda value, col=col: f"{col}: unseen category {value!r}") for col, mask in masks.items()
    ]
    # concat keeps the columns' order inside each row's group
    return pd.concat(pieces).groupby(level=0).agg("; ".join).reindex(index)


ORDINAL_UNKNOWN = ("use_encoded_value", "quarantine", "error")


def _not_fitted(obj: object) -> NotFittedError:
    return NotFittedError(f"{type(obj).__name__} is not fitted; call fit() or finish_fit() first")


def _unknown_reasons(masks: dict[str, pd.Series], texts: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """``"<col>: unseen category '<value>'"`` per bad row, joined with ``"; "`` over columns."""
    pieces = [
        texts[col][mask].map(lambda value, col=col: f"{col}: unseen category {value!r}") for col, mask in masks.items()
    ]
    return pd.concat(pieces).groupby(level=0).agg("; ".join).reindex(index)


class OrdinalEncoder(BatchTransformer):
    """Replace each column of ``columns`` by the float64 position of its value in ``categories_``.

    Nulls stay null (NaN), as in :class:`sklearn.preprocessing.OrdinalEncoder`. Fitted attribute:
    ``categories_`` (dict column -> list of category texts, in code order).

    :param columns: the columns to encode.
    :param categories: ``None`` to learn the sorted categories from the data, or a dict column ->
        list of values in the wanted order (values are compared by their text); a column missing
        from the dict is learned.
    :param handle_unknown: a category outside ``categories_``: ``"use_encoded_value"`` (gets
        ``unknown_value``), ``"quarantine"`` (row rejected with ``"<col>: unseen category '<v>'"``)
        or ``"error"`` (``DataContractError``).
    :param unknown_value: the code of unknown categories with ``"use_encoded_value"`` (a number,
        not one of the valid codes).
    """

    stateful = True

    def __init__(
        self,
        columns: list[str],
        categories: dict[str, list] | None = None,
        handle_unknown: str = "use_encoded_value",
        unknown_value: float = -1,
    ) -> None:
        self.columns = columns
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list(self.columns, columns)
        self._check_categories()
        if self.handle_unknown not in ORDINAL_UNKNOWN:
            raise ConfigurationError("handle_unknown", self.handle_unknown, f"must be one of {ORDINAL_UNKNOWN}")
        value = self.unknown_value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError("unknown_value", value, "must be a number")
        if value >= 0 and float(value).is_integer():
            # a non-negative integer could collide with a valid code
            raise ConfigurationError("unknown_value", value, "must be negative or non-integer (or NaN)")

    def _check_categories(self) -> None:
        cats = self.categories
        if cats is None:
            return
        if not isinstance(cats, dict) or any(c not in self.columns for c in cats):
            raise ConfigurationError("categories", cats, "must be None or a dict keyed by names in columns")
        for col, values in cats.items():
            if not isinstance(values, list | tuple) or not values:
                raise ConfigurationError(f"categories[{col!r}]", values, "must be a non-empty list")
            texts = [str(v) for v in values]
            if len(set(texts)) != len(texts) or any(v is None for v in values):
                raise ConfigurationError(f"categories[{col!r}]", values, "must hold distinct non-null values")

    def _reset(self) -> None:
        self._seen: dict[str, set[str]] | None = None
        self.__dict__.pop("categories_", None)

    def _learned(self) -> list[str]:
        return [c for c in self.columns if c not in (self.categories or {})]

    def _accumulator(self) -> dict[str, set[str]]:
        seen = getattr(self, "_seen", None)
        if seen is None:
            seen = self._seen = {col: set() for col in self._learned()}
        return seen

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Add the batch's distinct values of the columns whose categories are learned."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        seen = self._accumulator()
        for col in seen:
            seen[col].update(_as_text(batch[col]).dropna().unique().tolist())
        return self

    def finish_fit(self) -> Self:
        """Set ``categories_``; the accumulated values are released."""
        self.check_params()
        seen = self._accumulator()
        given = self.categories or {}
        self.categories_ = {
            col: [str(v) for v in given[col]] if col in given else sorted(seen[col]) for col in self.columns
        }
        self._seen = None
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Encode the columns in place; unknown categories follow ``handle_unknown``."""
        if not hasattr(self, "categories_"):
            raise _not_fitted(self)
        require_columns(batch, self.columns, self.rule_name)
        texts = {col: _as_text(batch[col]) for col in self.columns}
        masks = {col: texts[col].notna() & ~texts[col].isin(self.categories_[col]) for col in self.columns}
        result = self._route_unknown(batch, texts, masks)
        kept = result.data
        codes = {col: pd.Series(self._codes(col, texts[col].loc[kept.index]), index=kept.index) for col in self.columns}
        return BatchResult(data=kept.assign(**codes), rejected=result.rejected, dropped=result.dropped)

    def _route_unknown(
        self, batch: pd.DataFrame, texts: dict[str, pd.Series], masks: dict[str, pd.Series]
    ) -> BatchResult:
        bad = pd.Series(False, index=batch.index)
        for mask in masks.values():
            bad |= mask
        if self.handle_unknown == "use_encoded_value" or not bad.any():
            return BatchResult(data=batch)
        if self.handle_unknown == "error":
            found = {col: sorted(texts[col][m].unique().tolist())[:5] for col, m in masks.items() if m.any()}
            raise DataContractError(f"{self.rule_name}: unseen categories (first 5 per column): {found}")
        return split_rows(batch, bad, self.rule_name, _unknown_reasons(masks, texts, batch.index))

    def _codes(self, col: str, text: pd.Series) -> np.ndarray:
        codes = pd.Index(self.categories_[col], dtype="str").get_indexer(text).astype("float64")
        codes[(codes < 0) & text.notna().to_numpy()] = self.unknown_value
        codes[text.isna().to_numpy()] = np.nan
        return codes


class FrequencyEncoder(BatchTransformer):
    """Add ``<col><suffix>``: how often the row's category appeared in the fit.

    With ``normalize`` the value is the category's count divided by the number of rows seen in the
    fit (nulls included in that number), else the raw count. A category not seen in the fit gives
    0; a null gives null. The new columns are float64 in both modes (so a null fits every batch).
    Fitted attributes: ``counts_`` (dict column -> {category text: count}) and ``n_rows_``.

    :param columns: the columns to encode.
    :param normalize: divide the counts by the number of rows seen in the fit.
    :param suffix: suffix of the new columns (the input columns are kept).
    """

    stateful = True

    def __init__(self, columns: list[str], normalize: bool = True, suffix: str = "_freq") -> None:
        self.columns = columns
        self.normalize = normalize
        self.suffix = suffix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list(self.columns, columns)
        if not isinstance(self.normalize, bool):
            raise ConfigurationError("normalize", self.normalize, "must be True or False")
        if not isinstance(self.suffix, str) or not self.suffix:
            raise ConfigurationError("suffix", self.suffix, "must be a non-empty string")
        if columns is not None:
            clash = [f"{c}{self.suffix}" for c in self.columns if f"{c}{self.suffix}" in columns]
            if clash:
                raise ConfigurationError("suffix", self.suffix, f"output column(s) {clash} already exist")

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        return list(input_features) + [f"{c}{self.suffix}" for c in self.columns]

    def _reset(self) -> None:
        self._counts: dict[str, Counter[str]] | None = None
        self._rows = 0
        for name in ("counts_", "n_rows_"):
            self.__dict__.pop(name, None)

    def _accumulator(self) -> dict[str, Counter[str]]:
        counts = getattr(self, "_counts", None)
        if counts is None:
            counts = self._counts = {col: Counter() for col in self.columns}
            self._rows = 0
        return counts

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Add the batch's value counts per column and its row count."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        counts = self._accumulator()
        self._rows += len(batch)
        for col in self.columns:
            seen = _as_text(batch[col]).value_counts(dropna=True)
            counts[col].update({str(k): int(v) for k, v in seen.items()})
        return self

    def finish_fit(self) -> Self:
        """Set ``counts_`` and ``n_rows_``; the accumulators are released."""
        counts = self._accumulator()
        self.counts_ = {col: dict(sorted(counts[col].items())) for col in self.columns}
        self.n_rows_ = int(self._rows)
        self._counts = None
        self._rows = 0
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the frequency columns; rows are neither removed nor reordered."""
        if not hasattr(self, "counts_"):
            raise _not_fitted(self)
        require_columns(batch, self.columns, self.rule_name)
        clash = [f"{c}{self.suffix}" for c in self.columns if f"{c}{self.suffix}" in batch.columns]
        if clash:
            raise DataContractError(f"{self.rule_name}: output column(s) {clash} already exist in the input")
        new = {f"{col}{self.suffix}": self._frequencies(col, _as_text(batch[col])) for col in self.columns}
        return BatchResult(data=batch.assign(**new))

    def _frequencies(self, col: str, text: pd.Series) -> pd.Series:
        table = self.counts_[col]
        values = text.map(lambda v: table.get(v, 0), na_action="ignore").astype("float64")
        if self.normalize:
            values = values / self.n_rows_ if self.n_rows_ else values
        return values
