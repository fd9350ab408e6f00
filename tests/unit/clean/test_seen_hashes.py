"""The hash set of the streaming exact-duplicates transform: runs stay within their cap (bounded
transient memory when runs merge) and membership stays exact across capped runs."""

from __future__ import annotations

import numpy as np
import pytest

from dataframe_pipeline.clean import duplicates
from dataframe_pipeline.clean.duplicates import _SeenHashes


@pytest.mark.parametrize("cap", [8, 64, 1 << 23])
def test_runs_stay_within_the_cap_and_membership_is_exact(monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    monkeypatch.setattr(duplicates, "MAX_RUN", cap)
    rng = np.random.default_rng(1)
    seen, expected = _SeenHashes(), set()
    for _ in range(200):
        batch = np.unique(rng.integers(0, 5000, rng.integers(1, 40), dtype=np.uint64))  # repeats across batches
        found = seen.contains(batch)
        assert found.tolist() == [int(h) in expected for h in batch]
        seen.add(batch[~found])
        expected.update(int(h) for h in batch)
    assert sum(len(run) for run in seen.runs) == len(expected)
    assert sorted(int(h) for run in seen.runs for h in run) == sorted(expected)  # each hash once
    assert all(len(run) <= max(cap, 40) for run in seen.runs)  # a single new run may exceed a tiny cap
    assert all(bool(np.all(run[1:] > run[:-1])) for run in seen.runs)  # sorted, distinct


def test_without_the_cap_runs_would_grow_to_the_whole_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is what bounds the runs: with it lifted, the binary counter merges everything."""
    monkeypatch.setattr(duplicates, "MAX_RUN", 1 << 62)
    seen = _SeenHashes()
    for start in range(0, 1024, 16):
        seen.add(np.arange(start, start + 16, dtype=np.uint64))
    assert [len(run) for run in seen.runs] == [1024]
    monkeypatch.setattr(duplicates, "MAX_RUN", 64)
    capped = _SeenHashes()
    for start in range(0, 1024, 16):
        capped.add(np.arange(start, start + 16, dtype=np.uint64))
    assert [len(run) for run in capped.runs] == [64] * 16
