"""FileIngestOperator.execute() on real files: formats, whole-file quarantine, confinement, incremental."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pytest
from airflow.sdk.exceptions import AirflowFailException

from dataframe_pipeline.core.dataset import DatasetReader
from dataframe_pipeline.ingest.operators import FileIngestOperator


def context(day: int = 1) -> dict:
    return {
        "dag_run": SimpleNamespace(logical_date=datetime(2026, 10, day, tzinfo=UTC), run_id=f"r{day}"),
        "ti": SimpleNamespace(try_number=1),
        "run_id": f"r{day}",
    }


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    monkeypatch.setenv("DATAFRAME_PIPELINE_LANDING_ROOT", str(root))
    return root


def run(tmp_path: Path, source: str, day: int = 1, **kwargs) -> dict:
    op = FileIngestOperator(task_id="ingest", source=source, storage_root=(tmp_path / "lake").as_uri(), **kwargs)
    return op.execute(context(day))


def read(result: dict, key: str = "dataset"):
    return DatasetReader(fsspec.filesystem("file"), result[key]["uri"].removeprefix("file://")).read_pandas()


def test_json_lines_gzip_and_a_broken_xml_file_quarantined_whole(tmp_path: Path, landing: Path) -> None:
    with gzip.open(landing / "a.jsonl.gz", "wt") as fh:
        fh.write('{"id": 1, "name": {"first": "Ann"}}\n{"id": 2\n{"id": 3, "name": {"first": "Bo"}}\n')
    (landing / "b.xml").write_text("<rows><row><id>4</id></row><row><id>5</id></row><row><id>")
    (landing / "c.jsonl").write_text('{"id": 6, "name": {"first": "Cy"}}\n')
    jsonl = run(tmp_path, "*.jsonl*", file_format={"flatten_sep": "_"})
    assert read(jsonl)[["id", "name_first"]].values.tolist() == [[1, "Ann"], [3, "Bo"], [6, "Cy"]]
    assert jsonl["accounting"]["rows_quarantined"] == 1
    assert read(jsonl, "quarantine")["source"].tolist()[0].endswith("a.jsonl.gz:2")

    xml = run(tmp_path, "b.xml", day=2)
    assert xml["dataset"]["rows"] == 0  # rows 4 and 5 were read, then the file turned out broken
    assert xml["files_quarantined"][0]["file"].endswith("b.xml")
    quarantine = read(xml, "quarantine")
    assert quarantine["rule"].tolist() == ["malformed_file"]
    assert quarantine["source"].tolist()[0].endswith("b.xml")


def test_paths_outside_the_landing_root_are_refused(tmp_path: Path, landing: Path) -> None:
    (tmp_path / "secret.csv").write_text("a\n1\n")
    for source in ("../secret.csv", str(tmp_path / "secret.csv")):
        with pytest.raises(AirflowFailException, match=r"outside the landing root|'\.\.' is not allowed"):
            run(tmp_path, source)


def test_incremental_takes_new_files_and_a_rerun_rereads_its_own(tmp_path: Path, landing: Path) -> None:
    (landing / "d1.csv").write_text("id\n1\n2\n")
    first = run(tmp_path, "*.csv", day=1, incremental=True)
    assert read(first)["id"].tolist() == ["1", "2"]
    (landing / "d2.csv").write_text("id\n3\n")
    second = run(tmp_path, "*.csv", day=2, incremental=True)
    assert read(second)["id"].tolist() == ["3"]
    assert second["files_skipped"] == 1
    again = run(tmp_path, "*.csv", day=1, incremental=True)  # re-run of day 1
    assert read(again)["id"].tolist() == ["1", "2"]
    manifest = json.loads(next((tmp_path / "lake").glob("*/_state/files-ingest.json")).read_text())
    assert sorted(e["partition"] for e in manifest["files"].values()) == [
        "date=2026-10-01",
        "date=2026-10-02",
    ]


def test_parquet_and_zip(tmp_path: Path, landing: Path) -> None:
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2, 3]}), landing / "p.parquet", row_group_size=2)
    with zipfile.ZipFile(landing / "z.zip", "w") as archive:
        archive.writestr("inner.csv", "x\n7\n")
    assert read(run(tmp_path, "p.parquet"))["x"].tolist() == [1, 2, 3]
    zipped = run(tmp_path, "z.zip", day=2)
    assert read(zipped)["_source_file"].tolist()[0].endswith("z.zip!inner.csv")


def test_bad_file_format_is_a_configuration_error(tmp_path: Path, landing: Path) -> None:
    (landing / "a.csv").write_text("a\n1\n")
    with pytest.raises(AirflowFailException, match="file_format"):
        run(tmp_path, "a.csv", file_format={"delimeter": ";"})


def test_nothing_new_skips_or_succeeds_empty(tmp_path: Path, landing: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    (landing / "d1.csv").write_text("id\n1\n")
    run(tmp_path, "*.csv", day=1, incremental=True)
    with pytest.raises(AirflowSkipException, match="no new file"):
        run(tmp_path, "*.csv", day=2, incremental=True)
    empty = run(tmp_path, "*.csv", day=3, incremental=True, on_nothing_new="succeed")
    assert empty["dataset"]["rows"] == 0


def test_shaping_at_ingestion(tmp_path: Path, landing: Path) -> None:
    (landing / "s.csv").write_text("cc,amt,junk\nDE,10,x\nUS,5,y\nDE,oops,z\nFR,-2,w\n")
    result = run(
        tmp_path, "s.csv",
        shaping={
            "rename": {"cc": "country", "amt": "amount"}, "dtypes": {"amount": "int64"},
            "filters": [["country", "in", ["DE", "FR"]], ["amount", ">=", 0]], "columns": ["country", "amount"],
        },
    )  # fmt: skip
    assert read(result)[["country", "amount"]].values.tolist() == [["DE", 10]]
    acct = result["accounting"]
    assert (acct["rows_in"], acct["rows_out"], acct["rows_quarantined"], acct["rows_dropped"]) == (4, 1, 1, 2)
    assert "amount: cannot convert 'oops' to int64" in read(result, "quarantine")["reason"].tolist()[0]
    with pytest.raises(AirflowFailException, match="shaping"):
        run(tmp_path, "s.csv", day=2, shaping={"filter": []})
