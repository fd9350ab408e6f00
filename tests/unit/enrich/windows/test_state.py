"""State snapshots: a new partition starts from the newest, a retry from the one before its own."""

from __future__ import annotations

from dataframe_pipeline.core.dataset import Location
from dataframe_pipeline.enrich.windows.state import StateStore


def test_plan_new_retry_and_rerun_of_an_old_partition(tmp_path) -> None:
    store = StateStore(Location.local(str(tmp_path / "state")))
    first = store.plan("date=2026-12-01/minute_utc=00")
    assert (first.seq, first.base, first.previous, first.newest) == (1, None, None, True)
    store.save(first, "date=2026-12-01/minute_utc=00", {"n": 1})
    second = store.plan("date=2026-12-01/minute_utc=05")
    assert (second.seq, second.base["n"], second.previous) == (2, 1, None)
    store.save(second, "date=2026-12-01/minute_utc=05", {"n": 2})
    retry = store.plan("date=2026-12-01/minute_utc=05")
    assert (retry.seq, retry.base["n"], retry.previous["n"], retry.newest) == (2, 1, 2, True)
    old = store.plan("date=2026-12-01/minute_utc=00")
    assert (old.seq, old.base, old.previous["n"], old.newest) == (1, None, 1, False)
