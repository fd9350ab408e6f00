"""
### curated_rollback

Rolls a curated Delta table back to an earlier version (manual).

Trigger it with `table` (the dataset name under the curated root, such as `orders`, or a table URI),
`version` (the version to restore: see `python -m dataframe_pipeline.store.tables history <table>`) and
`reason`. The table is restored as a **new** version (delta-rs `restore`), so the versions in between
stay in the history and can be restored in turn; the new commit's manifest says
`{"rollback": {"from_version": ..., "to_version": ..., "reason": ...}}`. The task returns the new version.
A version that does not exist, or an empty reason, fails the task without retry.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from dataframe_pipeline.defaults import default_args, run_deadline


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    deadline=run_deadline(),
    tags=["curated", "maintenance"],
    doc_md=__doc__,
    params={
        "table": Param("orders", type="string", minLength=1, description="Curated dataset name or table URI"),
        "version": Param(0, type="integer", minimum=0, description="Version to restore"),
        "reason": Param("", type="string", minLength=1, description="Why (recorded in the commit)"),
    },
)
def curated_rollback():
    @task
    def rollback(params: dict | None = None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from dataframe_pipeline.core import settings
        from dataframe_pipeline.exceptions import ConfigurationError, DatasetNotFoundError
        from dataframe_pipeline.store.storage import table_uri
        from dataframe_pipeline.store.tables import rollback as restore

        uri = table_uri(params["table"], settings.curated_root())
        try:
            version = restore(uri, params["version"], reason=params["reason"])
        except (ConfigurationError, DatasetNotFoundError) as err:
            raise AirflowFailException(f"{type(err).__name__}: {err}") from err
        return {"table": uri, "restored": params["version"], "version": version}

    rollback()


curated_rollback()
