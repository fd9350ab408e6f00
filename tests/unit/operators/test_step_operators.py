"""The step operators' execute(), called directly with a minimal context (no scheduler, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.clean.operators import CleanOperator
from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.enrich.operators import EnrichOperator
from dataframe_pipeline.exceptions import ConfigurationError, SourceNotFoundError
from dataframe_pipeline.ingest.operators import FileIngestOperator
from dataframe_pipeline.store.operators import DeltaStoreOperator
from dataframe_pipeline.store.tables import read_table
from dataframe_pipeline.validate.operators import ValidateOperator

PROJECT = Path(__file__).resolve().parents[3]


def context(try_number: int = 1) -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, 9, tzinfo=UTC), run_id="scheduled__x"),
        "ti": SimpleNamespace(try_number=try_number),
        "run_id": "scheduled__x",
    }


def read(result: dict, key: str = "dataset"):
    return DatasetReader(fsspec.filesystem("file"), result[key]["uri"].removeprefix("file://")).read_pandas()


@pytest.fixture(autouse=True)
def landing_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text("id,amount,when\n1,10.5,2026-10-09\n2,abc,2026-10-09\n1,10.5,2026-10-09\n3,7,x,y\n4,,2026-10-09\n")
    return path


def ingest(tmp_path: Path, source: str, **kwargs) -> dict:
    op = FileIngestOperator(task_id="ingest", source=source, storage_root=(tmp_path / "lake").as_uri(), **kwargs)
    return op.execute(context())


def test_ingest_then_clean_reconciles_and_keeps_origin(tmp_path: Path, csv_file: Path) -> None:
    ing = ingest(tmp_path, str(csv_file))
    assert ing["accounting"] == {
        "rows_in": 5, "rows_out": 4, "rows_quarantined": 1, "rows_dropped": 0,
        "dropped_by_rule": {}, "quarantined_by_rule": {"csv_malformed_row": 1}, "balanced": True,
    }  # fmt: skip
    assert "/orders" not in ing["dataset"]["uri"]
    assert "/date=2026-10-09/ingest/output" in ing["dataset"]["uri"]
    assert read(ing, "quarantine")["source"].tolist() == [f"{csv_file.as_uri()}:5"]

    clean = CleanOperator(
        task_id="clean",
        input_dataset=ing,
        storage_root=(tmp_path / "lake").as_uri(),
        transforms=[
            {"exact_duplicates": {}},
            {"coerce_types": {"types": {"id": "int", "amount": "float", "when": "datetime"}}},
            {"missing_values": {"strategies": {"amount": "mean"}}},
        ],
    ).execute(context())
    acct = clean["accounting"]
    assert (acct["rows_in"], acct["rows_out"], acct["rows_quarantined"]) == (4, 2, 1)
    assert acct["dropped_by_rule"] == {"exact_duplicates": 1}
    out = read(clean)
    assert out["amount"].tolist() == [10.5, 10.5]  # the missing amount got the mean of the valid ones
    q = read(clean, "quarantine")
    assert q["source"].tolist() == [f"{csv_file.as_uri()}:3"]
    assert "cannot parse 'abc'" in q["reason"][0]


def test_retry_of_the_same_partition_replaces_the_output(tmp_path: Path, csv_file: Path) -> None:
    first = ingest(tmp_path, str(csv_file))
    op = FileIngestOperator(task_id="ingest", source=str(csv_file), storage_root=(tmp_path / "lake").as_uri())
    second = op.execute(context(try_number=2))
    assert second["dataset"]["uri"] == first["dataset"]["uri"]
    assert second["dataset"]["fingerprint"] == first["dataset"]["fingerprint"]
    attempts = [p.name for p in Path(second["dataset"]["uri"].removeprefix("file://")).iterdir()]
    assert len([a for a in attempts if a.startswith("attempt=try2-")]) == 1
    assert not [a for a in attempts if a.startswith("attempt=try1-")]


@pytest.mark.parametrize(
    ("transforms", "message"),
    [
        ([{"iqr_outlyers": {}}], "transforms[0]='iqr_outlyers': unknown clean transform"),
        ([{"exact_duplicates": {}, "coerce_types": {}}], "transforms[0]="),
        ([], "transforms=[]: must be a non-empty list"),
        ([{"missing_values": {"strategies": {"nope": "mean"}}}], "nope"),
        ([{"missing_values": {"strategy": {}}}], "unexpected keyword argument 'strategy'"),
    ],
)
def test_bad_configuration_fails_without_retry_and_names_the_field(
    tmp_path: Path, csv_file: Path, transforms: list, message: str
) -> None:
    ing = ingest(tmp_path, str(csv_file))
    op = CleanOperator(task_id="clean", input_dataset=ing, storage_root=tmp_path.as_uri(), transforms=transforms)
    with pytest.raises(AirflowFailException, match="ConfigurationError") as err:
        op.execute(context())
    assert message in str(err.value)
    assert not (tmp_path / "dag").exists()


def test_missing_source_is_retryable(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no file"):
        ingest(tmp_path, str(tmp_path / "nope.csv"))


def test_empty_file_is_quarantined_whole(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = ingest(tmp_path, str(empty), file_format={"columns": ["a", "b"]})
    assert result["dataset"]["rows"] == 0
    assert list(result["dataset"]["columns"]) == ["a", "b", "_source_file", "_source_line"]
    assert result["files_quarantined"][0]["file"].endswith("empty.csv")
    assert read(result, "quarantine")["rule"].tolist() == ["empty_file"]


def test_enrich_rejects_a_column_that_does_not_exist_before_reading(tmp_path: Path, csv_file: Path) -> None:
    ing = ingest(tmp_path, str(csv_file))
    op = EnrichOperator(
        task_id="enrich", input_dataset=ing, storage_root=tmp_path.as_uri(),
        transforms=[{"standard_scale": {"columns": ["amout"]}}],
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match="amout"):
        op.execute(context())


def test_validate_failure_blocks_and_store_replaces_its_partition(tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    suite.write_text(
        '{"name": "t", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}'
    )
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("id,split\n1,train\n2,test\n")
    bad.write_text("id,split\n,train\n")
    lake, curated = (tmp_path / "lake").as_uri(), (tmp_path / "curated").as_uri()

    validated = ValidateOperator(
        task_id="validate", input_dataset=ingest(tmp_path, str(good)), suite=str(suite), storage_root=lake
    ).execute(context())
    assert validated["success"] is True
    store = DeltaStoreOperator(
        task_id="store", input_dataset=validated, dataset_name="t",
        subpartition_by="split", curated_root=curated, storage_root=lake,
    )  # fmt: skip
    stored = store.execute(context())
    assert stored["curated_uri"] == f"{curated}/t/date=2026-10-09"
    assert sorted(f.split("/")[1] for f in stored["files"]) == ["split=test", "split=train"]
    assert (stored["version"], stored["table_uri"], stored["rows"]) == (0, f"{curated}/t", 2)
    again = store.execute(context(2))
    assert again["fingerprint"] == stored["fingerprint"]  # re-run replaces: same input, same partition
    assert again["version"] == 1
    assert read_table(f"{curated}/t").num_rows == 2

    with pytest.raises(AirflowFailException, match="ValidationFailedError: suite t FAILED"):
        ValidateOperator(
            task_id="validate", input_dataset=ingest(tmp_path, str(bad)), suite=str(suite), storage_root=lake
        ).execute(context(3))
    (report,) = (tmp_path / "lake").glob("*/date=2026-10-09/validate/report.json")
    assert '"success": false' in report.read_text()


def test_suite_path_is_checked_first(tmp_path: Path) -> None:
    op = ValidateOperator(task_id="validate", input_dataset="file:///x", suite="include/expectations/none.json")
    with pytest.raises(ConfigurationError, match=r"suite='include/expectations/none\.json'"):
        op.validate_config()


def test_fitted_state_is_saved_and_reapplied_to_new_data(tmp_path: Path) -> None:
    lake = (tmp_path / "lake").as_uri()
    (tmp_path / "train.csv").write_text("id,amount\n1,10\n2,20\n3,\n1,10\n")
    (tmp_path / "serve.csv").write_text("id,amount\n7,1000\n8,\n")
    chain = [
        {"exact_duplicates": {}},
        {"coerce_types": {"types": {"id": "int", "amount": "float"}}},
        {"missing_values": {"strategies": {"amount": "mean"}}},
    ]

    def clean(csv: str, try_number: int, **kwargs) -> dict:
        ingested = FileIngestOperator(task_id="ingest", source=str(tmp_path / csv), storage_root=lake).execute(
            context(try_number)
        )
        return CleanOperator(
            task_id="clean", input_dataset=ingested, storage_root=lake, transforms=chain, **kwargs
        ).execute(context(try_number))

    trained = clean("train.csv", 1, publish_fitted_as="orders_v1")
    assert trained["fitted_uri"].endswith("/clean/fitted.skops")
    assert read(trained)["amount"].tolist() == [10.0, 20.0, 15.0]
    served = clean("serve.csv", 2, fitted_from="orders_v1")
    # the training mean (15), not the new data's mean (1000)
    assert read(served)["amount"].tolist() == [1000.0, 15.0]
    refit = clean("serve.csv", 3)
    assert read(refit)["amount"].tolist() == [1000.0, 1000.0]

    chain[2] = {"missing_values": {"strategies": {"amount": "median"}}}
    with pytest.raises(AirflowFailException, match="was fitted with"):
        clean("serve.csv", 4, fitted_from="orders_v1")
    with pytest.raises(AirflowFailException, match="no fitted state"):
        clean("serve.csv", 5, fitted_from="orders_v9")


def test_intermediate_datasets_use_the_configured_codec(tmp_path: Path, csv_file: Path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    for codec, parquet_name in (("zstd", "ZSTD"), ("lz4", "LZ4")):
        monkeypatch.setenv("DATAFRAME_PIPELINE_COMPRESSION", codec)
        result = ingest(tmp_path, str(csv_file))
        folder = Path(result["dataset"]["uri"].removeprefix("file://"))
        (part,) = folder.glob("attempt=*/part-*.parquet")
        assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == parquet_name
    monkeypatch.setenv("DATAFRAME_PIPELINE_COMPRESSION", "lzma")
    with pytest.raises(AirflowFailException, match="DATAFRAME_PIPELINE_COMPRESSION='lzma'"):
        ingest(tmp_path, str(csv_file))
