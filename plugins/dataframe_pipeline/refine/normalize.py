"""Row normalisation: scale each row of a group of columns to unit norm (scikit-learn's ``Normalizer``).

Stateless: every row is divided by its own L1, L2 or max norm over ``columns``, so nothing is fitted
and the result never depends on other rows or on the batching. A row whose norm is zero is left as it
is (as scikit-learn does). A row with a null or infinite value in ``columns`` has no norm: it is
quarantined with the reason ``"normalize: null in <cols>"`` (the same rule as PCA's), never guessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.enrich.scaling import SuffixedOutput
from dataframe_pipeline.exceptions import ConfigurationError
from dataframe_pipeline.refine.pca import split_incomplete

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

NORMS = ("l2", "l1", "max")


class RowNormalizer(SuffixedOutput, BatchTransformer):
    """Divide each row of ``columns`` by its ``norm`` (``"l2"``, ``"l1"`` or ``"max"``), as float64.

    The results replace the columns, or, with ``suffix``, go to new columns ``<column><suffix>``.

    :param columns: the numeric columns that make up the row vector.
    :param norm: ``"l2"`` (Euclidean), ``"l1"`` (sum of absolute values) or ``"max"`` (largest
        absolute value).
    :param suffix: write ``<column><suffix>`` instead of replacing the columns.
    """

    def __init__(self, columns: list[str], norm: str = "l2", suffix: str | None = None) -> None:
        self.columns = columns
        self.norm = norm
        self.suffix = suffix

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` for bad ``columns``, ``norm`` or ``suffix``."""
        check_column_list(self.columns, columns)
        if self.norm not in NORMS:
            raise ConfigurationError("norm", self.norm, f"must be one of {list(NORMS)}")
        self._check_suffix()

    def may_remove_rows(self) -> bool:
        return True  # rows without a norm are quarantined

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Normalise the complete rows; quarantine the rows with a null or infinite value."""
        self.check_params()
        require_columns(batch, self.columns, self.rule_name)
        result, matrix = split_incomplete(batch, self.columns, self.rule_name)
        out = result.data.copy(deep=False)
        normalised = matrix / self._norms(matrix)[:, None]
        for j, col in enumerate(self.columns):
            out[self._output_name(col)] = normalised[:, j]
        return BatchResult(data=out, rejected=result.rejected, dropped=result.dropped)

    def _norms(self, matrix: np.ndarray) -> np.ndarray:
        if self.norm == "l2":
            norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
        elif self.norm == "l1":
            norms = np.abs(matrix).sum(axis=1)
        else:
            norms = np.abs(matrix).max(axis=1, initial=0.0)
        norms[norms == 0.0] = 1.0  # a zero row stays zero
        return norms
