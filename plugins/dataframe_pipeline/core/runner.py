"""One lifecycle for every step, ingest to store: :class:`StepRunner` and its :class:`StepResult`. Pure: no Airflow.

A step reads an input, passes its batches through a chain, writes an output and a quarantine, feeds
routed outputs (splits, pictures, validation reports), saves fitted state, and reports one row
accounting. The runner owns all of it, so every step behaves the same way:

- **input**: a committed dataset of the lake (:class:`DatasetInput`: clean, enrich, refine, validate,
  store), or a source read in parts (:class:`SourceInput`: the ingest connectors; a part such as a file
  that turns out malformed as a whole is taken out again and quarantined whole);
- **chain**: the declared transformers, fitted in streaming passes and applied by
  :func:`~dataframe_pipeline.core.engine.run_chain` (empty for ingest, validate and store), with
  checkpoints in scratch datasets (``core/scratch.py``);
- **output**: by default the lake dataset ``<task>/output``; a step may write elsewhere instead
  (:class:`Sink`: the store step publishes a table partition) or write nothing and pass its input on
  (:class:`PassThrough`: the validate step audits);
- **quarantine** ``<task>/quarantine``: every rejected row with the step, rule, reason and origin;
- **routed outputs** (:class:`RoutedOutput`): receive every output batch as it is written and commit
  after the output (one dataset per split, a t-SNE picture, a validation report);
- **fitted state**: reusable fitted transformers saved as ``<task>/fitted.skops`` (and published under a
  version name), or loaded from an earlier run instead of fitting;
- **result**: one :class:`~dataframe_pipeline.core.result.StepResult`, the small JSON-safe value that
  travels through XCom (``core/result.py``), with the row accounting ``rows in = rows out + rows
  quarantined + rows dropped by rule`` checked before returning.

Writes go to attempt-unique locations and are committed atomically, so a failed attempt leaves the last
good version in place and readers never see a partial one.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dataframe_pipeline.core.batch import RowTally
from dataframe_pipeline.core.dataset import DatasetReader, DatasetRef, DatasetWriter, Location, new_attempt_id
from dataframe_pipeline.core.result import StepResult
from dataframe_pipeline.core.scratch import ScratchSpace, select
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

    import pandas as pd
    import pyarrow as pa

    from dataframe_pipeline.core.batch import RowAccounting
    from dataframe_pipeline.core.partition import Partition
    from dataframe_pipeline.core.quarantine import QuarantineWriter
    from dataframe_pipeline.core.transform import BatchTransformer


log = logging.getLogger(__name__)


@dataclass
class DatasetInput:
    """A committed dataset of the lake, read in batches as many times as the chain's passes need.

    :param location: the dataset's directory.
    """

    location: Location
    _reader: DatasetReader | None = field(default=None, init=False, repr=False)

    @property
    def reader(self) -> DatasetReader:
        if self._reader is None:
            self._reader = DatasetReader(self.location.fs, self.location.path, uri=self.location.uri)
        return self._reader

    @property
    def columns(self) -> list[str]:
        return list(self.reader.columns)

    @property
    def ref(self) -> DatasetRef:
        return self.reader.ref

    def batches(self, batch_rows: int) -> Callable[..., Iterator[pd.DataFrame]]:
        """A fresh pass over the dataset at each call, reading only the ``columns`` asked (None: all)."""
        reader, available = self.reader, self.columns

        def one_pass(columns: Collection[str] | None = None) -> Iterator[pd.DataFrame]:
            return reader.iter_batches(batch_rows, select(available, columns))

        return one_pass


@dataclass(frozen=True)
class SourcePart:
    """One part of an ingest source, such as a file or a table.

    :param name: what it is (shown in logs and in the quarantine).
    :param batches: starts reading it: source batches (``table``, ``rejected``, ``accounting()``).
    :param whole_rule: for a part that may be malformed as a whole (a file): the quarantine rule of a
        data-contract error raised while reading it (its rows are then taken out of the output and the
        part is quarantined whole); None: such an error fails the step.
    :param size: its size in bytes, if known (for the log).
    """

    name: str
    batches: Callable[[], Iterable[Any]]
    whole_rule: Callable[[Exception], str] | None = None
    size: int | None = None


@dataclass
class SourceInput:
    """An ingest source: parts read one after the other.

    :param parts: the parts, in order.
    :param columns: the declared columns (name -> Arrow type) of an output that received no row, when
        the parts give no schema of their own.
    :param details: called after the read: what the connector saw (files, pages, rows read, ...).
    """

    parts: Iterable[SourcePart]
    columns: Mapping[str, pa.DataType] | None = None
    details: Callable[[], Mapping[str, Any]] = dict


class Sink(Protocol):
    """Where a step's output batches go instead of the lake dataset ``<task>/output`` (the store step)."""

    def write(self, batch: pd.DataFrame) -> None: ...

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef: ...

    def abort(self) -> None: ...

    def details(self) -> Mapping[str, Any]: ...


