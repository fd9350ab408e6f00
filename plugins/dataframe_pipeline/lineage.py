"""OpenLineage of a step, built from the result it returned. Pure: no Airflow import.

A step operator hands :func:`step_lineage` its :class:`~dataframe_pipeline.core.result.StepResult` (as
the dict that travels through XCom), the dataset it read and the sources an ingest read; it gets back
the inputs and outputs as ``openlineage.client.event_v2`` datasets with their facets, which the
operator returns as the provider's ``OperatorLineage`` (``core/operators.py``):

- every dataset is named by the OpenLineage naming conventions (:func:`dataset_id`): ``file://<host>``
  and the absolute path; ``s3://<bucket>`` (``gs://``, ``abfs://``) and the key, without the Airflow
  connection id of ``s3://conn@bucket/key``; ``postgres://host:port`` and ``db.schema.table``;
  ``mysql://host:port`` and ``db.table``; ``http(s)://host`` and the path of an API;
- inputs and outputs carry the ``schema`` facet (the Arrow columns and types of the dataset reference);
  outputs the ``outputStatistics`` facet (rows, bytes) and, where it costs nothing, ``columnLineage``
  (ingest: each file column; transforms and store: the columns they pass through unchanged are
  ``IDENTITY``, the columns a transform names in its configuration ``TRANSFORMATION``);
- the validate step's input carries ``dataQualityAssertions`` (each expectation, its column and
  whether it passed) and ``dataQualityMetrics`` (row count, null count per column);
- the run carries the custom facet ``dataframePipeline``: step, partition, row accounting, fitted state.

openlineage-python is imported inside the functions (it costs ~0.2 s and a task needs it only when the
provider's listener is enabled, and then the listener has imported it already).
"""

from __future__ import annotations

import functools
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

#: the key of the custom run facet
RUN_FACET = "dataframePipeline"
#: the custom run facet is described in the README's "Lineage" section (no hosted JSON schema)
RUN_FACET_SCHEMA = "urn:dataframe-pipeline:openlineage:DataframePipelineRunFacet:1"
#: columns the ingest step adds to every row (row-level lineage), not read from a source column
ORIGIN_COLUMNS = frozenset({"_source_file", "_source_line"})
#: object stores whose URI authority is a bucket or container (an Airflow connection id may precede it)
OBJECT_STORES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "abfs": "abfs", "abfss": "abfss", "az": "az"}
SQL_PORTS = {"postgres": 5432, "mysql": 3306}


@dataclass(frozen=True)
class DatasetId:
    """An OpenLineage dataset name: its namespace (the data source) and its name within it."""

    namespace: str
    name: str


@dataclass(frozen=True)
class StepLineage:
    """What :func:`step_lineage` returns: ``event_v2`` input and output datasets and run facets."""

    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    run_facets: dict[str, Any] = field(default_factory=dict)


# -- names ---------------------------------------------------------------------------------------


