"""Base class for the batch transformers of the clean, enrich and refine steps.

Subclasses set their configuration as constructor arguments stored unchanged (scikit-learn style:
no validation, no logic in ``__init__``; validate in :meth:`check_params`, which operators call
before reading any data so bad configuration fails at the start). Subclasses override:

- ``_reset()``: forget accumulated statistics and fitted attributes;
- ``partial_fit(batch)``: accumulate mergeable statistics (stateless rules: inherit the no-op);
- ``finish_fit()``: compute fitted attributes (ending in ``_``) from the statistics;
- ``transform(batch) -> BatchResult``: apply, using only fitted attributes.

``stateful`` tells the operator whether a fit pass over the data is needed before transforming.

Three optional declarations let the engine save passes (see :mod:`dataframe_pipeline.core.engine`);
the defaults are the safe answers ("any column", "yes", "yes"):

- ``columns_read()``: the columns ``partial_fit`` and ``transform`` read;
- ``writes_column(name)``: whether ``transform`` may add, change or remove that column;
- ``may_remove_rows()``: whether ``transform`` may drop or quarantine rows.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Self

    import pandas as pd

    from dataframe_pipeline.core.batch import BatchResult


class _RuleName:
    """``rule_name`` of a transformer class or instance, looked up in the transform catalogue."""

    def __get__(self, instance: object, owner: type) -> str:
        from dataframe_pipeline.core.catalogue import rule_name

        return rule_name(owner)


class BatchTransformer:
    """A streaming, scikit-learn-like transform over DataFrame batches."""

    stateful: ClassVar[bool] = False
    #: output columns depend on the data (e.g. one-hot), so they are unknown before the fit
    dynamic_features: ClassVar[bool] = False
    #: the rule this transformer's quarantined and dropped rows count under: its catalogue name
    rule_name: ClassVar[str] = _RuleName()  # type: ignore[assignment]

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""

    def columns_read(self) -> list[str] | None:
        """The columns ``partial_fit`` and ``transform`` read; None: any (the engine reads them all)."""
        return None

    def writes_column(self, name: str) -> bool:
        """Whether ``transform`` may add, change or remove the column ``name``."""
        return True

    def may_remove_rows(self) -> bool:
        """Whether ``transform`` may drop or quarantine rows."""
        return True

    def _reset(self) -> None:
        """Forget accumulated statistics and fitted attributes."""

    def begin_pass(self) -> None:
        """A new pass over the input starts (the engine calls it before each pass). For transforms that
        depend on the rows already seen in the pass, such as streaming de-duplication."""

    def partial_fit(self, batch: pd.DataFrame) -> Self:
        return self

    def finish_fit(self) -> Self:
        return self

    def fit(self, batch: pd.DataFrame) -> Self:
        """Fit on one DataFrame (the whole dataset, when it fits in memory)."""
        self._reset()
        return self.partial_fit(batch).finish_fit()

    def fit_batches(self, batches: Iterable[pd.DataFrame]) -> Self:
        self._reset()
        for batch in batches:
            self.partial_fit(batch)
        return self.finish_fit()

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        raise NotImplementedError

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        """Columns of the output, given the input's columns (default: unchanged)."""
        return list(input_features)

    def get_params(self) -> dict[str, Any]:
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