class PassThrough:
    """The output of a step that writes no data (validate): its result names the dataset it read."""

    def __init__(self, ref: DatasetRef) -> None:
        self.ref = ref
        self.rows = 0

    def write(self, batch: pd.DataFrame) -> None:
        self.rows += len(batch)

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        return self.ref

    def abort(self) -> None:
        return None

    def details(self) -> Mapping[str, Any]:
        return {}


class RoutedOutput(Protocol):
    """An extra output fed with every batch of the step's output as it is written (splits, a picture, a
    report). ``commit`` runs once the output is committed and returns details for the step's result; an
    error there fails the step (a validation report may raise once it is written). ``abort`` removes what
    was written when the step fails."""

    def write(self, batch: pd.DataFrame) -> None: ...

    def commit(self, output: DatasetRef) -> Mapping[str, Any]: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class FittedState:
    """Where a chain's fitted state comes from and goes to.

    :param load_from: a ``fitted.skops`` to apply instead of fitting (the reusable transformers), or None.
    :param publish_to: extra places to save this run's fitted state (a published version), besides
        ``<task>/fitted.skops``.
    :param shown_as: how ``load_from`` is named in messages (the version name or URI configured).
    """

    load_from: Location | None = None
    publish_to: tuple[Location, ...] = ()
    shown_as: str | None = None


