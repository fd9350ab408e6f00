"""Airflow operator of the quality report: the last task of a pipeline run, whatever happened before.

Not a :class:`~dataframe_pipeline.core.operators.StepOperator`: it reads no input dataset through a
chain and has no row accounting of its own; it gathers the results the steps left and writes two files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core import settings
from dataframe_pipeline.core.operators import lake_path, location, run_partition
from dataframe_pipeline.exceptions import ConfigurationError, PipelineError
from dataframe_pipeline.ui.urls import REPORT_XCOM_KEY, report_path

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from dataframe_pipeline.report.build import ReportInputs

#: the steps of a pipeline, in order; ``tasks`` maps each to its task id
STEP_NAMES = ("ingest", "clean", "enrich", "refine", "validate", "store")
FAILED_STATES = ("failed", "upstream_failed")


class UpstreamStepFailedError(PipelineError):
    """The report was written, but a step of the run failed: the run must fail too (not alerted again)."""


class QualityReportLink(BaseOperatorLink):
    """The "Quality report" button of the report task instance: the run's report in the Airflow UI."""

    name = "Quality report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk import conf

        base = conf.get("api", "base_url", fallback="") or ""
        return base.rstrip("/") + report_path(ti_key.dag_id, ti_key.run_id)


class QualityReportOperator(BaseOperator):
    """Write the run's quality report, ``report.json`` and ``report.html``, under
    ``<storage root>/<dag_id>/<partition>/<task_id>/``, and link it from the UI.

    It runs when every upstream task is done (``trigger_rule="all_done"``), so a run whose validation
    failed also gets its report, saying why publishing was blocked. It reads each step's result from
    XCom (a validate task that failed returns none: its ``report.json`` is read from its folder), the
    step's datasets (streamed, sampled), and the previous partition of the curated table for drift.
    The result (``report_uri``, ``html_uri``, ``verdict``, ``drifted_columns``) is returned and also
    pushed as the XCom ``quality_report``, which the UI plugin reads to find the run's report. When a
    step failed, the task fails after writing the report (without retry), so the run still fails.

    :param tasks: step name -> task id of that step in this DAG (default: each step's own name). (templated)
    :param dataset_name: the curated table the store step publishes, for the drift section. (templated)
    :param curated_root: defaults to ``DATAFRAME_PIPELINE_CURATED_ROOT``. (templated)
    :param storage_root: defaults to ``DATAFRAME_PIPELINE_STORAGE_ROOT``. (templated)
    :param psi_threshold: PSI above which a column is flagged as drifted (default 0.2). (templated)
    :param sample_rows: rows sampled per dataset for distributions and drift (default 50,000).
    """

    template_fields: Sequence[str] = ("tasks", "dataset_name", "curated_root", "storage_root", "psi_threshold")
    operator_extra_links = (QualityReportLink(),)
    step: ClassVar[str] = "report"
    ui_color = "#efe6fb"

    def __init__(
        self,
        *,
        tasks: Mapping[str, str] | None = None,
        dataset_name: str | None = None,
        curated_root: str | None = None,
        storage_root: str | None = None,
        psi_threshold: float = 0.2,
        sample_rows: int = 50_000,
        trigger_rule: str = "all_done",
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.tasks = tasks
        self.dataset_name = dataset_name
        self.curated_root = curated_root
        self.storage_root = storage_root
        self.psi_threshold = psi_threshold
        self.sample_rows = sample_rows

    def validate_config(self) -> None:
        """Check the configuration; raise ConfigurationError naming the field and the value."""
        tasks = self.tasks if self.tasks is not None else {}
        if not isinstance(tasks, dict) or not all(isinstance(v, str) and v for v in tasks.values()):
            raise ConfigurationError("tasks", self.tasks, "must map step names to task ids")
        unknown = sorted(set(tasks) - set(STEP_NAMES))
        if unknown:
            raise ConfigurationError("tasks", unknown, f"unknown steps; known: {list(STEP_NAMES)}")
        name = self.dataset_name
        if name is not None and (not isinstance(name, str) or not name or "/" in name or name.startswith(".")):
            raise ConfigurationError("dataset_name", name, "must be a plain directory name or None")
        threshold = self.psi_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
            raise ConfigurationError("psi_threshold", threshold, "must be a positive number")
        rows = self.sample_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 100:
            raise ConfigurationError("sample_rows", rows, "must be an integer >= 100")

    def task_ids(self) -> dict[str, str]:
        return {step: (self.tasks or {}).get(step, step) for step in STEP_NAMES}

    def inputs(self, context: Context) -> ReportInputs:
        """Everything the report is built from, found in Airflow's world."""
        from dataframe_pipeline.report.build import ReportInputs

        ti, ids = context["ti"], self.task_ids()
        results = {step: ti.xcom_pull(task_ids=tid, default=None) for step, tid in ids.items()}
        partition = run_partition(context)
        run_place = lake_path(self.storage_root or settings.storage_root()) / self.dag_id / partition.path
        leftover = None
        if not results["validate"]:  # a failed suite returns nothing, but leaves its report beside its outputs
            leftover = self._read_json(run_place / ids["validate"] / "report.json")
        curated, options = None, None
        if self.dataset_name:
            from dataframe_pipeline.store.storage import curated_table_uri, storage_options

            # the URI the store step publishes to; delta-rs reads it with the connection's credentials
            curated_uri = curated_table_uri(self.curated_root, self.dataset_name)
            curated = location(lake_path(curated_uri))
            options = storage_options(curated_uri)[1]
        return ReportInputs(
            dag_id=self.dag_id,
            run_id=context["run_id"],
            partition=partition.values,
            results={step: value if isinstance(value, dict) else None for step, value in results.items()},
            resolve=lambda uri: location(lake_path(uri)),
            states=self._states(ti, context["run_id"], ids),
            validation_report=leftover,
            curated_table=curated,
            storage_options=options,
            psi_threshold=float(self.psi_threshold),
            sample_rows=self.sample_rows,
            batch_rows=settings.batch_rows(),
        )

    @staticmethod
    def _read_json(path: Any) -> dict[str, Any] | None:
        import json

        return json.loads(path.read_bytes()) if path.exists() else None

    def _states(self, ti: Any, run_id: str, ids: Mapping[str, str]) -> dict[str, str | None]:
        found = ti.get_task_states(dag_id=self.dag_id, task_ids=list(ids.values()), run_ids=[run_id])
        by_task = found.get(run_id, found) if isinstance(found, dict) else {}
        return {step: by_task.get(tid) for step, tid in ids.items()}

    def execute(self, context: Context) -> dict[str, Any]:
        from dataframe_pipeline.report.build import write_report

        try:
            self.validate_config()
            inputs = self.inputs(context)
            target = location(
                lake_path(self.storage_root or settings.storage_root())
                / self.dag_id
                / run_partition(context).path
                / self.task_id
            )
            result = {"step": self.step, "partition": dict(inputs.partition), **write_report(inputs, target)}
        except ConfigurationError as err:
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err
        self.log.info("quality report: %s (%s)", result["html_uri"], result["verdict"])
        context["ti"].xcom_push(REPORT_XCOM_KEY, result)
        failed = [f"{step} ({state})" for step, state in inputs.states.items() if state in FAILED_STATES]
        if failed:
            raise AirflowFailException(
                f"{UpstreamStepFailedError.__name__}: the run failed before its report: {', '.join(failed)}; "
                f"the report says why: {result['html_uri']}"
            )
        return result


class ReportFailureAlert:
    """The report task's failure callback: alerts when the report itself broke, not when it only fails
    because a step before it failed (that step has alerted already: one failure, one alert)."""

    def __init__(self, title: str = "task failed") -> None:
        self.title = title

    def __call__(self, context: Context) -> None:
        if UpstreamStepFailedError.__name__ in str(context.get("exception") or ""):
            return
        from dataframe_pipeline.alerts import PipelineAlertNotifier

        PipelineAlertNotifier(title=self.title)(context)
