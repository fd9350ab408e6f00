"""Truncated SVD projection (no centring) fitted on a bounded, seeded sample of the rows.

Meant for wide, sparse-ish numeric features such as hashed text columns, where centring (PCA)
would destroy sparsity and a sample of rows is enough to find the main directions. The sample is
the ``sample_size`` complete rows with the smallest keys ``row_keys(position, random_state)``
(see :mod:`dataframe_pipeline.refine.sampling`): the fit keeps a running selection of at most
``sample_size`` rows, so memory is bounded by ``sample_size x len(columns)`` floats, and since the
keys depend only on positions (and are distinct), the sample - and so the fit - is the same
however the input is batched. The sampled rows are fitted in position order with scikit-learn's
``TruncatedSVD(algorithm="randomized", random_state=random_state)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dataframe_pipeline.core.columns import require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.refine.pca import ComponentOutputs, _fix_signs, _is_count, _matrix
from dataframe_pipeline.refine.sampling import row_keys

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

_FITTED = ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_", "n_samples_fit_")


def _positions(batch: pd.DataFrame, who: str) -> np.ndarray:
    index = batch.index
    if len(index) and (not pd.api.types.is_integer_dtype(index) or index.min() < 0 or not index.is_unique):
        raise DataContractError(f"{who}: the index must hold the rows' input positions (distinct integers >= 0)")
    return index.to_numpy(dtype=np.int64)


class TruncatedSVDProjection(ComponentOutputs, BatchTransformer):
    """Add ``n_components`` truncated-SVD projections of ``columns`` as ``<prefix>1..<prefix>K``.

    Rows with a null or infinite value in ``columns`` are left out of the fit and quarantined by
    :meth:`transform` (reason ``"svd: null in <cols>"``). The projection is ``row @ components_.T``
    (no centring), summed in a fixed order so a row's result does not depend on its batch.
    Fitted attributes are numpy arrays copied from scikit-learn's ``TruncatedSVD``:
    ``components_`` (K x columns, signs fixed so each component's largest-magnitude loading is
    positive), ``explained_variance_``, ``explained_variance_ratio_``, ``singular_values_``, and
    the int ``n_samples_fit_`` (rows in the sample). ``explained_variance_ratio_`` is NaN when the
    sample has no variance (e.g. a single row).

    :param columns: the numeric input columns.
    :param n_components: number of components K (at most ``len(columns)``).
    :param prefix: output column name prefix.
    :param sample_size: at most this many complete rows are used for the fit.
    :param random_state: seed of the row sample and of the randomized SVD.
    :param keep_input: keep the input columns next to the components (False drops them, which is
        what wide hashed features usually want).
    """

    stateful = True

    def __init__(
        self,
        columns: list[str],
        n_components: int = 2,
        prefix: str = "svd",
        sample_size: int = 100_000,
        random_state: int = 0,
        *,
        keep_input: bool = True,
    ) -> None:
        self.columns = columns
        self.n_components = n_components
        self.prefix = prefix
        self.sample_size = sample_size
        self.random_state = random_state
        self.keep_input = keep_input

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        self._check_component_params(columns)
        if not _is_count(self.sample_size, self.n_components):
            raise ConfigurationError("sample_size", self.sample_size, "must be an integer >= n_components")
        if not _is_count(self.random_state, 0):
            raise ConfigurationError("random_state", self.random_state, "must be an integer >= 0")
        self._check_outputs(columns)

    def _reset(self) -> None:
        width = len(self.columns) if isinstance(self.columns, list | tuple) else 0
        self._keys: np.ndarray | None = np.zeros(0, dtype=np.uint64)
        self._sample_positions = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros((0, width))
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Merge the batch's complete rows into the running sample of smallest keys."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        if getattr(self, "_keys", None) is None:
            self._reset()
        positions = _positions(batch, self.rule_name)
        matrix = _matrix(batch, self.columns, self.rule_name)
        complete = np.isfinite(matrix).all(axis=1)
        keys = np.concatenate([self._keys, row_keys(positions[complete], self.random_state)])
        rows = np.concatenate([self._rows, matrix[complete]])
        kept = np.concatenate([self._sample_positions, positions[complete]])
        if len(keys) > self.sample_size:
            # keys are distinct, so the selection does not depend on the order rows arrive in
            chosen = np.argpartition(keys, self.sample_size - 1)[: self.sample_size]
            keys, rows, kept = keys[chosen], rows[chosen], kept[chosen]
        self._keys, self._rows, self._sample_positions = keys, rows, kept
        return self

    def finish_fit(self) -> Self:
        """Fit TruncatedSVD on the sample (in position order), copy the arrays out, free the sample.

        :raises DataContractError: fewer complete rows than ``n_components``.
        """
        from sklearn.decomposition import TruncatedSVD

        if getattr(self, "_keys", None) is None:
            self._reset()
        n = len(self._rows)
        if n < self.n_components:
            raise DataContractError(
                f"{self.rule_name}: {n} rows without nulls in {self.columns}, "
                f"need at least n_components={self.n_components} to fit"
            )
        rows = self._rows[np.argsort(self._sample_positions, kind="stable")]
        svd = TruncatedSVD(n_components=self.n_components, algorithm="randomized", random_state=self.random_state)
        with np.errstate(invalid="ignore", divide="ignore"):  # one sampled row: no variance, ratio NaN
            svd.fit(rows)
        self.components_ = _fix_signs(np.array(svd.components_, dtype=np.float64))
        self.explained_variance_ = np.array(svd.explained_variance_, dtype=np.float64)
        self.explained_variance_ratio_ = np.array(svd.explained_variance_ratio_, dtype=np.float64)
        self.singular_values_ = np.array(svd.singular_values_, dtype=np.float64)
        self.n_samples_fit_ = n
        self._keys = None
        self._rows = np.zeros((0, len(self.columns)))
        self._sample_positions = np.zeros(0, dtype=np.int64)
        return self

    def _center(self) -> np.ndarray:
        return np.zeros(len(self.columns))  # no centring: a truncated SVD projects the raw rows