@dataclass
class StepRunner:
    """Runs one step for one partition.

    :param step: the step's name (recorded in the quarantine, the manifests and the result).
    :param place: the task's folder for this partition, ``<root>/<dag_id>/<partition>/<task_id>``.
    :param partition: the partition the run processes.
    :param input: a committed dataset (:class:`DatasetInput`) or an ingest source (:class:`SourceInput`).
    :param chain: the transformers to fit and apply (dataset inputs only).
    :param routed: factories of routed outputs, called with the runner once its outputs are open.
    :param sink: the output, when it is not the lake dataset ``<task>/output`` (store; validate's
        :class:`PassThrough`): a factory called with the runner.
    :param fitted: fitted state to load and where to publish it.
    :param batch_rows: rows per streamed batch.
    :param compression: Parquet codec of the datasets written.
    :param try_number: the task attempt (makes the attempt directories readable).
    :param meta: configuration recorded in the output's manifest (the chain as declared, the source).
    :param after_commit: called once everything is committed (e.g. to record which files this partition
        took); its mapping joins the result's details.
    """

    step: str
    place: Location
    partition: Partition
    input: DatasetInput | SourceInput
    chain: Sequence[BatchTransformer] = ()
    routed: Sequence[Callable[[StepRunner], RoutedOutput]] = ()
    sink: Callable[[StepRunner], Sink] | None = None
    fitted: FittedState = field(default_factory=FittedState)
    batch_rows: int = 100_000
    compression: str = "lz4"
    try_number: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    after_commit: Callable[[], Mapping[str, Any]] | None = None
    attempt: str = field(init=False)
    #: the fitted-state archive applied instead of fitting (``fitted.load_from``), once loaded
    _applied: bytes | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.attempt = new_attempt_id(self.try_number)

    # -- the lifecycle ---------------------------------------------------------------------------

    def run(self) -> StepResult:
        """Read, transform, write, commit and report; raises on a configuration or data-contract error
        (nothing committed then) and lets I/O errors through for the task's retries."""
        started = time.perf_counter()
        if isinstance(self.input, SourceInput):
            accounting, output, quarantine, details = self._run_source(self.input)
            fitted_uri = None
        else:
            accounting, output, quarantine, details, fitted_uri = self._run_dataset(self.input)
        if self.after_commit is not None:
            details.update(self.after_commit())
        result = StepResult(
            step=self.step,
            partition=self.partition.as_dict(),
            dataset=output,
            quarantine=quarantine,
            accounting=accounting,
            fitted_uri=fitted_uri,
            details=details,
        )
        self._report(result, time.perf_counter() - started)
        return result

    def open_dataset(self, name: str, *, schema: pa.Schema | None = None) -> DatasetWriter:
        """A writer of the dataset ``<task>/<name>`` for this attempt (outputs, splits, checkpoints)."""
        target = self.place / name
        return DatasetWriter(
            target.fs, target.path, uri=target.uri, attempt_id=self.attempt, compression=self.compression, schema=schema
        )

    def _open_quarantine(self) -> QuarantineWriter:
        from dataframe_pipeline.core.quarantine import QuarantineWriter

        return QuarantineWriter(self.open_dataset("quarantine"), step=self.step)

    def _run_dataset(self, source: DatasetInput) -> tuple[RowAccounting, DatasetRef, DatasetRef, dict, str | None]:
        from dataframe_pipeline.core.engine import run_chain

        check_chain(self.chain, source.columns)
        reusable = reusable_positions(self.chain)
        saved = self.fitted.load_from
        prefitted = self._load_fitted(saved, reusable) if saved is not None else frozenset()
        scratch = ScratchSpace(self.place / "_scratch", self.batch_rows)
        details: dict[str, Any] = {}
        try:
            with contextlib.ExitStack() as stack:
                sink = self._open_sink(stack)
                quarantine = stack.enter_context(self._open_quarantine())
                routed = [self._enter_routed(stack, factory) for factory in self.routed]

                def write(batch: pd.DataFrame) -> None:
                    sink.write(batch)
                    for output in routed:
                        output.write(batch)

                accounting = run_chain(
                    self.chain,
                    source.batches(self.batch_rows),
                    write,
                    quarantine.write,
                    prefitted=prefitted,
                    scratch=scratch.new,
                )
                output = sink.commit({"step": self.step, **self.meta})
                quarantine_ref = quarantine.commit()
                details.update(sink.details())
                for routed_output in routed:
                    details.update(routed_output.commit(output))
        finally:
            scratch.remove()
        fitted_uri = self._save_fitted(reusable) if reusable else None
        self._log_fitted()
        return accounting, output, quarantine_ref, details, fitted_uri

    def _open_sink(self, stack: contextlib.ExitStack) -> Any:
        if self.sink is None:
            return _DatasetSink(stack.enter_context(self.open_dataset("output")))
        sink = self.sink(self)
        guard = _Committing(sink)
        stack.callback(_abort_unless_committed, guard)
        return guard

    def _enter_routed(self, stack: contextlib.ExitStack, factory: Callable[[StepRunner], RoutedOutput]) -> RoutedOutput:
        output = factory(self)
        guard = _Committing(output)
        stack.callback(_abort_unless_committed, guard)
        return guard

    def _run_source(self, source: SourceInput) -> tuple[RowAccounting, DatasetRef, DatasetRef, dict]:
        tally = RowTally()
        unreadable: list[dict[str, str]] = []
        with self.open_dataset("output") as out, self._open_quarantine() as quarantine:
            empty: list[Any] = []
            parts = list(source.parts)
            for part in parts:
                self._read_part(part, out=out, quarantine=quarantine, tally=tally, unreadable=unreadable, empty=empty)
            _give_schema(out, empty[0] if empty else None, source.columns)
            output = out.commit({"step": self.step, **self.meta})
            quarantine_ref = quarantine.commit()
        details = dict(source.details())
        if any(part.whole_rule is not None for part in parts):
            details["files_quarantined"] = unreadable
        return tally.accounting(), output, quarantine_ref, details

    def _read_part(
        self,
        part: SourcePart,
        *,
        out: DatasetWriter,
        quarantine: QuarantineWriter,
        tally: RowTally,
        unreadable: list[dict[str, str]],
        empty: list[Any],
    ) -> None:
        """Stream one part; a part that is malformed as a whole is taken out again and quarantined whole."""
        started = time.perf_counter()
        marks = (out.begin_group(), quarantine.writer.begin_group())
        part_tally = RowTally()
        try:
            for batch in part.batches():
                _write_source_batch(batch, out, quarantine, part_tally, empty)
        except DataContractError as err:
            if part.whole_rule is None:
                raise
            out.rollback_group(marks[0])
            quarantine.writer.rollback_group(marks[1])
            quarantine.write_source(part.whole_rule(err), str(err), part.name)
            unreadable.append({"file": part.name, "reason": str(err)})
            log.warning("quarantined whole %s: %s", part.name, err)
            return
        tally.add(part_tally)
        size = f"{part.size} bytes, " if part.size is not None else ""
        log.info(
            "read %s: %s%d records in %.2fs (%d rows kept, %d quarantined)",
            part.name, size, part_tally.rows_in, time.perf_counter() - started,
            part_tally.rows_out, part_tally.rows_quarantined,
        )  # fmt: skip

    # -- fitted state ----------------------------------------------------------------------------

    def _load_fitted(self, source: Location, positions: list[int]) -> frozenset[int]:
        """Put the saved fitted transformers of ``source`` in place of the declared ones; returns their positions."""
        from dataframe_pipeline.core.artifacts import load_fitted

        shown = self.fitted.shown_as or str(source)
        if not source.exists():
            raise ConfigurationError(
                "fitted_from", shown, f"no fitted state at {source}: publish it first (a run with publish_fitted_as)"
            )
        archive = source.read_bytes()
        loaded = load_fitted(io.BytesIO(archive))
        chain = list(self.chain)
        declared = [type(chain[i]).__name__ for i in positions]
        saved = [type(t).__name__ for t in loaded]
        if declared != saved:
            raise ConfigurationError("fitted_from", shown, f"holds {saved}, the chain declares {declared}")
        for position, fitted in zip(positions, loaded, strict=True):
            if fitted.get_params() != chain[position].get_params():
                raise ConfigurationError(
                    "fitted_from", shown, f"{type(fitted).__name__} was fitted with {fitted.get_params()}"
                )
            chain[position] = fitted
        self.chain = chain
        self._applied = archive
        log.info("applying fitted state from %s (not refitting %s)", source, ", ".join(saved))
        return frozenset(positions)

    def _save_fitted(self, positions: list[int]) -> str:
        """Save the reusable fitted transformers with the run (and publish them when asked)."""
        from dataframe_pipeline.core.artifacts import describe, save_fitted

        buffer = io.BytesIO()
        if self._applied is not None:
            # every reusable transformer came from that archive and was not refitted: the run's fitted
            # state is the archive it applied, byte for byte (no second dump, no skops import)
            buffer.write(self._applied)
            sidecar = describe([self.chain[i] for i in positions])
        else:
            sidecar = save_fitted([self.chain[i] for i in positions], buffer)
        sidecar["positions"] = positions
        targets = [self.place / "fitted.skops", *self.fitted.publish_to]
        for target in targets:
            target.write_bytes(buffer.getvalue())
            Location(target.fs, target.path + ".json", target.uri + ".json").write_bytes(
                json.dumps(sidecar, indent=1, default=str).encode()
            )
        log.info("fitted state saved: %s", ", ".join(str(t) for t in targets))
        return targets[0].uri

    def _log_fitted(self) -> None:
        fitted = {type(t).__name__: fitted_summary(t) for t in self.chain if t.stateful}
        if fitted:
            log.info("fitted state: %s", json.dumps(fitted, default=str))

    # -- reporting -------------------------------------------------------------------------------

    def _report(self, result: StepResult, seconds: float) -> None:
        accounting = result.accounting
        log.info("row accounting [%s]: %s", self.step, accounting.summary())
        log.info(
            "output: %s (%d rows); quarantine: %s (%d rows); %.2fs",
            result.dataset.uri, result.dataset.rows, result.quarantine.uri, result.quarantine.rows, seconds,
        )  # fmt: skip
        if not accounting.balanced:
            raise DataContractError(f"row accounting of {self.step} does not reconcile: {accounting.summary()}")


