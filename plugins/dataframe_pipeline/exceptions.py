"""Exceptions of the DataFrame pipeline. Messages name the bad field and show the bad value."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error raised by this package."""


class ConfigurationError(PipelineError, ValueError):
    """A step was configured with a bad value; raised before any data is read."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}={value!r}: {problem}")


class DataContractError(PipelineError):
    """The data does not match what the step expects (missing column, wrong schema); not retried."""


class DatasetNotFoundError(PipelineError, FileNotFoundError):
    """A dataset reference points at nothing committed."""


class ValidationFailedError(PipelineError):
    """A data quality suite failed; publishing is blocked."""


class SourceNotFoundError(PipelineError, FileNotFoundError):
    """An ingest source (file, table, endpoint) does not exist."""
