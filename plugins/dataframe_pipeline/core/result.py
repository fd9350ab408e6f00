"""What a step returns: :class:`StepResult`, the small JSON-safe value that travels through XCom, and how
the next step finds its input in it (:func:`input_uri`). Pure: no Airflow import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataframe_pipeline.core.batch import RowAccounting
    from dataframe_pipeline.core.dataset import DatasetRef


#: the keys every step result has; a step's own details may not use them
RESULT_KEYS = frozenset({"step", "partition", "dataset", "quarantine", "accounting", "fitted_uri"})


@dataclass(frozen=True)
class StepResult:
    """What a step did: the reference of its output, its quarantine, its row accounting, and details.

    :param step: the step (``ingest``, ``clean``, ...).
    :param partition: the partition the run processed (:meth:`Partition.as_dict`).
    :param dataset: the step's output (for validate, the dataset it passed on; for store, the published one).
    :param quarantine: the rows the step rejected.
    :param accounting: rows in = rows out + rows quarantined + rows dropped by rule.
    :param fitted_uri: where the fitted state of the chain was saved, or None.
    :param details: what only this step knows (files read, HTTP statistics, splits, the report, ...), at
        the top level of :meth:`as_dict` beside the common keys.
    """

    step: str
    partition: Mapping[str, Any]
    dataset: DatasetRef
    quarantine: DatasetRef
    accounting: RowAccounting
    fitted_uri: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = sorted(RESULT_KEYS.intersection(self.details))
        if clash:
            raise ValueError(f"step details may not use the result's own keys {clash}")

    def as_dict(self) -> dict[str, Any]:
        """The JSON-safe value a step returns through XCom (the next step's ``input_dataset``)."""
        return {
            "step": self.step,
            "partition": dict(self.partition),
            "dataset": self.dataset.as_dict(),
            "quarantine": self.quarantine.as_dict(),
            "accounting": self.accounting.as_dict(),
            "fitted_uri": self.fitted_uri,
            **self.details,
        }


def input_uri(value: Any) -> str:
    """The dataset a step reads: an upstream step's result (``upstream.output``), a dataset reference, or a URI.

    :raises ConfigurationError: (field ``input_dataset``) anything else.
    """
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("dataset"), dict) and "uri" in value["dataset"]:
        return value["dataset"]["uri"]
    if isinstance(value, dict) and "uri" in value and "fingerprint" in value:
        return value["uri"]
    raise ConfigurationError(
        "input_dataset", value, "expected an upstream step's result (upstream.output), a dataset reference or a URI"
    )
