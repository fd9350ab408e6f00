"""Airflow operator of the windowed aggregates: :class:`WindowAggregateOperator`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataframe_pipeline.core.operators import StepOperator, location, run_partition
from dataframe_pipeline.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from dataframe_pipeline.core.runner import StepRunner
    from dataframe_pipeline.enrich.windows.aggregate import WindowSpec
    from dataframe_pipeline.enrich.windows.breaches import ThresholdRule


class WindowAggregateOperator(StepOperator):
    """Windowed aggregates per key over a stream's micro-batches, with lateness and threshold alerts.

    Reads the run's event dataset (``input_dataset``: the ingest or clean output of a micro-batch),
    adds its events to event-time windows (tumbling, or sliding with ``slide_seconds``) kept open
    between runs, and writes the windows the watermark passed as ``<task>/output`` (one row per key
    and window: ``events`` and count, sum, mean, min, max of each value column, ``revision``). Late
    events go to ``<task>/late`` or are merged, as ``late_policy`` says
    (:mod:`dataframe_pipeline.enrich.windows.aggregate`). The state (watermark, open windows, breaches,
    alerts sent) is a snapshot per run partition under ``<storage root>/_stream_state/<state_id>/``
    (:mod:`~dataframe_pipeline.enrich.windows.state`): a retry starts from the state before its
    partition. Threshold rules alert once per breach through
    :class:`~dataframe_pipeline.alerts.PipelineAlertNotifier` (the ``alert_conn_id`` connection).

    :param keys: key columns, e.g. ``["device_id"]``. (templated)
    :param values: numeric columns aggregated. (templated)
    :param size_seconds: window length. (templated)
    :param slide_seconds: sliding step; None: tumbling. (templated)
    :param event_time: event-time column; None: processing time ``_kafka_timestamp``. (templated)
    :param allowed_lateness_seconds: how far the watermark trails the newest event. (templated)
    :param late_policy: ``route`` (late events to ``late``) or ``merge`` (re-emit windows). (templated)
    :param retain_seconds: ``merge``: how long emitted windows can still be re-emitted. (templated)
    :param alerts: threshold rules ``[{"name", "column", "aggregate", "op", "threshold"}]``. (templated)
    :param alert_conn_id: the alert connection(s), a comma list; None: the configured channels
        (``PIPELINE_ALERT_CONN_IDS``, see :mod:`dataframe_pipeline.alerts`). (templated)
    :param state_id: name of the state (default ``<dag_id>.<task_id>``). (templated)
    """

    template_fields: Sequence[str] = (
        *StepOperator.template_fields,
        "keys",
        "values",
        "size_seconds",
        "slide_seconds",
        "event_time",
        "allowed_lateness_seconds",
        "late_policy",
        "retain_seconds",
        "alerts",
        "alert_conn_id",
        "state_id",
    )
    step = "enrich"
    ui_color = "#fdf0d5"

    def __init__(
        self,
        *,
        keys: list[str],
        values: list[str],
        size_seconds: int = 60,
        slide_seconds: int | None = None,
        event_time: str | None = "event_time",
        allowed_lateness_seconds: int = 0,
        late_policy: str = "route",
        retain_seconds: int = 3600,
        alerts: list[dict[str, Any]] | None = None,
        alert_conn_id: str | None = None,
        state_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_active_tis_per_dag", 1)  # the state has one writer
        super().__init__(**kwargs)
        self.keys = keys
        self.values = values
        self.size_seconds = size_seconds
        self.slide_seconds = slide_seconds
        self.event_time = event_time
        self.allowed_lateness_seconds = allowed_lateness_seconds
        self.late_policy = late_policy
        self.retain_seconds = retain_seconds
        self.alerts = alerts
        self.alert_conn_id = alert_conn_id
        self.state_id = state_id

    def spec(self) -> WindowSpec:
        from dataframe_pipeline.enrich.windows.aggregate import WindowSpec

        as_tuple = lambda v: tuple(v) if isinstance(v, list | tuple) else v  # noqa: E731
        spec = WindowSpec(
            keys=as_tuple(self.keys),
            values=as_tuple(self.values),
            size_seconds=self.size_seconds,
            slide_seconds=self.slide_seconds,
            event_time=self.event_time,
            allowed_lateness_seconds=self.allowed_lateness_seconds,
            late_policy=self.late_policy,
            retain_seconds=self.retain_seconds,
        )
        spec.validate()
        return spec

    def rules(self, spec: WindowSpec) -> list[ThresholdRule]:
        from dataframe_pipeline.enrich.windows.breaches import ThresholdRule

        if self.alerts is not None and not isinstance(self.alerts, list):
            raise ConfigurationError("alerts", self.alerts, "must be a list of threshold rules")
        rules = [ThresholdRule.from_config(c, i) for i, c in enumerate(self.alerts or [])]
        for i, rule in enumerate(rules):
            rule.validate(spec, i)
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ConfigurationError("alerts", self.alerts, f"rule names {names} repeat")
        return rules

    def state_name(self) -> str:
        return self.state_id or f"{self.dag_id}.{self.task_id}"

    def validate_config(self) -> None:
        super().validate_config()
        self.rules(self.spec())
        name = self.state_name()
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigurationError("state_id", self.state_id, "must be letters, digits, '.', '_' or '-'")
        if self.alert_conn_id is not None and (not isinstance(self.alert_conn_id, str) or not self.alert_conn_id):
            raise ConfigurationError("alert_conn_id", self.alert_conn_id, "must be a connection id or None")

    def runner(self, context: Context) -> StepRunner:
        from dataframe_pipeline.core.runner import DatasetInput
        from dataframe_pipeline.enrich.windows.state import StateStore
        from dataframe_pipeline.enrich.windows.step import LateEvents, WindowRun, WindowSink

        spec = self.spec()
        source = DatasetInput(self.input_location())
        spec.check_columns(source.columns)
        store = StateStore(location(self.root() / "_stream_state" / self.state_name()))
        partition = run_partition(context).path
        plan = store.plan(partition)
        run = WindowRun(spec, self.rules(spec), plan)
        self.log.info("window state %d (%s) from %s", plan.seq, "retry/re-run" if plan.previous else "new",
                      "the start" if plan.base is None else f"snapshot {plan.base.get('seq')}")  # fmt: skip

        def template() -> Any:
            import pandas as pd

            first = next(iter(source.batches(1)()), None)
            return first.iloc[0:0] if first is not None else pd.DataFrame(columns=source.columns)

        def after_commit() -> dict[str, Any]:
            return self._after_commit(context, store, run, partition)

        return self.step_runner(
            context,
            source,
            sink=lambda runner: WindowSink(run, runner.open_dataset("output")),
            routed=[lambda runner: LateEvents(run, runner.open_dataset("late"), template)],
            meta={"windows": {"spec": vars(spec) | {"keys": list(spec.keys), "values": list(spec.values)}}},
            after_commit=after_commit,
        )

    def _after_commit(self, context: Context, store: Any, run: Any, partition: str) -> dict[str, Any]:
        """State first (so a retry starts before this partition), then one alert per opened breach,
        each recorded as sent right after it went out (a kill in between sends it again: at least once)."""
        from dataframe_pipeline.alerts import PipelineAlertNotifier

        sent = run.already_sent() & {b.alert_id for b in run.opened}
        if run.plan.newest:
            store.save(run.plan, partition, run.snapshot(sent, input=self.input_location().uri))
        for breach in run.to_send():
            PipelineAlertNotifier(title=breach.title(), conn_id=self.alert_conn_id).notify(context)
            sent.add(breach.alert_id)
            if run.plan.newest:
                store.save(run.plan, partition, run.snapshot(sent, input=self.input_location().uri))
        return {"alerts_sent": len(sent - run.already_sent()), "alert_ids": sorted(sent)}
