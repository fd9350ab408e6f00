"""The base of every step operator: one partition, one :class:`~dataframe_pipeline.core.runner.StepRunner`,
one :class:`~dataframe_pipeline.core.runner.StepResult`.

An operator only translates Airflow's world into the runner's: the run's partition (from
:func:`~dataframe_pipeline.core.partition.resolve_partition`, also given to templates as
``{{ partition }}``), where the task's datasets live (``<storage root>/<dag_id>/<partition>/<task_id>``),
the connections, and its own configuration. ``execute`` builds the runner, runs it and returns the
result's dict; configuration, partition and data-contract errors fail the task without retry, I/O errors
propagate so the task's retries apply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.catalogue import STEPS, registry
from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    NothingToIngestError,
    PartitionError,
    PipelineError,
    ValidationFailedError,
)
from dataframe_pipeline.metrics import push_step_metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.dataset import Location
    from dataframe_pipeline.core.partition import Partition, Schedule
    from dataframe_pipeline.core.runner import FittedState, RoutedOutput, StepRunner

#: errors that retrying cannot fix
NON_RETRYABLE = (ConfigurationError, DataContractError, ValidationFailedError)


def lake_path(uri: str) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` of a lake URI or local path, its filesystem attached first when no
    provider registers the scheme (``gs://<conn_id>@bucket/...``, ``abfs://<conn_id>@container/...``:
    gcsfs / adlfs from the connection, :mod:`dataframe_pipeline.core.objectstore`). Every path joined
    onto it (``/``) uses the same filesystem; its ``str`` keeps the connection id."""
    path = ObjectStoragePath(uri)
    # made again once attached, so that its own operations (read_bytes, exists) get the filesystem too
    return ObjectStoragePath(uri) if _attach_filesystem(path) else path


def _attach_filesystem(path: ObjectStoragePath) -> bool:
    """Give Airflow's store of ``(scheme, conn_id)`` our gcsfs / adlfs when no provider has the scheme.

    ``attach`` caches a store per scheme and connection for the process, also one made by an earlier
    ``ObjectStoragePath`` whose filesystem could not be resolved; so the filesystem is set on the
    cached store rather than passed to a new one.
    """
    from airflow.sdk.io import attach, has_fs

    protocol = path.protocol or "file"
    if has_fs(protocol):
        return False
    from dataframe_pipeline.core.objectstore import AZURE_SCHEMES, GCS_SCHEMES, filesystem

    if protocol not in GCS_SCHEMES + AZURE_SCHEMES:
        return False  # Airflow's own error names the scheme at first use
    store = attach(protocol, path.conn_id)
    if "fs" in vars(store):  # ObjectStore.fs is a cached_property: unresolved until set
        return False
    store.fs = filesystem(protocol, path.conn_id)
    return True


def location(path: ObjectStoragePath) -> Location:
    """The runner's view of an Airflow ``ObjectStoragePath`` (on GCS and Azure too, see :func:`lake_path`)."""
    from dataframe_pipeline.core.dataset import Location

    _attach_filesystem(path)
    return Location(path.fs, path.path, str(path))


def schedule_of(dag: Any) -> Schedule:
    """The schedule of a DAG as partitions see it (cron expression, fixed period, or none)."""
    from dataframe_pipeline.core.partition import Schedule

    timetable = getattr(dag, "timetable", None)
    expression = getattr(timetable, "expression", None)
    zone = _zone_name(getattr(timetable, "timezone", None))
    # the DAG's end_date, or the last interval of a schedule that ends (dataframe_pipeline/timetables.py)
    end = getattr(dag, "end_date", None) or getattr(timetable, "end", None)
    if isinstance(expression, str):
        return Schedule(cron=expression, timezone=zone, end=end)
    delta = getattr(timetable, "delta", None)
    if delta is not None:
        return Schedule(every=delta, anchor=getattr(dag, "start_date", None), timezone=zone, end=end)
    return Schedule(end=end)


