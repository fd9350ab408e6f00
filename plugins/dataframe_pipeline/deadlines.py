"""The run deadline of every pipeline DAG: a fixed interval after the run was created, from its first run.

Why a reference of our own (Airflow 3.3.2's built-in ones, checked in ``airflow/models/deadline.py`` and
``airflow/models/taskinstance.py``):

- ``AVERAGE_RUNTIME`` sets no deadline until ``min_runs`` runs have succeeded (a new DAG has none);
- ``DAGRUN_QUEUED_AT`` breaks "Clear": ``clear_task_instances`` recalculates those deadlines with
  ``timedelta(seconds=deadline_alert.interval)`` while the interval is stored serialised (a dict), so
  clearing any task of such a DAG raises ``TypeError``;
- ``DAGRUN_LOGICAL_DATE`` fires at once for every backfill or catch-up run (their logical dates are in the
  past) and gives nothing to a manual run without a logical date.

:class:`RunCreatedDeadline` is evaluated when the run is created (custom references are ``DAGRUN_CREATED``)
and returns that moment; a scheduled run is created as soon as its data interval ends, so for it this is
"N minutes after the data interval end", and a backfill, catch-up, manual or asset-triggered run is
measured from when it was made. The recalculation on Clear only looks at queued-at deadlines, so Clear
leaves this one alone (a cleared run keeps the deadline of its first creation; a deadline already
missed is not raised again). The scheduler decodes it through the plugin ``plugins/pipeline_deadlines.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk.definitions.deadline import BaseDeadlineReference


class RunCreatedDeadline(BaseDeadlineReference):
    """A deadline counted from the moment the DAG run is created (see the module docstring)."""

    required_kwargs: frozenset[str] = frozenset()

    def _evaluate_with(self, *, session: Any = None, **kwargs: Any) -> datetime:
        return datetime.now(tz=UTC)
