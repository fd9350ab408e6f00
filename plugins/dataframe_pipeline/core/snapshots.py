"""Numbered JSON snapshots beside the data, one per run partition: ``<seq:08d>@<partition>.json``.

Shared by the Kafka offsets ledger (``ingest/kafka/offsets.py``) and the windows' state
(``enrich/windows/state.py``): both keep a sequence of snapshots in a folder of the lake, find a run
partition's own earlier snapshot (a retry) by its name, and start the next run from the newest.
Pure: no Airflow import.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataframe_pipeline.core.dataset import Location

ENTRY = re.compile(r"^(\d{8,})@(.+)\.json$")


def escape(run_partition: str) -> str:
    """A run partition path (``date=.../hour_utc=03``) as one file name."""
    return re.sub(r"[^A-Za-z0-9=._+-]", "~", run_partition)


def entry_name(seq: int, run_partition: str) -> str:
    return f"{seq:08d}@{escape(run_partition)}.json"


def partition_suffix(run_partition: str) -> str:
    """The end of every snapshot name of ``run_partition``."""
    return f"@{escape(run_partition)}.json"


def entries(location: Location) -> dict[int, str]:
    """Sequence number -> snapshot file name, of the snapshots in ``location``."""
    fs, path = location.fs, location.path
    if not fs.exists(path):
        return {}
    found = {}
    for full in fs.ls(path, detail=False):
        match = ENTRY.match(full.rstrip("/").rsplit("/", 1)[-1])
        if match:
            found[int(match.group(1))] = match.group(0)
    return found


def read(location: Location, name: str) -> dict[str, Any]:
    return json.loads((location / name).read_bytes())
