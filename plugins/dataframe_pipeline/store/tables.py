"""Read the curated Delta tables: a version, the version a run published, the history, and rollback.
One call each. Pure: no Airflow import (a URI naming an Airflow connection, ``s3://conn@bucket/x``, is
resolved by :func:`dataframe_pipeline.store.storage.storage_options`, which imports Airflow then).

>>> read_table("data/curated/orders", filters=[("date", "=", "2026-10-28")], columns=["order_id", "amount"])
>>> read_table("data/curated/orders", as_of_run="scheduled__2026-10-28T00:00:00+00:00")
>>> rollback("data/curated/orders", 3, reason="bad upstream file")

Filters are in pyarrow's DNF form (``[("date", "=", "2026-10-28")]``, a list of such lists for OR); a
filter on a partition column reads only that partition's files, and the file statistics of the Delta
log (min, max, nulls per column) skip the files a filter on another column cannot match.

CLI::

    python -m dataframe_pipeline.store.tables history  data/curated/orders [--json]
    python -m dataframe_pipeline.store.tables read     data/curated/orders --version 3 --columns a,b --limit 5
    python -m dataframe_pipeline.store.tables read     data/curated/orders --run <run_id>
    python -m dataframe_pipeline.store.tables rollback data/curated/orders --version 3 --reason "..."
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import ConfigurationError, DatasetNotFoundError
from dataframe_pipeline.store.delta import ATTEMPT_KEY, MANIFEST_KEY, RUN_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import pyarrow as pa
    import pyarrow.dataset as pads

Filters = list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]


def _resolve(uri: str, storage_options: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
    if storage_options is not None:
        return uri, dict(storage_options)
    from dataframe_pipeline.store.storage import storage_options as resolve

    return resolve(uri)


def open_table(uri: str, *, version: int | None = None, storage_options: Mapping[str, str] | None = None) -> Any:
    """The ``deltalake.DeltaTable`` at ``uri`` (at ``version``, else the latest).

    :raises DatasetNotFoundError: no Delta table there.
    """
    from deltalake import DeltaTable

    plain, options = _resolve(uri, storage_options)
    if not DeltaTable.is_deltatable(plain, storage_options=options or None):
        raise DatasetNotFoundError(f"no Delta table at {uri}")
    return DeltaTable(plain, version=version, storage_options=options or None)


def history(uri: str, storage_options: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every version of the table, newest first: version, timestamp (ms), operation, run_id, partition,
    rows (added by the commit) and the manifest the commit carries."""
    out = []
    for commit in open_table(uri, storage_options=storage_options).history():
        manifest = commit.get(MANIFEST_KEY) or {}
        metrics = commit.get("operationMetrics") or {}
        rows = metrics.get("num_added_rows", manifest.get("rows"))
        out.append(
            {
                "version": int(commit["version"]),
                "timestamp": commit.get("timestamp"),
                "operation": commit.get("operation"),
                "run_id": commit.get(RUN_KEY) or manifest.get("run_id"),
                "partition": manifest.get("partition"),
                "rows": rows,
                "attempt": commit.get(ATTEMPT_KEY),
                "manifest": manifest,
            }
        )
    return out


def version_of_run(uri: str, run_id: str, *, storage_options: Mapping[str, str] | None = None) -> int:
    """The latest version a run published.

    :raises ConfigurationError: (field ``run``) no commit of that run.
    """
    for commit in history(uri, storage_options):
        if commit["run_id"] == run_id and commit["operation"] != "RESTORE":
            return commit["version"]
    raise ConfigurationError("run", run_id, f"no version of {uri} was published by this run")


def _dataset(
    uri: str,
    version: int | None,
    as_of_run: str | None,
    storage_options: Mapping[str, str] | None,
) -> pads.Dataset:
    if version is not None and as_of_run is not None:
        raise ConfigurationError("version", version, "give a version or a run (as_of_run), not both")
    if as_of_run is not None:
        version = version_of_run(uri, as_of_run, storage_options=storage_options)
    return open_table(uri, version=version, storage_options=storage_options).to_pyarrow_dataset()


def _expression(filters: Filters | None) -> Any:
    if not filters:
        return None
    import pyarrow.parquet as pq

    return pq.filters_to_expression(filters)


def scanner(
    uri: str,
    *,
    version: int | None = None,
    as_of_run: str | None = None,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    storage_options: Mapping[str, str] | None = None,
    batch_rows: int = 100_000,
) -> pads.Scanner:
    """A pyarrow scanner over a version of the table; partition pruning and file statistics apply."""
    dataset = _dataset(uri, version, as_of_run, storage_options)
    return dataset.scanner(
        columns=list(columns) if columns else None, filter=_expression(filters), batch_size=batch_rows
    )


