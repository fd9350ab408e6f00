"""Build a run's quality report from its step results and their datasets.

:func:`build_report` reads each dataset once, streaming (exact null counts, a seeded sample of at
most ``sample_rows`` rows), and returns the report as JSON-safe data plus its pictures;
:func:`write_report` also renders the HTML page and writes ``report.json`` and ``report.html`` (the
pictures inlined as data URIs, so the page is one self-contained file an iframe can show).

A section whose input is missing (a step that failed or was skipped, a first run with nothing to
compare, a validate result without history) says so in its ``note`` instead of being left out; a
section that fails to build shows the error, and the others are still built.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.report import charts, drift
from dataframe_pipeline.report import validation as validation_section
from dataframe_pipeline.report.reference import previous_partition
from dataframe_pipeline.report.sampling import NullCounts, RowSample, profile

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from numpy.typing import ArrayLike

    from dataframe_pipeline.core.dataset import Location

log = logging.getLogger(__name__)

STEPS = ("ingest", "clean", "enrich", "refine", "validate", "store")
#: quarantine/drop rules whose rows are outliers
OUTLIER_RULES = ("iqr_outliers", "zscore_outliers", "isolation_forest")
#: "amount=9120.5 outside [1.2, 950.3] (3.0 x IQR of log)", as the outlier transforms write it
_FENCE = re.compile(r"(?P<column>[^\s=;]+)=(?P<value>\S+) outside \[(?P<low>[^,\]]+), (?P<high>[^\]]+)\]")
MAX_HISTOGRAMS = 12
MAX_OUTLIER_EXAMPLES = 1000
HISTORY_METRICS = ("row_count", "missing_rate")


@dataclass
class ReportInputs:
    """What a report is built from.

    :param results: the step results of the run by step name (None: the step left no result).
    :param resolve: a URI of a result -> its :class:`Location` (the operator maps Airflow's object storage).
    :param states: task state by step name, when known (shown in the accounting).
    :param validation_report: the ``report.json`` a failed validate task left, when it left no result.
    :param curated_table: the published table the drift section compares with (None: no drift section).
    """

    dag_id: str
    run_id: str
    partition: Mapping[str, str]
    results: Mapping[str, Mapping[str, Any] | None]
    resolve: Callable[[str], Location]
    states: Mapping[str, str | None] = field(default_factory=dict)
    validation_report: Mapping[str, Any] | None = None
    curated_table: Location | None = None
    psi_threshold: float = drift.DEFAULT_THRESHOLD
    sample_rows: int = 50_000
    batch_rows: int = 100_000
    storage_options: Mapping[str, str] | None = None


@dataclass
class Report:
    data: dict[str, Any]
    pictures: dict[str, bytes]


class _Profiles:
    """Datasets of the run read once each: exact null counts and a sample."""

    def __init__(self, inputs: ReportInputs) -> None:
        self.inputs = inputs
        self._cache: dict[str, tuple[NullCounts, RowSample]] = {}

    def of(self, uri: str) -> tuple[NullCounts, RowSample]:
        if uri not in self._cache:
            where = self.inputs.resolve(uri)
            reader = DatasetReader(where.fs, where.path, uri=where.uri)
            self._cache[uri] = profile(reader.iter_batches(self.inputs.batch_rows), self.inputs.sample_rows)
        return self._cache[uri]


def _dataset_uri(result: Mapping[str, Any] | None) -> str | None:
    return ((result or {}).get("dataset") or {}).get("uri")


# -- sections ------------------------------------------------------------------------------------


def accounting(inputs: ReportInputs, pictures: dict[str, bytes]) -> dict[str, Any]:
    rows, absent = [], []
    for step in STEPS:
        result = inputs.results.get(step)
        acct = (result or {}).get("accounting")
        if not acct:
            absent.append(f"{step} ({inputs.states.get(step) or 'no result'})")
            continue
        rows.append(
            {
                "step": step,
                "state": inputs.states.get(step),
                **{k: acct.get(k, 0) for k in ("rows_in", "rows_out", "rows_quarantined", "rows_dropped")},
                "quarantined_by_rule": dict(acct.get("quarantined_by_rule") or {}),
                "dropped_by_rule": dict(acct.get("dropped_by_rule") or {}),
                "balanced": acct.get("balanced"),
            }
        )
    if rows:
        pictures["accounting"] = charts.accounting_flow(rows)
    note = f"no row accounting from: {', '.join(absent)}" if absent else ""
    return {"steps": rows, "note": note, "pictures": ["accounting"] if rows else []}


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if not str(c).startswith("_")
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ][:MAX_HISTOGRAMS]


def cleaning(inputs: ReportInputs, profiles: _Profiles, pictures: dict[str, bytes]) -> dict[str, Any]:
    before_uri, after_uri = _dataset_uri(inputs.results.get("ingest")), _dataset_uri(inputs.results.get("clean"))
    if not before_uri or not after_uri:
        return {"columns": [], "note": "needs the outputs of ingest and clean; one of them is missing"}
    (before, before_sample), (after, after_sample) = profiles.of(before_uri), profiles.of(after_uri)
    names = list(dict.fromkeys([*after.nulls, *before.nulls]))
    table = [
        {
            "column": c,
            "null_rate_before": before.rates().get(c),
            "nulls_before": before.nulls.get(c),
            "null_rate_after": after.rates().get(c),
            "nulls_after": after.nulls.get(c),
        }
        for c in names
    ]
    numeric = _numeric_columns(after_sample.frame)
    if numeric:
        b = {c: pd.to_numeric(before_sample.frame[c], errors="coerce") for c in numeric if c in before_sample.frame}
        a = {c: after_sample.frame[c] for c in numeric}
        pictures["distributions"] = charts.histograms(b, a, numeric)
    sampled = (
        "" if before_sample.exact and after_sample.exact else f" (histograms of {inputs.sample_rows:,}-row samples)"
    )
    return {
        "rows_before": before.rows,
        "rows_after": after.rows,
        "columns": table,
        "histogram_columns": numeric,
        "note": f"ingest output vs clean output{sampled}",
        "pictures": ["distributions"] if numeric else [],
    }


def _outlier_rows(inputs: ReportInputs, uri: str) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    where = inputs.resolve(uri)
    reader = DatasetReader(where.fs, where.path, uri=where.uri)
    counts: dict[str, int] = {}
    columns: dict[str, dict[str, Any]] = {}
    for batch in reader.iter_batches(inputs.batch_rows, columns=["rule", "reason"]):
        hits = batch[batch["rule"].astype(str).str.startswith(OUTLIER_RULES)]
        for rule, reason in zip(hits["rule"], hits["reason"], strict=True):
            counts[rule] = counts.get(rule, 0) + 1
            for match in _FENCE.finditer(str(reason)):
                entry = columns.setdefault(match["column"], {"rule": rule, "values": [], "fences": None, "count": 0})
                entry["count"] += 1
                try:
                    entry["fences"] = (float(match["low"]), float(match["high"]))
                    if len(entry["values"]) < MAX_OUTLIER_EXAMPLES:
                        entry["values"].append(float(match["value"]))
                except ValueError:
                    continue
    return counts, columns


def outliers(inputs: ReportInputs, profiles: _Profiles, pictures: dict[str, bytes]) -> dict[str, Any]:
    clean = inputs.results.get("clean")
    if not clean:
        return {"rules": {}, "columns": {}, "note": "the clean step left no result"}
    dropped = {
        r: n for r, n in (clean["accounting"].get("dropped_by_rule") or {}).items() if r.startswith(OUTLIER_RULES)
    }
    counts, columns = _outlier_rows(inputs, clean["quarantine"]["uri"])
    kept = profiles.of(clean["dataset"]["uri"])[1].frame
    shown: list[str] = []
    for column, entry in list(columns.items())[:3]:
        name = f"outliers_{len(shown)}"
        kept_values: ArrayLike = drift.numeric_values(kept[column]) if column in kept else []
        pictures[name] = charts.outliers(entry["values"], entry["fences"], column, kept_values)
        shown.append(name)
    note = "" if counts or dropped else "no outlier rule removed a row in this run"
    return {
        "quarantined_by_rule": counts,
        "dropped_by_rule": dropped,
        "columns": {c: {**e, "values": sorted(e["values"])[:50]} for c, e in columns.items()},
        "note": note,
        "pictures": shown,
    }


def drift_section(inputs: ReportInputs, profiles: _Profiles, pictures: dict[str, bytes]) -> dict[str, Any]:
    current_uri = _dataset_uri(inputs.results.get("validate")) or _dataset_uri(inputs.results.get("refine"))
    if inputs.curated_table is None:
        return {"columns": [], "note": "no curated table configured: drift not computed"}
    if not current_uri:
        return {"columns": [], "note": "the run has no validated dataset to compare"}
    reference = previous_partition(
        inputs.curated_table,
        inputs.partition,
        sample_rows=inputs.sample_rows,
        batch_rows=inputs.batch_rows,
        storage_options=inputs.storage_options,
    )
    out: dict[str, Any] = {"threshold": inputs.psi_threshold, "reference": reference.describe(), "columns": []}
    if not reference.found:
        out["note"] = reference.note
        return out
    current = profiles.of(current_uri)[1].frame
    skip = [*inputs.partition, *(c for c in current.columns if str(c).startswith("_"))]
    results = [d.as_dict() for d in drift.compare(reference.sample.frame, current, inputs.psi_threshold, skip=skip)]
    out["columns"] = results
    out["drifted"] = [d["column"] for d in results if d["drifted"]]
    out["note"] = f"against {reference.format} partition {reference.partition} of {reference.table_uri}"
    if any(d["psi"] is not None for d in results):
        pictures["drift"] = charts.drift_bars(results, inputs.psi_threshold)
        out["pictures"] = ["drift"]
    return out


def tsne(inputs: ReportInputs, pictures: dict[str, bytes]) -> dict[str, Any]:
    uri = ((inputs.results.get("refine") or {}).get("pictures") or {}).get("tsne")
    if not uri:
        return {"uri": None, "note": "the refine step drew no t-SNE picture in this run"}
    pictures["tsne"] = inputs.resolve(uri).read_bytes()
    return {"uri": uri, "pictures": ["tsne"]}


def history(inputs: ReportInputs, uri: str | None, pictures: dict[str, bytes]) -> dict[str, Any]:
    if not uri:
        return {"uri": None, "note": "the validation result names no quality history (history_uri)"}
    import pyarrow.dataset as pads

    where = inputs.resolve(uri)
    if not where.exists():
        return {"uri": uri, "note": f"no quality history at {uri} yet"}
    dataset = pads.dataset(where.path, filesystem=where.fs, format="parquet", partitioning="hive")
    wanted = (pads.field("dag_id") == inputs.dag_id) & pads.field("metric").isin(list(HISTORY_METRICS))
    frame = dataset.to_table(filter=wanted).to_pandas()
    runs = int(frame["run_id"].nunique()) if not frame.empty else 0
    if runs:
        pictures["history"] = charts.history_lines(frame)
    return {
        "uri": uri,
        "runs": runs,
        "note": "" if runs else f"the quality history has no row count or missing rate of {inputs.dag_id} yet",
        "pictures": ["history"] if runs else [],
    }


def _validation(inputs: ReportInputs) -> dict[str, Any]:
    result = inputs.results.get("validate")
    report = inputs.validation_report
    if result and "validation" not in result and result.get("report_uri") and report is None:
        report = json.loads(inputs.resolve(result["report_uri"]).read_bytes())
    return validation_section.normalize(result, report)


def verdict(inputs: ReportInputs, validation: Mapping[str, Any]) -> str:
    if inputs.results.get("store"):
        return "published"
    if validation.get("success") is False:
        return "blocked: validation failed, nothing was published (the last good version stays)"
    failed = [s for s in STEPS if inputs.states.get(s) in ("failed", "upstream_failed")]
    return f"not published: {', '.join(failed)} did not succeed" if failed else "not published"


def _guarded(name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return build()
    except Exception as err:  # a broken section must not hide the others; it shows its error
        log.warning("quality report section %s could not be built", name, exc_info=True)
        return {"error": f"{type(err).__name__}: {err}", "note": "this section could not be built"}


def build_report(inputs: ReportInputs) -> Report:
    """The report of a run: its data (JSON-safe) and its pictures (PNG bytes by name)."""
    pictures: dict[str, bytes] = {}
    profiles = _Profiles(inputs)
    validation = _guarded("validation", lambda: _validation(inputs))
    sections = {
        "accounting": _guarded("accounting", lambda: accounting(inputs, pictures)),
        "cleaning": _guarded("cleaning", lambda: cleaning(inputs, profiles, pictures)),
        "outliers": _guarded("outliers", lambda: outliers(inputs, profiles, pictures)),
        "validation": validation,
        "drift": _guarded("drift", lambda: drift_section(inputs, profiles, pictures)),
        "tsne": _guarded("tsne", lambda: tsne(inputs, pictures)),
        "history": _guarded("history", lambda: history(inputs, validation.get("history_uri"), pictures)),
    }
    data = {
        "dag_id": inputs.dag_id,
        "run_id": inputs.run_id,
        "partition": dict(inputs.partition),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": verdict(inputs, validation),
        "states": dict(inputs.states),
        "sections": sections,
    }
    return Report(json.loads(json.dumps(data, default=_json_default)), pictures)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def write_report(inputs: ReportInputs, target: Location) -> dict[str, Any]:
    """Build the report and write ``report.json`` and ``report.html`` under ``target`` (a folder);
    return what the report task returns: where they are, the verdict and the drifted columns."""
    from dataframe_pipeline.report.html import render

    report = build_report(inputs)
    json_at, html_at = target / "report.json", target / "report.html"
    json_at.write_bytes(json.dumps(report.data, indent=1, allow_nan=True).encode())
    html_at.write_bytes(render(report.data, report.pictures).encode())
    sections = report.data["sections"]
    return {
        "report_uri": json_at.uri,
        "html_uri": html_at.uri,
        "verdict": report.data["verdict"],
        "drifted_columns": sections["drift"].get("drifted", []),
        "pictures": sorted(report.pictures),
    }
