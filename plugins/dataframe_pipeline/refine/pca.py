"""Principal component projection fitted in one streaming pass.

``solver="covariance"`` (default) merges each batch's mean and scatter matrix (Chan et al.'s
pairwise update, O(columns^2) memory) and takes the eigenvectors of the covariance at the end: an
exact PCA, as scikit-learn's ``PCA`` computes, at the cost of one matrix product per batch. It is
the right choice for the tens to hundreds of dense features of a tabular dataset.

``solver="incremental"`` uses scikit-learn's IncrementalPCA. The rows are fed to
``IncrementalPCA.partial_fit`` in chunks of a fixed number of complete rows
(:meth:`PCAProjection.chunk_size`), cut from the stream of rows whatever the batch boundaries, so
the fit is the same however the input is batched. When all complete rows fit in one chunk the
result is an exact PCA; with several chunks and ``n_components`` below the number of columns,
IncrementalPCA's truncation after each chunk makes it an approximation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult, split_rows
from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, NotFittedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

#: rows per IncrementalPCA.partial_fit call when ``batch_size`` is None (at least 10 per column)
DEFAULT_CHUNK_ROWS = 10_000
SOLVERS = ("covariance", "incremental")
_FITTED = (
    "components_",
    "mean_",
    "explained_variance_",
    "explained_variance_ratio_",
    "singular_values_",
    "n_samples_seen_",
)


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _matrix(batch: pd.DataFrame, columns: Sequence[str], who: str) -> np.ndarray:
    """The columns as a float64 matrix (rows x columns) with NaN for nulls.

    Column-major (Fortran order): each column is copied in one contiguous write, and
    :func:`project` reads the columns contiguously.
    """
    matrix = np.empty((len(batch), len(columns)), dtype=np.float64, order="F")
    for j, col in enumerate(columns):
        values = batch[col]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise DataContractError(f"{who}: column {col!r} has dtype {values.dtype}, expected numbers")
        matrix[:, j] = values.to_numpy(dtype="float64", na_value=np.nan)
    return matrix


def _reasons(matrix: np.ndarray, bad: np.ndarray, columns: Sequence[str], rule: str = "pca") -> list[str]:
    """``"<rule>: null in a, b"`` (and/or ``"infinite value in c"``) for each bad row."""
    flags = np.hstack([np.isnan(matrix[bad]), np.isinf(matrix[bad])])
    patterns, inverse = np.unique(flags, axis=0, return_inverse=True)
    n = len(columns)
    texts = []
    for pattern in patterns:
        parts = []
        for label, hits in (("null in", pattern[:n]), ("infinite value in", pattern[n:])):
            if hits.any():
                parts.append(f"{label} " + ", ".join(c for c, hit in zip(columns, hits, strict=True) if hit))
        texts.append(f"{rule}: " + "; ".join(parts))
    return [texts[i] for i in inverse.ravel()]


def split_incomplete(batch: pd.DataFrame, columns: Sequence[str], rule: str) -> tuple[BatchResult, np.ndarray]:
    """The numeric ``columns`` of the batch as a matrix; the rows with a null or infinite value are
    quarantined under ``rule`` (reason ``"<rule>: null in a, b"``). Returns the result and the
    matrix of the rows it kept."""
    matrix = _matrix(batch, columns, rule)
    bad = ~np.isfinite(matrix).all(axis=1)
    if not bad.any():
        return BatchResult(data=batch), matrix
    reasons = pd.Series(_reasons(matrix, bad, columns, rule), index=batch.index[bad], dtype="str")
    return split_rows(batch, pd.Series(bad, index=batch.index), rule, reasons), matrix[~bad]


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip components so that each one's largest-magnitude loading (the first, on ties) is positive."""
    pivots = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    return components * np.where(pivots < 0, -1.0, 1.0)[:, None]


