"""Every step of a run works on the run's partition, from one place, however the run was started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.store.tables import read_table

HOURLY = SimpleNamespace(timetable=CronDataIntervalTimetable("0 * * * *", timezone="UTC"))


def context(logical_date: datetime | None, run_id: str, dag=HOURLY, params: dict | None = None, try_number=1) -> dict:
    return {
        "dag": dag,
        "dag_run": SimpleNamespace(logical_date=logical_date, run_id=run_id),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": run_id,
        "params": params or {},
    }


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(folder))
    return folder


def hourly_run(tmp_path: Path, hour: int, try_number: int = 1) -> dict:
    """ingest (incremental, new files only) -> store, for the run of ``hour`` on 2026-11-01."""
    lake, curated = (tmp_path / "lake").as_uri(), (tmp_path / "curated").as_uri()
    ctx = context(datetime(2026, 11, 1, hour, tzinfo=UTC), f"scheduled__2026-11-01T{hour:02d}", try_number=try_number)
    ingested = FileIngestOperator(task_id="ingest", source="weather*.csv", incremental=True, storage_root=lake).execute(
        ctx
    )
    return DeltaStoreOperator(
        task_id="store", input_dataset=ingested, dataset_name="weather", curated_root=curated, storage_root=lake
    ).execute(ctx)


def curated_day(tmp_path: Path, day: str = "2026-11-01") -> list[str]:
    table = read_table(str(tmp_path / "curated" / "weather"), filters=[("date", "=", day)])
    return sorted(table.column("reading").to_pylist())


def test_two_hourly_runs_of_a_day_both_stay_published_and_a_rerun_changes_nothing(
    tmp_path: Path, landing: Path
) -> None:
    (landing / "weather_03.csv").write_text("reading\na1\na2\n")
    first = hourly_run(tmp_path, 3)
    (landing / "weather_04.csv").write_text("reading\nb1\n")
    second = hourly_run(tmp_path, 4)
    assert first["curated_uri"].endswith("/weather/date=2026-11-01/hour_utc=03")
    assert second["curated_uri"].endswith("/weather/date=2026-11-01/hour_utc=04")
    # the day holds both files' rows: the second hour did not replace the first one's
    assert curated_day(tmp_path) == ["a1", "a2", "b1"]

    again = hourly_run(tmp_path, 3, try_number=2)  # re-run of hour 3: re-reads its own file only
    assert again["fingerprint"] == first["fingerprint"]
    assert again["rows"] == 2
    assert curated_day(tmp_path) == ["a1", "a2", "b1"]
    assert hourly_run(tmp_path, 4, try_number=2)["fingerprint"] == second["fingerprint"]
    assert curated_day(tmp_path) == ["a1", "a2", "b1"]


def test_every_step_of_a_run_uses_the_same_partition_path(tmp_path: Path, landing: Path) -> None:
    (landing / "weather_03.csv").write_text("reading\na1\n")
    ctx = context(datetime(2026, 11, 1, 3, 25, tzinfo=UTC), "manual__2026-11-01T03:25")  # mid-hour manual run
    ingested = FileIngestOperator(
        task_id="ingest", source="weather*.csv", storage_root=(tmp_path / "lake").as_uri()
    ).execute(ctx)
    assert "/date=2026-11-01/hour_utc=03/ingest/output" in ingested["dataset"]["uri"]
    assert ingested["partition"]["path"] == "date=2026-11-01/hour_utc=03"
    assert ingested["partition"]["start"] == "2026-11-01T03:00:00+00:00"


def test_a_run_without_a_partition_fails_at_once_without_retry(tmp_path: Path, landing: Path) -> None:
    (landing / "weather_03.csv").write_text("reading\na1\n")
    op = FileIngestOperator(task_id="ingest", source="weather*.csv", storage_root=(tmp_path / "lake").as_uri())
    with pytest.raises(AirflowFailException, match=r"PartitionError: partition=None: run 'manual__x' has no partition"):
        op.execute(context(None, "manual__x"))
    assert not (tmp_path / "lake").exists()


def test_the_partition_param_names_the_partition_of_a_run_without_logical_date(tmp_path: Path, landing: Path) -> None:
    (landing / "weather_03.csv").write_text("reading\na1\n")
    op = FileIngestOperator(task_id="ingest", source="weather*.csv", storage_root=(tmp_path / "lake").as_uri())
    result = op.execute(context(None, "manual__x", params={"partition": "2026-11-01T03:00"}))
    assert result["partition"]["path"] == "date=2026-11-01/hour_utc=03"
    assert result["partition"]["origin"] == "param"


def test_templates_see_the_partition_and_a_run_without_one_fails_while_rendering(tmp_path: Path) -> None:
    with DAG("t", schedule="@daily", start_date=datetime(2026, 10, 1, tzinfo=UTC)) as dag:
        op = FileIngestOperator(task_id="ingest", source="orders_{{ partition.ds }}.csv")
    ctx = context(datetime(2026, 10, 9, 17, tzinfo=UTC), "manual__x", dag=dag)
    op.render_template_fields(ctx, dag.get_template_env())
    assert op.source == "orders_2026-10-09.csv"

    with DAG("u", schedule="@daily", start_date=datetime(2026, 10, 1, tzinfo=UTC)) as dag:
        op = FileIngestOperator(task_id="ingest", source="orders_{{ partition.ds }}.csv")
    with pytest.raises(AirflowFailException, match="has no partition"):
        op.render_template_fields(context(None, "manual__y", dag=dag), dag.get_template_env())


def test_a_daily_dag_runs_the_logical_dates_day_whatever_the_time_of_the_trigger(tmp_path: Path, landing: Path) -> None:
    (landing / "weather_03.csv").write_text("reading\na1\n")
    daily = SimpleNamespace(timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
    lake = (tmp_path / "lake").as_uri()
    uris = {
        FileIngestOperator(task_id="ingest", source="weather*.csv", storage_root=lake).execute(
            context(datetime(2026, 10, 9, tzinfo=UTC) + timedelta(hours=hours), f"r{hours}", dag=daily)
        )["dataset"]["uri"]
        for hours in (0, 5, 23)
    }
    (uri,) = uris
    assert uri.endswith("/date=2026-10-09/ingest/output")


class _Unreadable:
    """Stands for the triggering-events accessor: reading it fails the test."""

    def __bool__(self) -> bool:
        raise AssertionError("the triggering asset events were read")

    def keys(self):
        raise AssertionError("the triggering asset events were read")


def test_an_asset_triggered_run_works_on_the_partition_its_events_carry(tmp_path: Path, landing: Path) -> None:
    from dataframe_pipeline.core.operators import run_partition

    upstream = run_partition(context(datetime(2026, 11, 1, 3, tzinfo=UTC), "scheduled__x"))
    events = {"asset": [SimpleNamespace(extra={"partition": upstream.as_dict()})]}
    ctx = context(None, "asset_triggered__x", dag=SimpleNamespace(timetable=None))
    ctx["triggering_asset_events"] = events
    (landing / "weather_03.csv").write_text("reading\na1\n")
    result = FileIngestOperator(
        task_id="ingest", source="weather*.csv", storage_root=(tmp_path / "lake").as_uri()
    ).execute(ctx)
    assert result["partition"]["path"] == "date=2026-11-01/hour_utc=03"
    assert result["partition"]["origin"] == "asset_event"
    # a scheduled run never asks for its triggering events (the accessor would call Airflow's API)
    scheduled = context(datetime(2026, 11, 1, 3, tzinfo=UTC), "scheduled__y")
    scheduled["triggering_asset_events"] = _Unreadable()
    assert run_partition(scheduled).path == "date=2026-11-01/hour_utc=03"
