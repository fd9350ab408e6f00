"""Exceptions of the DataFrame pipeline. Messages name the bad field and show the bad value."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error raised by this package."""


class ConfigurationError(PipelineError, ValueError):
    """A step was configured with a bad value; raised before any data is read."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={value!r}: {problem}")


class DataContractError(PipelineError):
    """The data does not match what the step expects (missing column, wrong schema); not retried."""


class DatasetNotFoundError(PipelineError, FileNotFoundError):
    """A dataset reference points at nothing committed."""


class ValidationFailedError(PipelineError):
    """A data quality suite failed; publishing is blocked."""


class SourceNotFoundError(PipelineError, FileNotFoundError):
    """An ingest source (file, table, endpoint) does not exist."""


class NotFittedError(PipelineError, RuntimeError):
    """A transformer was used before it was fitted (``transform()`` before ``fit()``/``finish_fit()``)."""


class ArtifactError(PipelineError):
    """A fitted-state archive cannot be saved or loaded (not skops, untrusted types, wrong content)."""


class PartitionError(ConfigurationError):
    """A run has no partition to process (no logical date, no partition given) or a malformed one."""


# --- ingest -------------------------------------------------------------------------------------


class UnsafePathError(ConfigurationError):
    """A source path points outside the landing root."""


class EmptySourceError(DataContractError):
    """The source file has no content at all (0 bytes), or no header line when one is expected."""


class SourceDecodeError(DataContractError):
    """The source file does not decode in the configured encoding."""

    def __init__(self, source: str, offset: int, encoding: str, problem: str) -> None:
        self.source = source
        self.offset = offset
        self.encoding = encoding
        super().__init__(f"{source}: not valid {encoding} at byte offset {offset}: {problem}")


class MalformedSourceError(DataContractError):
    """The source is not valid in its format (corrupt compressed data, XML/JSON syntax error, ...).

    Raised as soon as the problem is met, possibly after earlier batches were yielded: the file
    must then be quarantined as a whole, never kept in part.
    """


class UnsafeArchiveMemberError(MalformedSourceError):
    """A zip member has an absolute path or a ``..`` component (zip-slip), or is encrypted."""


class XmlEntityError(MalformedSourceError):
    """An XML document declares or uses an entity that is refused (external, parameter, bomb, undeclared, ...)."""

    def __init__(self, source: str, line: int, entity: str, problem: str) -> None:
        self.source = source
        #: the line of the entity's declaration, or of the reference, in the original file
        self.line = line
        #: the entity's name (``%name`` for a parameter entity)
        self.entity = entity
        super().__init__(f"{source}, line {line}: {problem}; the file must be quarantined as a whole")


class KeyCollisionError(ValueError):
    """Two values of a record map to the same column name once flattened."""


class RepeatedKeyError(PipelineError):
    """A JSON object holds the same key twice (raised by the decoder's hook; readers turn it into a
    ``duplicate_key`` quarantine, or fail a document whose envelope repeats a key)."""


class HttpSourceError(PipelineError):
    """An HTTP request failed: a status that is not retried, or retries exhausted."""

    def __init__(self, url: str, status: int | None, message: str, *, retryable: bool) -> None:
        #: the request URL, secrets redacted
        self.url = url
        #: the last HTTP status, or None when no response came (connection error, timeout)
        self.status = status
        #: the server's message (redacted, at most ~500 characters) or the connection error
        self.message = message
        #: whether trying again later may succeed (429, 5xx, connection errors)
        self.retryable = retryable
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{url}: {where}: {message}")


class PaginationLoopError(DataContractError):
    """The API sent a cursor or next URL that was fetched before: following it would never end."""


class UnsafeUrlError(DataContractError):
    """A next-page link points off the base URL's scheme, host and port (refused: SSRF)."""


class TransientSourceError(PipelineError, ConnectionError):
    """The source failed in a way a later retry of the task can fix (connection lost, server down)."""


class NothingToIngestError(PipelineError):
    """An incremental source has nothing new for this partition (the task is skipped, not failed)."""