def dataset_id(uri: str) -> DatasetId:
    """The OpenLineage name of a dataset, file, table or API endpoint given by its URI or path.

    Local files: namespace ``file://<host>`` (the URI's host, else this machine's name), name the
    absolute path. Object stores: namespace ``<scheme>://<bucket>``, name the key (an Airflow
    connection id, ``s3://conn@bucket/key``, says how to reach the data, not which data it is). SQL
    URLs as :func:`sql_dataset_id`. Anything else: ``<scheme>://<host>`` and the path; a query string is
    never part of a name (it may hold a secret).
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file", "local") or len(scheme) == 1:  # a path (one letter: a Windows drive)
        path = unquote(parts.path) if scheme in ("file", "local") else uri
        host = parts.netloc if scheme in ("file", "local") and parts.netloc else socket.gethostname()
        return DatasetId(f"file://{host}", path)
    if scheme in OBJECT_STORES:
        authority = parts.netloc
        if "@" in authority and ".core.windows.net" not in authority:
            authority = authority.rsplit("@", 1)[1]  # drop the connection id
        return DatasetId(f"{OBJECT_STORES[scheme]}://{authority}", unquote(parts.path).lstrip("/"))
    if _dialect(scheme) is not None:
        found = sql_dataset_id(uri)
        if found is not None:
            return found
    authority = parts.netloc.rsplit("@", 1)[-1]  # never a login
    return DatasetId(f"{scheme}://{authority}", unquote(parts.path) or "/")


def _dialect(scheme: str) -> str | None:
    base = scheme.split("+", 1)[0]
    if base in ("postgres", "postgresql", "psycopg", "redshift"):
        return "postgres"
    if base in ("mysql", "mariadb"):
        return "mysql"
    if base == "sqlite":
        return "sqlite"
    return None


def sql_dataset_id(source: str) -> DatasetId | None:
    """The OpenLineage name of a table read by the SQL ingest: ``<database URL>/<schema.table>`` (the
    ``_source_file`` of its rows), e.g. ``postgresql+psycopg2://u:***@db:5432/test/public.flights`` is
    ``postgres://db:5432`` and ``test.public.flights``. None for a query (``.../query``) or no table."""
    url, _, qualified = source.rpartition("/")
    if not url or not qualified or qualified == "query":
        return None
    parts = urlsplit(url)
    dialect = _dialect(parts.scheme.lower())
    if dialect is None:
        return None
    if dialect == "sqlite":  # no convention: the database file is the data source
        return DatasetId(f"sqlite://{unquote(parts.path).removeprefix('/')}", qualified)
    database = unquote(parts.path).strip("/")
    namespace = f"{dialect}://{parts.hostname or 'localhost'}:{parts.port or SQL_PORTS[dialect]}"
    names = qualified.split(".")
    if dialect == "postgres":
        names = [database, *names] if len(names) == 2 else [database, "public", *names]
    elif len(names) == 1:  # on MySQL the schema is the database
        names = [database, *names]
    return DatasetId(namespace, ".".join(n for n in names if n))


def query_dataset_ids(source: str, query: str) -> list[DatasetId]:
    """The tables a SQL query reads (parsed by openlineage-sql), in the database of ``source``."""
    url = source.rpartition("/")[0]
    try:
        from openlineage_sql import parse
    except ImportError:  # the parser ships with the OpenLineage provider
        return []
    found = []
    for table in parse([query]).in_tables:
        qualified = ".".join(p for p in (table.schema, table.name) if p)
        name = sql_dataset_id(f"{url}/{qualified}")
        if name is not None:
            found.append(name)
    return found


def table_uri(uri: str) -> str:
    """The table of a partition directory: ``.../orders/date=2026-10-09/split=train`` is ``.../orders``
    (a partitioned table is one dataset; its partition is a facet)."""
    head = uri.rstrip("/")
    while "/" in head and "=" in head.rsplit("/", 1)[1]:
        head = head.rsplit("/", 1)[0]
    return head


# -- facets --------------------------------------------------------------------------------------


def schema_facet(columns: Mapping[str, str]) -> Any:
    """The ``schema`` facet of a dataset reference's columns (name -> Arrow type)."""
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=str(kind), ordinal_position=position)
            for position, (name, kind) in enumerate(columns.items(), start=1)
        ]
    )


def column_lineage_facet(sources: Mapping[str, Sequence[tuple[DatasetId, str, str]]]) -> Any:
    """``columnLineage`` of an output: column -> [(input dataset, input column, subtype)], subtype
    ``IDENTITY`` (passed through) or ``TRANSFORMATION`` (changed by the step)."""
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    fields = {}
    for column, inputs in sources.items():
        if not inputs:
            continue
        fields[column] = cl.Fields(
            inputFields=[
                cl.InputField(
                    namespace=source.namespace,
                    name=source.name,
                    field=source_column,
                    transformations=[cl.Transformation(type="DIRECT", subtype=subtype)],
                )
                for source, source_column, subtype in inputs
            ]
        )
    return cl.ColumnLineageDatasetFacet(fields=fields)


@functools.cache
def _pipeline_run_facet() -> type:
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class DataframePipelineRunFacet(RunFacet):
        """What the step did in this run: its partition and its row accounting
        (rows in = rows out + rows quarantined + rows dropped by rule)."""

        step: str
        partition: dict
        accounting: dict
        fittedUri: str | None = None  # OpenLineage facets are camelCase

        @staticmethod
        def _get_schema() -> str:
            return RUN_FACET_SCHEMA

    return DataframePipelineRunFacet


