"""OpenLineage of the steps (dataframe_pipeline.lineage): names, schemas, statistics, column lineage,
data quality, the run facet; on results of real operator runs and on both shapes of a validation."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from openlineage.client.serde import Serde

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.lineage import (
    DatasetId,
    dataset_id,
    failed_lineage,
    quality_of,
    query_dataset_ids,
    step_lineage,
    table_uri,
)
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.validate.operators import ValidateOperator

HOST = f"file://{socket.gethostname()}"
SUITE = (
    '{"name": "t", "expectations": ['
    '{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "severity": "critical"},'
    '{"type": "expect_column_to_exist", "kwargs": {"column": "amt"}}]}'
)


def context(try_number: int = 1) -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": "scheduled__x",
    }


def as_json(lineage) -> dict:
    """The datasets and run facets of an OperatorLineage as the transport writes them."""
    return {
        "inputs": {d.name: Serde.to_dict(d) for d in lineage.inputs},
        "outputs": {d.name: Serde.to_dict(d) for d in lineage.outputs},
        "run": {k: Serde.to_dict(v) for k, v in lineage.run_facets.items()},
    }


def fields(dataset: dict) -> list[tuple[str, str]]:
    return [(f["name"], f["type"]) for f in dataset["facets"]["schema"]["fields"]]


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("/data/in.csv", HOST, "/data/in.csv"),
        ("file:///data/lake/x/output", HOST, "/data/lake/x/output"),
        ("file://otherhost/data/x", "file://otherhost", "/data/x"),
        ("s3://aws_lake@bucket/lake/x/output", "s3://bucket", "lake/x/output"),
        ("s3://bucket/key.csv", "s3://bucket", "key.csv"),
        ("gcs://gcp@bkt/a/b", "gs://bkt", "a/b"),
        ("abfs://azure@container/a", "abfs://container", "a"),
        ("abfss://c@acct.dfs.core.windows.net/p", "abfss://c@acct.dfs.core.windows.net", "p"),
        ("https://api.example.com/v1/airports?page=2&api_key=s", "https://api.example.com", "/v1/airports"),
        ("postgresql+psycopg2://u:***@db:5433/test/public.flights", "postgres://db:5433", "test.public.flights"),
        ("postgresql://u@db/test/flights", "postgres://db:5432", "test.public.flights"),
        ("mysql+pymysql://root@127.0.0.1:3306/test/flights", "mysql://127.0.0.1:3306", "test.flights"),
        ("mysql+pymysql://root@h/test/other.flights", "mysql://h:3306", "other.flights"),
        ("sqlite:////srv/demo.db/flights", "sqlite:///srv/demo.db", "flights"),
    ],
)
def test_dataset_names_follow_the_openlineage_naming_conventions(uri: str, namespace: str, name: str) -> None:
    assert dataset_id(uri) == DatasetId(namespace, name)


def test_a_partition_is_part_of_its_table_and_a_query_names_its_tables() -> None:
    assert table_uri("file:///c/orders/date=2026-10-09/split=train") == "file:///c/orders"
    assert table_uri("s3://b/c/orders/date=2026-10-09/") == "s3://b/c/orders"
    found = query_dataset_ids("postgresql://u@db:5432/test/query", "SELECT * FROM flights f JOIN x.airports a ON 1=1")
    assert sorted(found, key=lambda d: d.name) == [
        DatasetId("postgres://db:5432", "test.public.flights"),
        DatasetId("postgres://db:5432", "test.x.airports"),
    ]


def test_quality_of_a_validation_result() -> None:
    result = {
        "dataset": {"rows": 200},
        "validation": {
            "success": False,
            "expectations": [
                {"type": "expect_column_values_to_be_unique", "column": "id", "success": False, "unexpected_count": 2},
                {
                    "type": "expect_column_values_to_not_be_null",
                    "column": "email",
                    "success": False,
                    "unexpected_count": 3,
                    "severity": "warning",
                },
                {"type": "expect_table_row_count_to_be_between", "column": None, "success": True},
            ],
            "metrics": {"row_count": 200, "missing_rate": {"amount": 0.025, "email": 0.015, "id": 0.0}},
        },
    }
    quality = quality_of(result)
    assert [(c.assertion, c.column, c.success, c.unexpected_count) for c in quality.checks] == [
        ("expect_column_values_to_be_unique", "id", False, 2),
        ("expect_column_values_to_not_be_null", "email", False, 3),
        ("expect_table_row_count_to_be_between", None, True, None),
    ]
    assert quality.checks[1].severity == "warning"
    assert quality.rows == 200
    assert quality.nulls == {"amount": 5, "email": 3, "id": 0}


def test_quality_of_a_stored_report_and_its_suite() -> None:
    suite = {
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
            {"type": "expect_column_to_exist", "kwargs": {"column": "amt"}, "severity": "critical"},
        ]
    }
    report = {"rows": 10, "success": False, "failures": [
        {"expectation_type": "expect_column_values_to_not_be_null", "column": "email", "unexpected_count": 4},
    ]}  # fmt: skip
    quality = quality_of({"success": False, "report_uri": "file:///r.json"}, report=report, suite=suite)
    assert [(c.assertion, c.column, c.success) for c in quality.checks] == [
        ("expect_column_values_to_not_be_null", "id", True),
        ("expect_column_values_to_not_be_null", "email", False),
        ("expect_column_to_exist", "amt", True),
    ]
    assert quality.checks[2].severity == "critical"
    assert quality.rows == 10
    assert quality.nulls == {"id": 0, "email": 4}
    assert quality_of({"step": "clean"}) is None


def test_refine_splits_and_a_new_validation_shape_become_facets() -> None:
    cols = {"x": "double", "split": "string"}

    def ref(uri: str, rows: int) -> dict:
        return {"uri": uri, "rows": rows, "columns": cols, "fingerprint": "f", "meta": {}}

    refined = {
        "step": "refine", "partition": {"path": "date=2026-10-09"}, "accounting": {"rows_in": 3, "rows_out": 3},
        "dataset": {**ref("s3://c@b/r/output", 3), "meta": {"transforms": [{"standard_scale": {"columns": ["x"]}}]}},
        "quarantine": ref("s3://c@b/r/quarantine", 0), "fitted_uri": "s3://c@b/r/fitted.skops",
        "splits": {"train": ref("s3://c@b/r/split=train", 2), "test": ref("s3://c@b/r/split=test", 1)},
    }  # fmt: skip
    lineage = step_lineage(refined, read=ref("s3://c@b/e/output", 3))
    out = {d.name: Serde.to_dict(d) for d in lineage.outputs}
    assert list(out) == ["r/output", "r/split=train", "r/split=test", "r/quarantine"]
    assert {d.namespace for d in lineage.outputs} == {"s3://b"}
    assert out["r/split=train"]["outputFacets"]["outputStatistics"]["rowCount"] == 2
    column_lineage = out["r/output"]["facets"]["columnLineage"]["fields"]
    assert column_lineage["x"]["inputFields"][0]["transformations"][0]["subtype"] == "TRANSFORMATION"
    assert column_lineage["split"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    run = Serde.to_dict(lineage.run_facets["dataframePipeline"])
    assert run["fittedUri"] == "s3://c@b/r/fitted.skops"
    assert run["accounting"] == {"rows_in": 3, "rows_out": 3}

    validated = {**refined, "step": "validate", "validation": {"success": True, "expectations": [
        {"type": "expect_column_values_to_not_be_null", "column": "x", "success": True, "unexpected_count": 0}],
        "metrics": {"row_count": 3, "missing_rate": {"x": 0.0, "split": 0.0}}}}  # fmt: skip
    (read,) = step_lineage(validated, read=ref("s3://c@b/r/output", 3)).inputs
    facets = Serde.to_dict(read)["inputFacets"]
    assert facets["dataQualityAssertions"]["assertions"][0]["assertion"] == "expect_column_values_to_not_be_null"
    assert facets["dataQualityMetrics"]["rowCount"] == 3
    assert facets["dataQualityMetrics"]["columnMetrics"]["split"]["nullCount"] == 0


@pytest.fixture
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """ingest -> clean -> validate -> store run for real (execute), each operator kept."""
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    (tmp_path / "orders.csv").write_text("id,amount\n1,10\n2,x,y\n3,4.5\n")
    (tmp_path / "suite.json").write_text(SUITE)
    lake = (tmp_path / "lake").as_uri()
    ops: dict = {"ingest": FileIngestOperator(
        task_id="ingest", source=str(tmp_path / "orders.csv"), storage_root=lake, shaping={"rename": {"amount": "amt"}}
    )}  # fmt: skip
    ops["clean"] = CleanOperator(
        task_id="clean", input_dataset=ops["ingest"].execute(context()), storage_root=lake,
        transforms=[{"coerce_types": {"types": {"amt": "float"}}}],
    )  # fmt: skip
    ops["validate"] = ValidateOperator(
        task_id="validate", input_dataset=ops["clean"].execute(context()), suite=str(tmp_path / "suite.json"),
        storage_root=lake,
    )  # fmt: skip
    ops["store"] = DeltaStoreOperator(
        task_id="store", input_dataset=ops["validate"].execute(context()), dataset_name="orders",
        curated_root=(tmp_path / "curated").as_uri(), storage_root=lake,
    )  # fmt: skip
    ops["store"].execute(context())
    return ops


def test_every_step_reports_its_inputs_and_outputs_with_schemas(tmp_path: Path, steps: dict) -> None:
    lake = f"{tmp_path}/lake/adhoc_airflow/date=2026-10-09"
    ingest = as_json(steps["ingest"].get_openlineage_facets_on_complete(None))
    assert list(ingest["inputs"]) == [str(tmp_path / "orders.csv")]
    assert list(ingest["outputs"]) == [f"{lake}/ingest/output", f"{lake}/ingest/quarantine"]
    output = ingest["outputs"][f"{lake}/ingest/output"]
    assert output["namespace"] == HOST
    assert [name for name, _ in fields(output)] == ["id", "amt", "_source_file", "_source_line"]
    stats = output["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == 2
    assert stats["size"] > 0  # the bytes of the Parquet files
    amt = output["facets"]["columnLineage"]["fields"]["amt"]["inputFields"]
    assert [(f["name"], f["field"]) for f in amt] == [(str(tmp_path / "orders.csv"), "amount")]  # before renaming
    assert ingest["outputs"][f"{lake}/ingest/quarantine"]["outputFacets"]["outputStatistics"]["rowCount"] == 1
    run = ingest["run"]["dataframePipeline"]
    assert run["step"] == "ingest"
    assert run["partition"]["path"] == "date=2026-10-09"
    assert (run["accounting"]["rows_in"], run["accounting"]["rows_quarantined"]) == (3, 1)

    clean = as_json(steps["clean"].get_openlineage_facets_on_complete(None))
    assert list(clean["inputs"]) == [f"{lake}/ingest/output"]
    assert fields(clean["inputs"][f"{lake}/ingest/output"]) == fields(output)
    cleaned = clean["outputs"][f"{lake}/clean/output"]
    assert ("amt", "double") in fields(cleaned)
    subtypes = {c: f["inputFields"][0]["transformations"][0]["subtype"]
                for c, f in cleaned["facets"]["columnLineage"]["fields"].items()}  # fmt: skip
    assert subtypes["amt"] == "TRANSFORMATION"
    assert subtypes["id"] == "IDENTITY"

    validate = as_json(steps["validate"].get_openlineage_facets_on_complete(None))
    assert list(validate["outputs"]) == [f"{lake}/validate/quarantine"]  # validate writes no data
    facets = validate["inputs"][f"{lake}/clean/output"]["inputFacets"]
    assert [(a["assertion"], a["column"], a["success"]) for a in facets["dataQualityAssertions"]["assertions"]] == [
        ("expect_column_values_to_not_be_null", "id", True),
        ("expect_column_to_exist", "amt", True),
    ]
    assert facets["dataQualityMetrics"]["rowCount"] == 2
    assert facets["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 0

    store = as_json(steps["store"].get_openlineage_facets_on_complete(None))
    assert list(store["inputs"]) == [f"{lake}/clean/output"]
    table = store["outputs"][f"{tmp_path}/curated/orders"]  # the table, not its partition
    assert ("amt", "double") in fields(table)
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert table["outputFacets"]["outputStatistics"]["size"] > 0


def test_a_failed_validation_reports_the_failed_expectations(tmp_path: Path, steps: dict) -> None:
    (tmp_path / "bad.csv").write_text("id,amt\n,1\n2,3\n")
    bad = FileIngestOperator(task_id="ingest", source=str(tmp_path / "bad.csv"), storage_root=(tmp_path / "l").as_uri())
    op = ValidateOperator(
        task_id="validate", input_dataset=bad.execute(context()), suite=str(tmp_path / "suite.json"),
        storage_root=(tmp_path / "l").as_uri(),
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match="ValidationFailedError"):
        op.execute(context())
    lineage = as_json(op.get_openlineage_facets_on_failure(None))
    (read,) = lineage["inputs"].values()
    assert read["name"].endswith("/ingest/output")
    assertions = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert [(a["column"], a["success"]) for a in assertions] == [("id", False), ("amt", True)]
    assert assertions[0]["severity"] == "error"  # results name GX's critical severity "error": it blocks publishing
    assert read["inputFacets"]["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 1


def test_a_failed_validation_reported_in_the_new_shape() -> None:
    read = {"uri": "file:///lake/d/refine/output", "rows": 5, "columns": {"id": "int64"}, "fingerprint": "f"}
    unique = {"type": "expect_column_values_to_be_unique", "column": "id", "success": False, "unexpected_count": 2}
    report = {"success": False, "metrics": {"row_count": 5, "missing_rate": {"id": 0.2}}, "expectations": [unique]}
    (dataset,) = failed_lineage(read, report=report).inputs
    facets = Serde.to_dict(dataset)["inputFacets"]
    assert facets["dataQualityAssertions"]["assertions"] == [
        {
            "assertion": "expect_column_values_to_be_unique",
            "success": False,
            "column": "id",
            "actual": "2 unexpected",
            "params": {},
        }
    ]
    assert facets["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 1
    assert failed_lineage(None).inputs == []