def _zone_name(zone: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = str(getattr(zone, "name", None) or zone or "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"  # a fixed offset: partitions are keyed in UTC
    return name


def run_partition(context: Context) -> Partition:
    """The partition of the task's run: computed once per task and kept in the context (``partition``)."""
    from dataframe_pipeline.core.partition import (
        PARTITION_PARAM,
        Partition,
        RunFacts,
        event_partitions,
        from_trigger_only,
        resolve_partition,
    )

    cached = context.get("partition")  # our own key: Airflow's Context does not declare it
    if isinstance(cached, Partition):
        return cached
    dag_run = context["dag_run"]
    facts = RunFacts(
        run_id=str(dag_run.run_id),
        logical_date=getattr(dag_run, "logical_date", None),
        requested=(context.get("params") or {}).get(PARTITION_PARAM),
        partition_date=getattr(dag_run, "partition_date", None),
        partition_key=getattr(dag_run, "partition_key", None),
    )
    if facts.logical_date is None and not (facts.requested or facts.partition_date or facts.partition_key):
        # an asset-triggered run: the events that triggered it may say which partition they published
        # (read only then: the accessor asks Airflow's API for them)
        events = context.get("triggering_asset_events") or {}
        extras = [getattr(event, "extra", None) for group in dict(events).values() for event in group]
        facts = dataclasses.replace(facts, event_partitions=event_partitions(extras))
        if not facts.event_partitions and from_trigger_only(extras):
            facts = dataclasses.replace(facts, woken_at=getattr(dag_run, "run_after", None))
    partition = resolve_partition(facts, schedule_of(context.get("dag")))
    context["partition"] = partition  # type: ignore[typeddict-unknown-key]
    return partition


class _DefaultVariables:
    """``var.value`` / ``var.json`` of a configuration check: a variable's default, or a placeholder."""

    def get(self, key: str, default: Any = None) -> Any:
        return default if default is not None else f"<variable {key}>"

    def __getattr__(self, key: str) -> Any:
        return f"<variable {key}>"


def config_check_context(dag: Any) -> dict[str, Any]:
    """The template context of a configuration check: the DAG's default params, a partition of its
    schedule (the one holding its start date), variables at their defaults."""
    from datetime import UTC, datetime

    from dataframe_pipeline.core.partition import RunFacts, resolve_partition

    start = getattr(dag, "start_date", None) or datetime(2026, 1, 1, tzinfo=UTC)
    partition = resolve_partition(RunFacts("config_check", logical_date=start), schedule_of(dag))
    params = dag.params.dump() if dag is not None else {}
    return {
        "dag": dag,
        "params": params,
        "partition": partition,
        "var": {"value": _DefaultVariables(), "json": _DefaultVariables()},
        "ds": partition.ds,
        "logical_date": partition.start,
        "data_interval_start": partition.start,
        "data_interval_end": partition.end,
        "run_id": "config_check",
    }


def _read_json(uri: str | None) -> Any:
    """A small JSON file of the lake or the project, None if it is not there."""
    import json

    if not uri:
        return None
    try:
        return json.loads(lake_path(uri if "://" in uri else f"file://{uri}").read_bytes())
    except (OSError, ValueError):
        return None


def _dataset_bytes(uri: str) -> int | None:
    """The bytes of a committed dataset by its manifest (OpenLineage output statistics), None if unknown."""
    from dataframe_pipeline.core.dataset import MANIFEST
    from dataframe_pipeline.lineage import manifest_bytes

    return manifest_bytes(_read_json(f"{uri.rstrip('/')}/{MANIFEST}"))


def _holds_xcom(value: Any) -> bool:
    from airflow.sdk.definitions.xcom_arg import XComArg

    if isinstance(value, XComArg):
        return True
    if isinstance(value, dict):
        return any(_holds_xcom(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_xcom(v) for v in value)
    return False


class StepOperator(BaseOperator):
    """Base class of the step operators.

    :param input_dataset: the upstream step's result (``upstream.output``) or a dataset URI. (templated)
    :param storage_root: root of the datasets; defaults to ``DATAFRAME_PIPELINE_STORAGE_ROOT``. (templated)
    :param batch_rows: rows per streamed batch; defaults to ``DATAFRAME_PIPELINE_BATCH_ROWS``.
    """

    template_fields: Sequence[str] = ("input_dataset", "storage_root")
    step: ClassVar[str] = "step"
    ui_color = "#e8f4fa"
    #: what the last execute built and returned, for the OpenLineage listener (same process)
    _lineage_runner: StepRunner | None = None
    _lineage_result: dict[str, Any] | None = None

    def __init__(
        self,
        *,
        input_dataset: Any = None,
        storage_root: str | None = None,
        batch_rows: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_dataset = input_dataset
        self.storage_root = storage_root
        self.batch_rows = batch_rows

    def validate_config(self) -> None:
        """Check the configuration without touching data; raise ConfigurationError. Subclasses extend."""
        if self.batch_rows is not None and (
            isinstance(self.batch_rows, bool) or not isinstance(self.batch_rows, int) or self.batch_rows < 1
        ):
            raise ConfigurationError("batch_rows", self.batch_rows, "must be a positive integer")

    def runner(self, context: Context) -> StepRunner:
        """The runner of this step for the context's partition (subclasses build it in a few lines)."""
        raise NotImplementedError

    def check_configuration(self) -> None:
        """Check the configuration as it will be at run time, without a run: the templated fields rendered
        with the DAG's default params, a partition of its schedule and variables at their defaults, then
        :meth:`validate_config` (transforms built, parameters checked). For CI (the DAG integrity test).

        :raises ConfigurationError: naming the field and the value.
        """
        copy = self.prepare_for_execution()
        # a check has no run: the template variables a run's context would give, as a plain dict
        context = cast("Context", config_check_context(self.dag))
        env = self.dag.get_template_env() if self.dag is not None else None
        for name in self.template_fields:
            value = getattr(copy, name)
            if _holds_xcom(value):
                continue  # an upstream result: only a run has it
            setattr(copy, name, copy.render_template(value, context, env))
        copy.validate_config()

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Templates may use ``{{ partition }}`` (``.ds``, ``.start``, ``.end``, ``.path``); a run without
        one fails here, at once and without retry, saying what to pass."""
        try:
            run_partition(context)
        except PartitionError as err:
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err
        super().render_template_fields(context, jinja_env)

    def execute(self, context: Context) -> dict[str, Any]:
        started = time.monotonic()
        try:
            self.validate_config()
            self._lineage_runner = self.runner(context)  # kept for the OpenLineage listener
            self._lineage_result = self._lineage_runner.run().as_dict()
            push_step_metrics(self, context, self._lineage_result, started=started, size_of=_dataset_bytes)
            return self._lineage_result
        except NothingToIngestError as err:
            raise AirflowSkipException(str(err)) from err
        except (*NON_RETRYABLE, PartitionError) as err:
            push_step_metrics(self, context, None, started=started, failed=err)
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err
        except PipelineError as err:
            if getattr(err, "retryable", True):  # e.g. a source that may answer later (HTTP 5xx)
                raise
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err

    # -- OpenLineage: airflow.providers.openlineage calls these in the task's process ------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The step's inputs and outputs with their schemas, statistics, column lineage and (validate)
        data-quality facets, and its row accounting, from the result it returned
        (:mod:`dataframe_pipeline.lineage`)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from dataframe_pipeline.lineage import step_lineage

        result = self._lineage_result or task_instance.xcom_pull(task_ids=self.task_id)
        if not result:
            return OperatorLineage()
        built = step_lineage(result, **self._lineage_options(result))
        return OperatorLineage(inputs=built.inputs, outputs=built.outputs, run_facets=built.run_facets)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The dataset the step read and, for a failed validation, its quality from the stored report."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        from dataframe_pipeline.lineage import failed_lineage

        options = self._lineage_options({})
        built = failed_lineage(options.get("read"), report=options.get("report"), suite=options.get("suite"))
        return OperatorLineage(inputs=built.inputs, outputs=built.outputs, run_facets=built.run_facets)

    def _lineage_options(self, result: dict[str, Any]) -> dict[str, Any]:
        """What :func:`~dataframe_pipeline.lineage.step_lineage` needs besides the result: the dataset
        read, the sources of an ingest, the report and suite of a validation."""
        from dataframe_pipeline.core.runner import DatasetInput, SourceInput

        runner = self._lineage_runner
        options: dict[str, Any] = {"size_of": _dataset_bytes}
        if isinstance(self.input_dataset, dict) and isinstance(self.input_dataset.get("dataset"), dict):
            options["read"] = self.input_dataset["dataset"]  # the upstream result: columns in their order
        elif runner is not None and isinstance(runner.input, DatasetInput):
            with contextlib.suppress(Exception):  # an input that failed to open: no input to report
                options["read"] = runner.input.ref.as_dict()
        if runner is not None and isinstance(runner.input, SourceInput) and isinstance(runner.input.parts, list):
            options["sources"] = [part.name for part in runner.input.parts]
        query, shaping = getattr(self, "query", None), getattr(self, "shaping", None)  # of ingest operators
        if isinstance(query, str):
            options["query"] = query
        if isinstance(shaping, dict):
            options["renames"] = shaping.get("rename")
        if self.step == "validate" and "validation" not in result:
            report = result.get("report_uri") or (str(runner.place / "report.json") if runner is not None else None)
            options["report"] = _read_json(report)
            with contextlib.suppress(Exception):
                options["suite"] = _read_json(str(self.suite_path()))  # type: ignore[attr-defined]
        return options

    # -- where things are ----------------------------------------------------------------------

    @property
    def rows_per_batch(self) -> int:
        return self.batch_rows or settings.batch_rows()

    def root(self) -> ObjectStoragePath:
        return lake_path(self.storage_root or settings.storage_root())

    def task_place(self, context: Context) -> Location:
        """``<storage root>/<dag_id>/<partition>/<task_id>``: where this task's datasets of the partition live."""
        return location(self.root() / self.dag_id / run_partition(context).path / self.task_id)

    def input_location(self) -> Location:
        from dataframe_pipeline.core.result import input_uri

        return location(lake_path(input_uri(self.input_dataset)))

    def step_runner(self, context: Context, source: Any, **options: Any) -> StepRunner:
        """A runner of this step for the context's partition, with the settings every step shares."""
        from dataframe_pipeline.core.runner import StepRunner

        return StepRunner(
            step=self.step,
            place=self.task_place(context),
            partition=run_partition(context),
            input=source,
            batch_rows=self.rows_per_batch,
            compression=settings.compression(),
            try_number=getattr(context.get("ti"), "try_number", None),
            **options,
        )


class TransformStepOperator(StepOperator):
    """A step that streams its input through a declared chain of transforms (clean, enrich, refine).

    The names a chain may use are the step's transforms in the catalogue (``core/catalogue.py``;
    reference: ``docs/transforms.md``). The fitted state of the chain (imputation values, bounds,
    categories, scalers, PCA, ...) is saved with the run as ``fitted.skops`` (skops, never pickle) beside
    the outputs. A later run can apply it to new data instead of refitting (training and serving get the
    same transform): ``fitted_from`` names a published version or gives the URI of a ``fitted.skops``.
    Transformers whose state is about the rows at hand (duplicates by position) are always fitted anew.

    :param transforms: the chain, in order, as ``[{"<name>": {<params>}}, ...]``. (templated)
    :param fitted_from: apply this fitted state instead of fitting: a version name published with
        ``publish_fitted_as`` or a URI. (templated)
    :param publish_fitted_as: also publish this run's fitted state under a version name
        (``<storage root>/_fitted/<name>/fitted.skops``), replacing the previous one. (templated)
    """

    template_fields: Sequence[str] = (*StepOperator.template_fields, "transforms", "fitted_from", "publish_fitted_as")
    #: transform name -> "module:Class", derived from the catalogue for the operator's step
    registry: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.step in STEPS:
            cls.registry = {name: entry.target for name, entry in registry(cls.step).items()}

    def __init__(
        self,
        *,
        transforms: list[dict[str, dict[str, Any]]],
        fitted_from: str | None = None,
        publish_fitted_as: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.transforms = transforms
        self.fitted_from = fitted_from
        self.publish_fitted_as = publish_fitted_as

    def validate_config(self) -> None:
        super().validate_config()
        self.build_chain()
        for field_name in ("fitted_from", "publish_fitted_as"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, str) or not value or value.startswith(".")):
                raise ConfigurationError(field_name, value, "must be a version name or a URI")
            if field_name == "publish_fitted_as" and value and "/" in value:
                raise ConfigurationError(field_name, value, "must be a plain version name")

    def build_chain(self) -> list:
        """Instantiate and check the declared transformers (classes are imported here, at run time)."""
        from dataframe_pipeline.core.catalogue import build_chain

        return build_chain(self.step, self.transforms)

    def fitted_state(self) -> FittedState:
        from dataframe_pipeline.core.runner import FittedState

        load_from = location(self._fitted_path(self.fitted_from)) if self.fitted_from else None
        publish = (location(self._fitted_path(self.publish_fitted_as)),) if self.publish_fitted_as else ()
        return FittedState(load_from=load_from, publish_to=publish, shown_as=self.fitted_from)

    def _fitted_path(self, name_or_uri: str) -> ObjectStoragePath:
        if "://" in name_or_uri:
            return lake_path(name_or_uri)
        return self.root() / "_fitted" / name_or_uri / "fitted.skops"

    def routed_outputs(self) -> list[Callable[[StepRunner], RoutedOutput]]:
        """Factories of the outputs that also receive every output batch (refine: splits, a picture)."""
        return []

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput

        return self.step_runner(
            context,
            DatasetInput(self.input_location()),
            chain=self.build_chain(),
            routed=self.routed_outputs(),
            fitted=self.fitted_state(),
            meta={"transforms": self.transforms},
        )