def run_facet(result: Mapping[str, Any]) -> Any:
    """The custom run facet ``dataframePipeline`` of a step result."""
    return _pipeline_run_facet()(
        step=str(result.get("step")),
        partition=dict(result.get("partition") or {}),
        accounting=dict(result.get("accounting") or {}),
        fittedUri=result.get("fitted_uri"),
    )


# -- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One expectation of a validation, as OpenLineage reports it."""

    assertion: str
    success: bool
    column: str | None = None
    severity: str | None = None
    unexpected_count: int | None = None


@dataclass(frozen=True)
class Quality:
    """The data-quality facts of a validation: the checks, the row count, null counts per column."""

    checks: list[Check]
    rows: int | None = None
    nulls: dict[str, int] = field(default_factory=dict)


NOT_NULL = "expect_column_values_to_not_be_null"


def quality_of(
    result: Mapping[str, Any], *, report: Mapping[str, Any] | None = None, suite: Mapping[str, Any] | None = None
) -> Quality | None:
    """The data-quality facts of a validate result, in either of its shapes.

    - ``result["validation"]``: ``{"success", "expectations": [{"type", "column", "success",
      "unexpected_count", "severity"?}], "metrics": {"row_count", "missing_rate": {column: rate}}}``;
    - otherwise the report (``report.json``: ``rows`` and the ``failures``) and the suite it ran: each
      expectation of the suite, failed when the report lists it; null counts of the columns a
      not-null expectation covers.

    None when neither is there (the step result is not a validation).
    """
    validation = result.get("validation")
    if isinstance(validation, Mapping) and isinstance(validation.get("expectations"), list):
        return _quality_of_validation(validation, result)
    if report is None:
        return None
    return _quality_of_report(report, suite)


def _quality_of_validation(validation: Mapping[str, Any], result: Mapping[str, Any]) -> Quality:
    checks = [
        Check(
            assertion=str(e.get("type") or e.get("expectation_type")),
            success=bool(e.get("success")),
            column=e.get("column"),
            severity=e.get("severity"),
            unexpected_count=e.get("unexpected_count"),
        )
        for e in validation["expectations"]
    ]
    metrics = validation.get("metrics") or {}
    rows = metrics.get("row_count", (result.get("dataset") or {}).get("rows"))
    nulls = {}
    if rows is not None:
        nulls = {str(c): round(float(rate) * int(rows)) for c, rate in (metrics.get("missing_rate") or {}).items()}
    for check in checks:  # a not-null expectation counts its nulls exactly
        if check.assertion == NOT_NULL and check.column and check.unexpected_count is not None:
            nulls[check.column] = int(check.unexpected_count)
    return Quality(checks=checks, rows=None if rows is None else int(rows), nulls=nulls)


def _quality_of_report(report: Mapping[str, Any], suite: Mapping[str, Any] | None) -> Quality:
    failures = list(report.get("failures") or [])
    failed = Counter((f.get("expectation_type"), f.get("column")) for f in failures)
    unexpected = {(f.get("expectation_type"), f.get("column")): f.get("unexpected_count") for f in failures}
    checks: list[Check] = []
    for expectation in (suite or {}).get("expectations") or []:
        kind = expectation.get("type")
        column = (expectation.get("kwargs") or {}).get("column")
        key = (kind, column)
        success = failed[key] == 0
        if not success:
            failed[key] -= 1
        count = unexpected.get(key) if not success else (0 if kind == NOT_NULL else None)
        checks.append(Check(str(kind), success, column, expectation.get("severity"), count))
    for (kind, column), left in failed.items():  # failures of a suite not given, or not matched
        checks.extend(Check(str(kind), False, column, None, unexpected.get((kind, column))) for _ in range(left))
    nulls = {c.column: int(c.unexpected_count) for c in checks if c.assertion == NOT_NULL and c.column
             and c.unexpected_count is not None}  # fmt: skip
    rows = report.get("rows")
    return Quality(checks=checks, rows=None if rows is None else int(rows), nulls=nulls)