class _DatasetSink:
    """The lake dataset ``<task>/output`` as a sink."""

    def __init__(self, writer: DatasetWriter) -> None:
        self.writer = writer

    def write(self, batch: Any) -> None:
        self.writer.write(batch)

    def commit(self, meta: Mapping[str, Any]) -> DatasetRef:
        return self.writer.commit(dict(meta))

    def details(self) -> Mapping[str, Any]:
        return {}


class _Committing:
    """Remembers whether a sink or routed output committed, so a failed step aborts only the others."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.committed = False

    def write(self, batch: Any) -> None:
        self.inner.write(batch)

    def commit(self, *args: Any) -> Any:
        value = self.inner.commit(*args)
        self.committed = True
        return value

    def details(self) -> Mapping[str, Any]:
        return self.inner.details()

    def abort(self) -> None:
        self.inner.abort()


def _abort_unless_committed(guard: Any) -> None:
    # ExitStack callbacks run on success too: only an output that never committed is removed
    if not guard.committed:
        with contextlib.suppress(Exception):  # the step's own error is already on its way up
            guard.abort()


def _write_source_batch(
    batch: Any, out: DatasetWriter, quarantine: QuarantineWriter, tally: RowTally, empty: list
) -> None:
    """Write one source batch's rows and rejects, and count them. A batch without rows is not written
    (a connector may yield a schema-less empty batch before its first record fixes the columns); the
    first one is kept as the schema of an empty output."""
    if batch.table.num_rows:
        out.write(batch.table)
    elif not empty:
        empty.append(batch.table)
    quarantine.write(batch.rejected)
    tally.add(batch.accounting())


def _give_schema(out: DatasetWriter, empty: Any, columns: Mapping[str, Any] | None) -> None:
    """Give an output that received no row a schema: the source's own (an empty batch with columns),
    else the declared ``columns`` with the provenance columns."""
    if out.schema is not None:
        return
    import pyarrow as pa

    provenance = {"_source_file", "_source_line"}
    if empty is not None and (columns is None or set(empty.column_names) - provenance):
        out.write(empty)
        return
    fields = [*(columns or {}).items(), ("_source_file", pa.string()), ("_source_line", pa.int64())]
    out.write(pa.schema(fields).empty_table())


def check_chain(chain: Sequence[BatchTransformer], columns: list[str]) -> None:
    """Check each transformer against the columns it will see (after the ones before it).

    After a transformer whose output columns depend on the data (one-hot), later ones are checked
    without a schema; their missing columns surface at the first batch instead.
    """
    known: list[str] | None = columns
    for transformer in chain:
        transformer.check_params(known)
        if known is not None:
            known = None if transformer.dynamic_features else list(transformer.get_feature_names_out(known))


def reusable_positions(chain: Sequence[BatchTransformer]) -> list[int]:
    """Positions of the stateful transformers whose fitted state can be saved and re-applied."""
    from dataframe_pipeline.core.catalogue import entry_of

    return [i for i, t in enumerate(chain) if t.stateful and (entry := entry_of(type(t))) and entry.reusable]


def fitted_summary(transformer: Any) -> dict[str, Any]:
    """The fitted attributes (``name_``) of a transformer, shortened for the log."""
    out = {}
    for name, value in vars(transformer).items():
        if name.endswith("_") and not name.startswith("_"):
            text = repr(value)
            out[name] = text if len(text) <= 300 else text[:300] + "..."
    return out
