"""The base of every step operator: where the input comes from, where outputs go, what is reported.

A step operator reads the dataset its upstream task returned (a small reference from XCom), streams
it through pure logic, writes its output and its quarantine as committed datasets under
``<storage_root>/<dag_id>/<partition key>/<task_id>/``, logs the row accounting and returns::

    {"step": ..., "dataset": DatasetRef, "quarantine": DatasetRef, "accounting": RowAccounting}

Configuration and data-contract errors fail the task without retry; I/O errors propagate so the
task's retries apply.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core import settings
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError, ValidationFailedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.batch import RowAccounting
    from dataframe_pipeline.core.dataset import DatasetReader, DatasetRef, DatasetWriter
    from dataframe_pipeline.core.quarantine import QuarantineWriter

#: errors that retrying cannot fix
NON_RETRYABLE = (ConfigurationError, DataContractError, ValidationFailedError)


def dataset_uri(value: Any) -> str:
    """Accept what an upstream step returned, a DatasetRef dict, or a URI string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "dataset" in value:
        return value["dataset"]["uri"]
    if isinstance(value, dict) and "uri" in value:
        return value["uri"]
    raise ConfigurationError("input_dataset", value, "expected an upstream step's result or a dataset URI")


class DataFrameStepOperator(BaseOperator):
    """Base class of the step operators.

    :param input_dataset: the upstream step's result (``upstream.output``) or a dataset URI. (templated)
    :param storage_root: root of the datasets; defaults to ``DATAFRAME_PIPELINE_STORAGE_ROOT``. (templated)
    :param batch_rows: rows per streamed batch; defaults to ``DATAFRAME_PIPELINE_BATCH_ROWS``.
    """

    template_fields: Sequence[str] = ("input_dataset", "storage_root")
    step: ClassVar[str] = "step"
    ui_color = "#e8f4fa"

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

    # -- configuration -------------------------------------------------------------------------
    def validate_config(self) -> None:
        """Check the configuration without touching data; raise ConfigurationError. Subclasses extend."""
        if self.batch_rows is not None and (not isinstance(self.batch_rows, int) or self.batch_rows < 1):
            raise ConfigurationError("batch_rows", self.batch_rows, "must be a positive integer")

    @property
    def rows_per_batch(self) -> int:
        return self.batch_rows or settings.batch_rows()

    # -- execution -----------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        try:
            self.validate_config()
            result = self.run_step(context)
        except NON_RETRYABLE as err:
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err
        self.log.info("%s result: %s", self.step, json.dumps(result, default=str, sort_keys=True))
        return result

    def run_step(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    # -- locations -----------------------------------------------------------------------------
    def task_path(self, context: Context) -> ObjectStoragePath:
        root = ObjectStoragePath(self.storage_root or settings.storage_root())
        dag_run = context["dag_run"]
        key = settings.partition_key(dag_run.logical_date, dag_run.run_id)
        return root / self.dag_id / key / self.task_id

    def open_input(self) -> DatasetReader:
        from dataframe_pipeline.core.dataset import DatasetReader

        path = ObjectStoragePath(dataset_uri(self.input_dataset))
        return DatasetReader(path.fs, path.path, uri=str(path))

    def open_output(self, context: Context, name: str = "output") -> DatasetWriter:
        from dataframe_pipeline.core.dataset import DatasetWriter, new_attempt_id

        path = self.task_path(context) / name
        return DatasetWriter(
            path.fs,
            path.path,
            uri=str(path),
            attempt_id=new_attempt_id(context["ti"].try_number),
            compression=settings.compression(),
        )

    def open_quarantine(self, context: Context) -> QuarantineWriter:
        from dataframe_pipeline.core.quarantine import QuarantineWriter

        return QuarantineWriter(self.open_output(context, "quarantine"), step=self.step)

    # -- reporting -----------------------------------------------------------------------------
    def report(self, accounting: RowAccounting, output: DatasetRef, quarantine: DatasetRef, **extra: Any) -> dict:
        self.log.info("row accounting [%s]: %s", self.step, accounting.summary())
        self.log.info(
            "output: %s (%d rows); quarantine: %s (%d rows)",
            output.uri,
            output.rows,
            quarantine.uri,
            quarantine.rows,
        )
        if not accounting.balanced:
            raise DataContractError(f"row accounting does not reconcile: {accounting.summary()}")
        return {
            "step": self.step,
            "dataset": output.as_dict(),
            "quarantine": quarantine.as_dict(),
            "accounting": accounting.as_dict(),
            **extra,
        }


class TransformStepOperator(DataFrameStepOperator):
    """A step that streams its input through a declared chain of batch transformers.

    The fitted state of the chain (imputation values, bounds, categories, scalers, PCA, ...) is
    saved with the run as ``fitted.skops`` (skops, never pickle) beside the outputs. A later run can
    apply it to new data instead of refitting (training and serving get the same transform):
    ``fitted_from`` names a published version or gives the URI of a ``fitted.skops``. Transformers
    whose state is about the rows at hand (duplicates by position) are always fitted on the new data.

    :param transforms: the chain, in order, as ``[{"<name>": {<params>}}, ...]``; names come from the
        operator's ``registry``. Classes are imported at run time, so DAG files stay light. (templated)
    :param fitted_from: apply this fitted state instead of fitting: a version name published with
        ``publish_fitted_as`` or a URI. (templated)
    :param publish_fitted_as: also publish this run's fitted state under a version name
        (``<storage root>/_fitted/<name>/fitted.skops``), replacing the previous one. (templated)
    """

    template_fields: Sequence[str] = (
        *DataFrameStepOperator.template_fields,
        "transforms",
        "fitted_from",
        "publish_fitted_as",
    )
    #: transform name -> "module:Class"
    registry: ClassVar[dict[str, str]] = {}

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
        if not isinstance(self.transforms, list) or not self.transforms:
            raise ConfigurationError("transforms", self.transforms, "must be a non-empty list of {name: params}")
        for i, item in enumerate(self.transforms):
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigurationError(f"transforms[{i}]", item, "must be a one-key mapping {name: params}")
            ((name, params),) = item.items()
            if name not in self.registry:
                known = ", ".join(sorted(self.registry))
                raise ConfigurationError(f"transforms[{i}]", name, f"unknown transform; known: {known}")
            if not isinstance(params, dict):
                raise ConfigurationError(f"transforms[{i}].{name}", params, "params must be a mapping")
        for field_name in ("fitted_from", "publish_fitted_as"):
            value = getattr(self, field_name)
            if value is not None and (not isinstance(value, str) or not value or value.startswith(".")):
                raise ConfigurationError(field_name, value, "must be a version name or a URI")
            if field_name == "publish_fitted_as" and value and "/" in value:
                raise ConfigurationError(field_name, value, "must be a plain version name")

    def build_transforms(self, columns: Sequence[str] | None = None) -> list:
        """Instantiate and check the declared transformers (imports happen here, at run time)."""
        from importlib import import_module

        built = []
        for i, item in enumerate(self.transforms):
            ((name, params),) = item.items()
            module_name, class_name = self.registry[name].split(":")
            cls = getattr(import_module(module_name), class_name)
            try:
                transformer = cls(**params)
            except TypeError as err:
                raise ConfigurationError(f"transforms[{i}].{name}", params, str(err)) from err
            built.append(transformer)
        return built

    def run_step(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.core.engine import run_chain

        reader = self.open_input()
        transformers = self.build_transforms()
        self.check_transforms(transformers, list(reader.columns))
        if self._reusable(transformers):
            from dataframe_pipeline.core.artifacts import preload_skops

            preload_skops()
        prefitted = self.load_fitted_state(transformers) if self.fitted_from else frozenset()
        batch_rows = self.rows_per_batch
        scratch = ScratchSpace(self.task_path(context) / "_scratch", batch_rows)
        try:
            routed = self.open_routed_outputs(context, transformers)
            with (
                self.open_output(context) as out,
                self.open_quarantine(context) as quarantine,
                contextlib.ExitStack() as stack,
            ):
                for extra_output in routed:
                    stack.enter_context(extra_output)

                def write_output(batch: Any) -> None:
                    out.write(batch)
                    for extra_output in routed:
                        extra_output.write(batch)

                accounting = run_chain(
                    transformers,
                    lambda columns=None: reader.iter_batches(batch_rows, select(list(reader.columns), columns)),
                    write_output,
                    quarantine.write,
                    prefitted=prefitted,
                    scratch=scratch.new,
                )
                output_ref = out.commit({"step": self.step, "transforms": self.transforms})
                quarantine_ref = quarantine.commit()
                extra: dict[str, Any] = {}
                for extra_output in routed:
                    extra.update(extra_output.commit(output_ref))
        finally:
            scratch.remove()
        fitted = {type(t).__name__: fitted_summary(t) for t in transformers if t.stateful}
        if fitted:
            self.log.info("fitted state: %s", json.dumps(fitted, default=str))
            extra["fitted_uri"] = self.save_fitted_state(context, transformers)
        return self.report(accounting, output_ref, quarantine_ref, **extra)

    def open_routed_outputs(self, context: Context, transformers: list) -> list[Any]:
        """Outputs that also receive every batch of the main output as it is written (refine: one
        dataset per split, the t-SNE sample). Each is a context manager with ``write(batch)`` and
        ``commit(output_ref) -> dict`` (merged into the step's result) that removes what it wrote if
        the step fails."""
        return []

    # -- fitted state ----------------------------------------------------------------------------
    def _fitted_path(self, name_or_uri: str) -> ObjectStoragePath:
        if "://" in name_or_uri:
            return ObjectStoragePath(name_or_uri)
        root = ObjectStoragePath(self.storage_root or settings.storage_root())
        return root / "_fitted" / name_or_uri / "fitted.skops"

    @staticmethod
    def _reusable(transformers: list) -> list[int]:
        from dataframe_pipeline.core.artifacts import REUSABLE

        names = set(REUSABLE)
        return [
            i for i, t in enumerate(transformers) if t.stateful and f"{type(t).__module__}.{type(t).__name__}" in names
        ]

    def save_fitted_state(self, context: Context, transformers: list) -> str | None:
        """Save the reusable fitted transformers with the run (and publish them when asked)."""
        import io

        from dataframe_pipeline.core.artifacts import save_fitted
        from dataframe_pipeline.core.dataset import write_atomic

        positions = self._reusable(transformers)
        if not positions:
            return None
        buffer = io.BytesIO()
        sidecar = save_fitted([transformers[i] for i in positions], buffer)
        sidecar["positions"] = positions
        targets = [self.task_path(context) / "fitted.skops"]
        if self.publish_fitted_as:
            targets.append(self._fitted_path(self.publish_fitted_as))
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target.fs, target.path, buffer.getvalue())
            write_atomic(target.fs, target.path + ".json", json.dumps(sidecar, indent=1, default=str).encode())
        self.log.info("fitted state saved: %s", ", ".join(str(t) for t in targets))
        return str(targets[0])

    def load_fitted_state(self, transformers: list) -> frozenset[int]:
        """Put the saved fitted transformers in place of the declared ones; returns their positions."""
        import io

        from dataframe_pipeline.core.artifacts import load_fitted

        path = self._fitted_path(str(self.fitted_from))
        if not path.exists():
            raise ConfigurationError("fitted_from", self.fitted_from, f"no fitted state at {path}")
        loaded = load_fitted(io.BytesIO(path.read_bytes()))
        positions = self._reusable(transformers)
        declared = [type(transformers[i]).__name__ for i in positions]
        saved = [type(t).__name__ for t in loaded]
        if declared != saved:
            raise ConfigurationError("fitted_from", self.fitted_from, f"holds {saved}, the chain declares {declared}")
        for position, fitted in zip(positions, loaded, strict=True):
            if fitted.get_params() != transformers[position].get_params():
                raise ConfigurationError(
                    "fitted_from", self.fitted_from, f"{type(fitted).__name__} was fitted with {fitted.get_params()}"
                )
            transformers[position] = fitted
        self.log.info("applying fitted state from %s (not refitting %s)", path, ", ".join(saved))
        return frozenset(positions)

    @staticmethod
    def check_transforms(transformers: list, columns: list[str]) -> None:
        """Check each transformer against the columns it will see (after the ones before it).

        After a transformer whose output columns depend on the data (one-hot), later ones are
        checked without a schema; their missing columns surface at the first batch instead.
        """
        known: list[str] | None = columns
        for transformer in transformers:
            transformer.check_params(known)
            if known is not None:
                known = None if transformer.dynamic_features else list(transformer.get_feature_names_out(known))


class ScratchSpace:
    """Checkpoints of a transform chain: Parquet datasets under the task's ``_scratch`` folder that
    keep each row's input position, removed when the task ends."""

    POSITION = "__input_position"

    def __init__(self, root: ObjectStoragePath, batch_rows: int) -> None:
        self.root = root
        self.batch_rows = batch_rows
        self.count = 0

    def new(self) -> Any:
        from dataframe_pipeline.core.dataset import DatasetReader, DatasetWriter

        self.count += 1
        path = self.root / f"checkpoint-{self.count}"
        writer = DatasetWriter(path.fs, path.path, uri=str(path), compression="lz4")  # scratch: speed over size
        position, batch_rows = self.POSITION, self.batch_rows

        class _Checkpoint:
            def write(self, batch: Any) -> None:
                writer.write(batch.assign(**{position: batch.index.to_numpy()}))

            def finish(self) -> Any:
                writer.commit()
                reader = DatasetReader(path.fs, path.path)

                def batches(columns: Any = None) -> Any:
                    wanted = select(list(reader.columns), columns)
                    if wanted is not None:
                        wanted.append(position)
                    for frame in reader.iter_batches(batch_rows, wanted):
                        yield frame.set_index(position, drop=True).rename_axis(None)

                return batches

        return _Checkpoint()

    def remove(self) -> None:
        if self.count and self.root.exists():
            self.root.fs.rm(self.root.path, recursive=True)


def select(available: list[str], wanted: Any) -> list[str] | None:
    """The ``available`` columns that are ``wanted`` (None: all of them), in ``available`` order."""
    if wanted is None:
        return None
    return [c for c in available if c in wanted]


def fitted_summary(transformer: Any) -> dict[str, Any]:
    """The fitted attributes (``name_``) of a transformer, shortened for the log."""
    out = {}
    for name, value in vars(transformer).items():
        if name.endswith("_") and not name.startswith("_"):
            text = repr(value)
            out[name] = text if len(text) <= 300 else text[:300] + "..."
    return out