def quality_facets(quality: Quality) -> dict[str, Any]:
    """The ``dataQualityAssertions`` and ``dataQualityMetrics`` input facets of a validation."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    assertions = [
        dqa.Assertion(
            assertion=c.assertion,
            success=c.success,
            column=c.column,
            severity=c.severity,
            actual=None if c.unexpected_count is None else f"{c.unexpected_count} unexpected",
        )
        for c in quality.checks
    ]
    metrics = dqm.DataQualityMetricsInputDatasetFacet(
        rowCount=quality.rows,
        columnMetrics={column: dqm.ColumnMetrics(nullCount=count) for column, count in sorted(quality.nulls.items())},
    )
    return {"dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=assertions),
            "dataQualityMetrics": metrics}  # fmt: skip


# -- the lineage of a step -----------------------------------------------------------------------


def step_lineage(
    result: Mapping[str, Any],
    *,
    read: Mapping[str, Any] | None = None,
    sources: Sequence[str] = (),
    query: str | None = None,
    renames: Mapping[str, str] | None = None,
    report: Mapping[str, Any] | None = None,
    suite: Mapping[str, Any] | None = None,
    size_of: Callable[[str], int | None] | None = None,
) -> StepLineage:
    """The OpenLineage inputs, outputs and run facet of a step result (``StepResult.as_dict()``).

    :param result: the step's result.
    :param read: the reference (``DatasetRef.as_dict()``) of the dataset the step read (not ingest).
    :param sources: what an ingest read (file URIs, ``<database URL>/<table>``, the API's URL); by
        default the files of its output's manifest and the table of its ``sql`` details.
    :param query: the SQL query an ingest ran (its tables become the inputs).
    :param renames: the ingest's shaping renames (source column -> output column).
    :param report: validate: the stored report, for a result without ``validation``.
    :param suite: validate: the suite that ran, for a result without ``validation``.
    :param size_of: the bytes of a dataset given its URI, None if unknown.
    """
    step = result.get("step")
    output, quarantine = result.get("dataset") or {}, result.get("quarantine") or {}
    inputs: list[Any] = []
    outputs: list[Any] = []
    if step == "ingest":
        read_ids = _ingest_sources(result, sources, query)
        inputs = [_input(i) for i in read_ids]
        outputs.append(_output(dataset_id(output["uri"]), output, size_of, _ingest_columns(output, read_ids, renames)))
    elif read is not None:
        read_id = dataset_id(read["uri"])
        quality = quality_of(result, report=report, suite=suite) if step == "validate" else None
        inputs.append(_input(read_id, read, quality_facets(quality) if quality is not None else None))
        if step != "validate":  # validate writes no data: its result names the dataset it read
            target = result.get("table_uri") or (table_uri(output["uri"]) if step == "store" else output["uri"])
            touched = _named_columns((output.get("meta") or {}).get("transforms"))
            columns = _passed_columns(read_id, read.get("columns") or {}, output.get("columns") or {}, touched)
            if step == "store" and result.get("bytes") is not None:  # the files of the published partition
                output = {**output, "bytes": result["bytes"]}
            outputs.append(_output(dataset_id(target), output, size_of, columns, version=result.get("version")))
        for split in (result.get("splits") or {}).values():
            outputs.append(_output(dataset_id(split["uri"]), split, size_of))
    if quarantine.get("uri"):
        outputs.append(_output(dataset_id(quarantine["uri"]), quarantine, size_of))
    return StepLineage(inputs=inputs, outputs=outputs, run_facets={RUN_FACET: run_facet(result)})


def failed_lineage(
    read: Mapping[str, Any] | None,
    *,
    report: Mapping[str, Any] | None = None,
    suite: Mapping[str, Any] | None = None,
) -> StepLineage:
    """The lineage of a step that failed: the dataset it read, and for a validation that failed the
    quality of that dataset (from the report it stored)."""
    if read is None:
        return StepLineage()
    quality = None
    if isinstance(report, Mapping):  # a report of either shape: the validation itself, or today's report.json
        quality = quality_of({"validation": report.get("validation", report)}, report=report, suite=suite)
    return StepLineage(inputs=[_input(dataset_id(read["uri"]), read, quality_facets(quality) if quality else None)])


def _ingest_sources(result: Mapping[str, Any], sources: Sequence[str], query: str | None) -> list[DatasetId]:
    named = list(sources) or list((result.get("dataset") or {}).get("meta", {}).get("files") or [])
    sql = (result.get("sql") or {}).get("source")
    if not named and sql:
        named = [sql]
    found: list[DatasetId] = []
    for source in named:
        if source.endswith("/query") and query:
            found.extend(query_dataset_ids(source, query))
            continue
        found.append(dataset_id(source))
    return list(dict.fromkeys(found))  # each once, in order


def _ingest_columns(
    output: Mapping[str, Any], sources: Sequence[DatasetId], renames: Mapping[str, str] | None
) -> dict[str, list[tuple[DatasetId, str, str]]]:
    """Each output column comes from the column of that name (before renaming) of every source read."""
    before = {new: old for old, new in (renames or {}).items()}
    return {
        column: [(source, before.get(column, column), "IDENTITY") for source in sources]
        for column in output.get("columns") or {}
        if column not in ORIGIN_COLUMNS
    }


def _passed_columns(
    source: DatasetId, read: Mapping[str, str], written: Mapping[str, str], touched: set[str]
) -> dict[str, list[tuple[DatasetId, str, str]]]:
    """Output columns also in the input: identity unless a transform names them or their type changed."""
    return {
        column: [
            (source, column, "TRANSFORMATION" if column in touched or _retyped(read[column], kind) else "IDENTITY")
        ]
        for column, kind in written.items()
        if column in read
    }


def _retyped(before: str, after: str) -> bool:
    """A type change beyond Arrow's offset width (``string`` read back as ``large_string`` is the same)."""
    return before.replace("large_", "") != after.replace("large_", "")


def _named_columns(transforms: Any) -> set[str]:
    """Every string in a chain's configuration, keys included: the columns its transforms name (and
    other words, which only matter if a column has that name: then it is reported as transformed)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):  # keys too: {"types": {"amount": "float"}}
            for key, item in value.items():
                found.add(str(key))
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(transforms or [])
    return found


def _input(name: DatasetId, ref: Mapping[str, Any] | None = None, facets: Mapping[str, Any] | None = None) -> Any:
    from openlineage.client.event_v2 import InputDataset

    dataset_facets = {"schema": schema_facet(ref["columns"])} if ref and ref.get("columns") else {}
    return InputDataset(namespace=name.namespace, name=name.name, facets=dataset_facets, inputFacets=dict(facets or {}))


def _output(
    name: DatasetId,
    ref: Mapping[str, Any],
    size_of: Callable[[str], int | None] | None,
    columns: Mapping[str, Sequence[tuple[DatasetId, str, str]]] | None = None,
    *,
    version: Any = None,
) -> Any:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset, output_statistics_output_dataset

    facets: dict[str, Any] = {"schema": schema_facet(ref.get("columns") or {})}
    if columns:
        facets["columnLineage"] = column_lineage_facet(columns)
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))
    size = ref.get("bytes") if ref.get("bytes") is not None else size_of(ref["uri"]) if size_of is not None else None
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=ref.get("rows"), size=size)
    return OutputDataset(
        namespace=name.namespace, name=name.name, facets=facets, outputFacets={"outputStatistics": stats}
    )


def manifest_bytes(manifest: Mapping[str, Any] | None) -> int | None:
    """The bytes of a dataset by its ``_manifest.json`` (the sum of its files), None if unknown."""
    files = (manifest or {}).get("files") if isinstance(manifest, dict) else None
    sizes = [f.get("bytes") for f in files or [] if isinstance(f, dict)]
    known = [s for s in sizes if isinstance(s, int)]
    return sum(known) if sizes and len(known) == len(sizes) else None


def names(datasets: Iterable[Any]) -> list[str]:
    """``namespace/name`` of OpenLineage datasets (for logs and tests)."""
    return [f"{d.namespace}/{d.name}" for d in datasets]