def read_table(
    uri: str,
    *,
    version: int | None = None,
    as_of_run: str | None = None,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> pa.Table:
    """The table (at ``version``, or as the run ``as_of_run`` published it), ``columns`` only, the rows
    matching ``filters``."""
    return scanner(
        uri, version=version, as_of_run=as_of_run, columns=columns, filters=filters, storage_options=storage_options
    ).to_table()


def read_batches(
    uri: str,
    *,
    version: int | None = None,
    as_of_run: str | None = None,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    storage_options: Mapping[str, str] | None = None,
    batch_rows: int = 100_000,
) -> Iterator[pa.RecordBatch]:
    """Like :func:`read_table`, as record batches of at most ``batch_rows`` rows (bounded memory)."""
    yield from scanner(
        uri, version=version, as_of_run=as_of_run, columns=columns, filters=filters,
        storage_options=storage_options, batch_rows=batch_rows,
    ).to_batches()  # fmt: skip


def rollback(uri: str, version: int, *, reason: str, storage_options: Mapping[str, str] | None = None) -> int:
    """Restore the table to ``version`` as a new commit (delta-rs ``restore``); the versions in between
    stay in the history. Returns the new version.

    :raises ConfigurationError: (field ``version`` or ``reason``) no such version, or no reason given.
    """
    from deltalake import CommitProperties

    if not isinstance(reason, str) or not reason.strip():
        raise ConfigurationError("reason", reason, "say why the table is rolled back")
    table = open_table(uri, storage_options=storage_options)
    current = table.version()
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < current:
        raise ConfigurationError("version", version, f"must be an earlier version of {uri} (0..{current - 1})")
    manifest = {"rollback": {"from_version": current, "to_version": version, "reason": reason.strip()}}
    table.restore(version, commit_properties=CommitProperties(custom_metadata={MANIFEST_KEY: manifest}))
    return open_table(uri, storage_options=storage_options).version()


# -- the command line ---------------------------------------------------------------------------

#: the columns of ``history``'s table (``--json`` prints every field and the whole manifest)
HISTORY_COLUMNS = ("version", "committed (UTC)", "operation", "run_id", "partition", "rows", "validation", "code")


def _validation_cell(manifest: Mapping[str, Any]) -> str:
    validation = manifest.get("validation")
    if not isinstance(validation, dict) or "success" not in validation:
        return "-"
    text = "passed" if validation["success"] else "failed"
    # the validate step's own count (validate.audit.statistics: a quarantining expectation is a warning)
    warnings = (validation.get("statistics") or {}).get("failed_warnings")
    return f"{text}, {warnings} warning(s)" if warnings else text


def history_rows(commits: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One line per version for people: the manifest reduced to what tells versions apart."""
    from datetime import UTC, datetime

    rows: list[tuple[str, ...]] = []
    for commit in commits:
        manifest = commit.get("manifest") or {}
        stamp = commit.get("timestamp")
        when = "-" if stamp is None else datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        partition = commit.get("partition")
        where = ",".join(f"{k}={v}" for k, v in partition.items()) if isinstance(partition, dict) else "-"
        rows.append(
            (
                str(commit["version"]),
                when,
                str(commit.get("operation") or "-"),
                str(commit.get("run_id") or "-"),
                where or "-",
                "-" if commit.get("rows") is None else str(commit["rows"]),
                _validation_cell(manifest),
                str(manifest.get("code_version") or "-")[:12],
            )
        )
    return rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *rows)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dataframe_pipeline.store.tables", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["history", "read", "rollback"])
    parser.add_argument("uri", help="the table: a path, file://, s3://conn@bucket/prefix, gs://..., abfs://...")
    parser.add_argument("--version", type=int, help="read: this version; rollback: restore to it")
    parser.add_argument("--run", help="read: the version this run published")
    parser.add_argument("--columns", help="read: comma-separated columns")
    parser.add_argument("--limit", type=int, default=20, help="read: rows shown (history: versions shown)")
    parser.add_argument("--reason", help="rollback: why (recorded in the commit)")
    parser.add_argument("--json", action="store_true", help="history: one JSON object per version, manifest included")
    args = parser.parse_args(argv)
    try:
        if args.command == "history":
            commits = history(args.uri)[: args.limit]
            if args.json:
                for commit in commits:
                    print(json.dumps(commit, default=str, sort_keys=True))
            else:
                print(format_table(HISTORY_COLUMNS, history_rows(commits)))
        elif args.command == "read":
            columns = [c for c in (args.columns or "").split(",") if c] or None
            table = read_table(args.uri, version=args.version, as_of_run=args.run, columns=columns)
            print(table.slice(0, args.limit).to_pandas().to_string(index=False))
            print(f"({table.num_rows} rows)")
        else:
            if args.version is None:
                parser.error("rollback needs --version")
            new = rollback(args.uri, args.version, reason=args.reason or "")
            print(f"rolled back {args.uri} to version {args.version} as version {new}")
    except (ConfigurationError, DatasetNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