def project(matrix: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``(matrix - mean) @ components.T``, summed column by column in a fixed order.

    A BLAS product may pick a different kernel (and summation order) for a different number of
    rows; element-wise sums keep each row's result independent of the batch it arrives in.
    """
    columns = np.asfortranarray(matrix)
    out = np.zeros((len(components), len(matrix)))  # one contiguous row per component
    centered = np.empty(len(matrix))
    term = np.empty(len(matrix))
    for j in range(components.shape[1]):
        np.subtract(columns[:, j], mean[j], out=centered)
        for k in range(len(components)):
            np.multiply(centered, components[k, j], out=term)
            out[k] += term
    return out.T


class ComponentOutputs:
    """Projections that add ``<prefix>1..<prefix>K`` and keep or drop their input columns."""

    columns: list[str]
    n_components: int
    prefix: str
    keep_input: bool
    rule_name: str
    components_: np.ndarray

    def _check_component_params(self, columns: Sequence[str] | None) -> None:
        """Check ``columns``, ``n_components``, ``prefix`` and ``keep_input``."""
        check_column_list(self.columns, columns)
        if not _is_count(self.n_components, 1) or self.n_components > len(self.columns):
            raise ConfigurationError(
                "n_components", self.n_components, f"must be an integer from 1 to {len(self.columns)}"
            )
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ConfigurationError("prefix", self.prefix, "must be a non-empty string")
        if not isinstance(self.keep_input, bool):
            raise ConfigurationError("keep_input", self.keep_input, "must be True or False")

    def _check_outputs(self, columns: Sequence[str] | None) -> None:
        if columns is not None:
            clashes = sorted(set(self._passthrough(columns)) & set(self.output_names()))
            if clashes:
                raise ConfigurationError("prefix", self.prefix, f"output columns {clashes} already exist")

    def columns_read(self) -> list[str] | None:
        return list(self.columns)

    def writes_column(self, name: str) -> bool:
        return name in self.output_names() or (not self.keep_input and name in self.columns)

    def output_names(self) -> list[str]:
        """The new columns: ``<prefix>1`` .. ``<prefix>K``."""
        return [f"{self.prefix}{i}" for i in range(1, self.n_components + 1)]

    def _passthrough(self, input_features: Sequence[str]) -> list[str]:
        return [c for c in input_features if self.keep_input or c not in self.columns]

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """Input columns (less ``columns`` unless ``keep_input``) followed by the components."""
        return self._passthrough(input_features) + self.output_names()

    def _center(self) -> np.ndarray:
        """What is subtracted from a row before it is projected."""
        raise NotImplementedError

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Project the complete rows; quarantine rows with a null or infinite input value."""
        if not hasattr(self, "components_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or finish_fit() first")
        require_columns(batch, self.columns, self.rule_name)
        names = self.output_names()
        clashes = sorted(set(self._passthrough(batch.columns)) & set(names))
        if clashes:
            raise DataContractError(f"{self.rule_name}: output columns {clashes} already exist in the input")
        result, complete = split_incomplete(batch, self.columns, self.rule_name)
        kept = result.data
        projected = project(complete, self._center(), self.components_)
        scores = pd.DataFrame(projected, index=kept.index, columns=names, copy=False)
        data = pd.concat([kept[self._passthrough(kept.columns)], scores], axis=1)
        return BatchResult(data=data, rejected=result.rejected, dropped=result.dropped)


class PCAProjection(ComponentOutputs, BatchTransformer):
    """Add the first ``n_components`` principal components of ``columns`` as ``<prefix>1..<prefix>K``.

    Rows with a null (or infinite) value in ``columns`` are skipped by the fit and quarantined by
    :meth:`transform` with the reason ``"pca: null in <cols>"``. Fitted attributes are plain numpy
    arrays copied from IncrementalPCA: ``components_`` (K x columns, signs fixed so each
    component's largest-magnitude loading is positive), ``mean_``, ``explained_variance_``,
    ``explained_variance_ratio_``, ``singular_values_``, and the int ``n_samples_seen_``.

    :param columns: the numeric input columns.
    :param n_components: number of components K (at most ``len(columns)``).
    :param prefix: output column name prefix.
    :param keep_input: keep the input columns next to the components.
    :param batch_size: complete rows per IncrementalPCA step (default :data:`DEFAULT_CHUNK_ROWS`
        or 10 per column, whichever is larger); at least ``n_components``.
    :param solver: ``"covariance"`` (exact, one pass of merged scatter matrices) or ``"incremental"``
        (scikit-learn's IncrementalPCA, an approximation with several chunks).
    """

    stateful = True

    def __init__(  # noqa: PLR0917 -- scikit-learn style: every parameter may be given by position
        self,
        columns: list[str],
        n_components: int = 3,
        prefix: str = "pc",
        keep_input: bool = True,
        batch_size: int | None = None,
        solver: str = "covariance",
    ) -> None:
        self.columns = columns
        self.n_components = n_components
        self.prefix = prefix
        self.keep_input = keep_input
        self.batch_size = batch_size
        self.solver = solver

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        self._check_component_params(columns)
        if self.solver not in SOLVERS:
            raise ConfigurationError("solver", self.solver, f"must be one of {list(SOLVERS)}")
        if self.batch_size is not None and not _is_count(self.batch_size, self.n_components):
            raise ConfigurationError("batch_size", self.batch_size, "must be None or an integer >= n_components")
        self._check_outputs(columns)

    def chunk_size(self) -> int:
        """Complete rows per IncrementalPCA step."""
        if self.batch_size is not None:
            return self.batch_size
        return max(DEFAULT_CHUNK_ROWS, 10 * len(self.columns), self.n_components)

    def _reset(self) -> None:
        self._moments: tuple[int, np.ndarray, np.ndarray] | None = None
        self._ipca: Any = None
        self._buffer: list[np.ndarray] = []
        self._n_complete = 0
        for name in _FITTED:
            self.__dict__.pop(name, None)

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        """Buffer the batch's complete rows and feed every full chunk to IncrementalPCA."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        if getattr(self, "_buffer", None) is None:
            self._reset()
        matrix = _matrix(batch, self.columns, self.rule_name)
        finite = np.isfinite(matrix).all(axis=1)
        # column-major either way: the same layout gives the same floating-point sums
        complete = matrix if finite.all() else np.asfortranarray(matrix[finite])
        self._n_complete += len(complete)
        if self.solver == "covariance":
            self._merge_scatter(complete)
            return self
        self._buffer.append(np.ascontiguousarray(complete))
        self._flush(final=False)
        return self

    def _merge_scatter(self, rows: np.ndarray) -> None:
        """Merge (n, mean, scatter) of ``rows`` into the running moments (Chan et al.)."""
        if not len(rows):
            return
        n_b = len(rows)
        mean_b = rows.mean(axis=0)
        rows -= mean_b  # in place: the matrix is this batch's own copy
        scatter_b = rows.T @ rows
        if self._moments is None:
            self._moments = (n_b, mean_b, scatter_b)
            return
        n_a, mean_a, scatter_a = self._moments
        n = n_a + n_b
        delta = mean_b - mean_a
        self._moments = (
            n,
            mean_a + delta * (n_b / n),
            scatter_a + scatter_b + np.outer(delta, delta) * (n_a * n_b / n),
        )

    def _finish_covariance(self) -> None:
        n, mean, scatter = self._moments  # type: ignore[misc]
        variances, vectors = np.linalg.eigh(scatter / max(n - 1, 1))
        order = np.argsort(variances)[::-1]
        variances, vectors = np.clip(variances[order], 0.0, None), vectors[:, order]
        k = self.n_components
        total = variances.sum()
        self.components_ = _fix_signs(vectors[:, :k].T.copy())
        self.mean_ = mean
        self.explained_variance_ = variances[:k].copy()
        self.explained_variance_ratio_ = variances[:k] / total if total > 0 else np.zeros(k)
        self.singular_values_ = np.sqrt(variances[:k] * max(n - 1, 1))
        self.n_samples_seen_ = int(n)

    def _flush(self, final: bool) -> None:
        """Feed the buffered rows in chunks of exactly ``chunk_size()`` rows (the last one shorter if final)."""
        from sklearn.decomposition import IncrementalPCA

        chunk = self.chunk_size()
        if not final and sum(len(part) for part in self._buffer) < chunk:
            return  # concatenating only when a chunk is due keeps small batches cheap
        rows = np.concatenate(self._buffer) if self._buffer else np.zeros((0, len(self.columns)))
        stop = len(rows) if final else len(rows) // chunk * chunk
        if self._ipca is None and stop:
            self._ipca = IncrementalPCA(n_components=self.n_components)
        for start in range(0, stop, chunk):
            self._ipca.partial_fit(rows[start : min(start + chunk, stop)])
        self._buffer = [rows[stop:]]

    def finish_fit(self) -> Self:
        """Feed the remaining rows and copy the fitted arrays out; a later partial_fit starts afresh.

        :raises DataContractError: fewer complete rows than ``n_components``.
        """
        if getattr(self, "_buffer", None) is None:
            self._reset()
        if self._n_complete < self.n_components:
            raise DataContractError(
                f"{self.rule_name}: {self._n_complete} rows without nulls in {self.columns}, "
                f"need at least n_components={self.n_components} to fit"
            )
        if self.solver == "covariance":
            self._finish_covariance()
            self._moments, self._buffer, self._n_complete = None, [], 0
            return self
        self._flush(final=True)
        ipca = self._ipca
        self.components_ = _fix_signs(np.array(ipca.components_, dtype=np.float64))
        self.mean_ = np.array(ipca.mean_, dtype=np.float64)
        self.explained_variance_ = np.array(ipca.explained_variance_, dtype=np.float64)
        self.explained_variance_ratio_ = np.array(ipca.explained_variance_ratio_, dtype=np.float64)
        self.singular_values_ = np.array(ipca.singular_values_, dtype=np.float64)
        self.n_samples_seen_ = int(ipca.n_samples_seen_)
        self._ipca, self._buffer, self._n_complete = None, [], 0
        return self

    def _center(self) -> np.ndarray:
        return self.mean_
