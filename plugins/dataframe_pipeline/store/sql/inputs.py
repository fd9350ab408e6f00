"""What a warehouse load reads besides a lake dataset (:class:`~dataframe_pipeline.core.runner.DatasetInput`):
a version of a curated table, read through ``dataframe_pipeline.store.tables.read_batches`` (the Delta
Lake tables of the store step), imported when the first batch is read. Pure: no Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.dataset import DatasetRef

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

    import pandas as pd


def _read_batches(uri: str, **options: Any) -> Iterator[Any]:
    from dataframe_pipeline.store.tables import read_batches  # the table format is imported only here

    return read_batches(uri, **options)


@dataclass
class TableInput:
    """One partition (``filters``) of a version of a curated table, read in batches like a dataset.

    :param uri: the table's location.
    :param version: the table version to read (None: the latest), e.g. from the asset event that
        announced it, so a load reads exactly what was published.
    :param filters: ``[(column, op, value)]``, e.g. the run's partition ``[("date", "=", "2026-10-01")]``.
    :param storage_options: object-store options of the table's filesystem.
    """

    uri: str
    version: int | None = None
    filters: Sequence[tuple[str, str, Any]] | None = None
    storage_options: Mapping[str, Any] | None = None
    _columns: list[str] | None = field(default=None, init=False, repr=False)

    def _read(self, columns: Collection[str] | None) -> Iterator[Any]:
        return _read_batches(
            self.uri,
            version=self.version,
            columns=list(columns) if columns is not None else None,
            filters=list(self.filters) if self.filters else None,
            storage_options=dict(self.storage_options) if self.storage_options else None,
        )

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            first = next(iter(self._read(None)), None)
            self._columns = list(first.schema.names) if first is not None else []
        return list(self._columns)

    @property
    def ref(self) -> DatasetRef:
        where = f"@v{self.version}" if self.version is not None else "@latest"
        return DatasetRef(
            uri=self.uri,
            rows=-1,  # unknown until read; the load's own reference counts them
            columns={},
            fingerprint=f"{self.uri}{where}",
            meta={"version": self.version, "filters": [list(f) for f in self.filters or ()]},
        )

    def batches(self, batch_rows: int) -> Callable[..., Iterator[pd.DataFrame]]:
        """A fresh pass at each call, over the ``columns`` asked (None: all); the table's own batch size."""

        def one_pass(columns: Collection[str] | None = None) -> Iterator[pd.DataFrame]:
            for batch in self._read(columns):
                yield batch.to_pandas()

        return one_pass
