from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from dataframe_pipeline.core.batch import BatchResult, RowAccounting, drop_rows, split_rows
from dataframe_pipeline.core.engine import run_chain
from dataframe_pipeline.core.quarantine import quarantine_table
from dataframe_pipeline.core.transform import BatchTransformer


class DropNegative(BatchTransformer):
    rule_name = "negative"

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        return drop_rows(batch, batch["x"] < 0, "negative")


class CenterByMean(BatchTransformer):
    """Stateful: must be fitted on what DropNegative lets through."""

    stateful = True

    def _reset(self) -> None:
        self._sum = 0.0
        self._n = 0

    def partial_fit(self, batch: pd.DataFrame) -> CenterByMean:
        self._sum += float(batch["x"].sum())
        self._n += len(batch)
        return self

    def finish_fit(self) -> CenterByMean:
        self.mean_ = self._sum / self._n
        return self

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        return BatchResult(data=batch.assign(x=batch["x"] - self.mean_))


class QuarantineBig(BatchTransformer):
    def transform(self, batch: pd.DataFrame) -> BatchResult:
        return split_rows(batch, batch["x"] > 50, "big", "x > 50")


def batches_of(df: pd.DataFrame, size: int):
    def gen(columns=None):  # a source may return more columns than asked for
        for start in range(0, len(df), size):
            yield df.iloc[start : start + size]

    return gen


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_chain_fits_each_stateful_step_on_the_output_of_the_previous_ones(size: int) -> None:
    df = pd.DataFrame({"x": [-5.0, 10.0, 20.0, 99.0, 30.0, -1.0]})
    out, rejected = [], []
    acct = run_chain(
        [DropNegative(), QuarantineBig(), CenterByMean()], batches_of(df, size), out.append, rejected.append
    )
    result = pd.concat(out)
    assert result["x"].tolist() == [-10.0, 0.0, 10.0]  # mean of 10, 20, 30
    assert list(result.index) == [1, 2, 4]  # input positions are kept
    assert acct == RowAccounting(6, 3, 1, {"negative": 2}, {"big": 1})
    assert acct.balanced
    quarantined = pd.concat([r for r in rejected if len(r)])
    assert quarantined.index.tolist() == [3]
    assert quarantined["_reason"].tolist() == ["x > 50"]


def test_empty_input_still_produces_a_batch_with_columns() -> None:
    df = pd.DataFrame({"x": pd.Series([], dtype="float64")})
    out: list[pd.DataFrame] = []
    acct = run_chain([DropNegative()], batches_of_empty(df), out.append, lambda r: None)
    assert acct == RowAccounting(0, 0, 0, {})
    assert list(out[0].columns) == ["x"]


def batches_of_empty(df: pd.DataFrame):
    return lambda columns=None: iter([df])


def test_row_accounting_summary_and_balance() -> None:
    acct = RowAccounting(10, 6, 1, Counter({"dup": 2, "missing:a": 1}))
    assert acct.balanced
    assert acct.summary() == "rows in=10 out=6 quarantined=1 dropped=3 (by rule: dup=2, missing:a=1)"
    assert not RowAccounting(10, 6, 1, {}).balanced


def test_quarantine_table_keeps_origin_and_values() -> None:
    rejected = pd.DataFrame(
        {
            "a": [1.5, None],
            "when": [pd.Timestamp("2026-10-01", tz="UTC"), pd.NaT],
            "_source_file": ["f.csv", "f.csv"],
            "_source_line": [7, 9],
            "_rule": ["r", "r"],
            "_reason": ["bad a", "bad b"],
        },
        index=[3, 5],
    )
    table = quarantine_table("clean", rejected).to_pylist()
    assert [r["source"] for r in table] == ["f.csv:7", "f.csv:9"]
    assert [r["input_position"] for r in table] == [3, 5]
    assert table[0]["record"] == (
        '{"_source_file": "f.csv", "_source_line": 7, "a": 1.5, "when": "2026-10-01T00:00:00+00:00"}'
    )
    assert '"a": null' in table[1]["record"] and '"when": null' in table[1]["record"]
    assert {r["step"] for r in table} == {"clean"}


def test_summary_lists_quarantine_rules() -> None:
    acct = RowAccounting(5, 3, 2, {}, {"type_coercion": 1, "iqr_outlier": 1})
    assert acct.summary().endswith("quarantined by rule: iqr_outlier=1, type_coercion=1")
    assert acct.as_dict()["quarantined_by_rule"] == {"iqr_outlier": 1, "type_coercion": 1}


class MemoryScratch:
    """A checkpoint kept in memory (the operator uses a Parquet dataset)."""

    made = 0

    def __init__(self) -> None:
        type(self).made += 1
        self.parts: list[pd.DataFrame] = []

    def write(self, batch: pd.DataFrame) -> None:
        self.parts.append(batch.copy())

    def finish(self):
        return lambda columns=None: iter(list(self.parts))


class CountingStateless(BatchTransformer):
    calls = 0

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        type(self).calls += len(batch)
        return split_rows(batch, batch["x"] > 50, "big", "x > 50")


@pytest.mark.parametrize("size", [1, 2, 100])
def test_checkpoints_give_the_same_result_and_run_stateless_work_once(size: int) -> None:
    df = pd.DataFrame({"x": [-5.0, 10.0, 20.0, 99.0, 30.0, -1.0]})

    def run(scratch):
        CountingStateless.calls = 0
        out, rejected = [], []
        chain = [DropNegative(), CountingStateless(), CenterByMean(), CenterByMean()]
        acct = run_chain(chain, batches_of(df, size), out.append, rejected.append, scratch=scratch)
        return pd.concat(out), pd.concat([r for r in rejected if len(r)]), acct, CountingStateless.calls

    plain = run(None)
    MemoryScratch.made = 0
    checked = run(MemoryScratch)
    pd.testing.assert_frame_equal(checked[0], plain[0])
    pd.testing.assert_frame_equal(checked[1], plain[1])
    assert checked[2] == plain[2] == RowAccounting(6, 3, 1, {"negative": 2}, {"big": 1})
    assert MemoryScratch.made == 1  # only the pass whose prefix holds stateless work is checkpointed
    assert plain[3] == 3 * 4  # 4 rows reach it, in 2 fit passes and the final one
    assert checked[3] == 4  # once


def test_checkpoint_without_stateful_transformers_is_a_plain_run() -> None:
    df = pd.DataFrame({"x": [1.0, 60.0]})
    MemoryScratch.made = 0
    acct = run_chain([CountingStateless()], batches_of(df, 1), lambda d: None, lambda r: None, scratch=MemoryScratch)
    assert acct == RowAccounting(2, 1, 1, {}, {"big": 1})
    assert MemoryScratch.made == 0


# -- pass planning: independent fits share a pass, fit passes read only the columns they need -----


class RecordingSource:
    """A source that records the columns asked for by each pass (and returns only those)."""

    def __init__(self, df: pd.DataFrame, size: int) -> None:
        self.df, self.size, self.passes = df, size, []

    def __call__(self, columns=None):
        self.passes.append(None if columns is None else sorted(columns))
        frame = self.df if columns is None else self.df[[c for c in self.df.columns if c in columns]]
        for start in range(0, len(frame), self.size):
            yield frame.iloc[start : start + self.size]


def chain_result(chain: list[BatchTransformer], df: pd.DataFrame) -> tuple[pd.DataFrame, RowAccounting, list]:
    source, out = RecordingSource(df, 3), []
    acct = run_chain(chain, source, out.append, lambda r: None)
    return pd.concat(out), acct, source.passes


def test_independent_fits_share_one_pass_that_reads_only_their_columns() -> None:
    from dataframe_pipeline.enrich.encoding import OneHotEncoder
    from dataframe_pipeline.enrich.scaling import StandardScaler

    df = pd.DataFrame({"c": list("abcab"), "x": [1.0, 2.0, 3.0, 4.0, 10.0], "other": ["t"] * 5})
    chain = [OneHotEncoder(["c"], drop_input=False), StandardScaler(["x"], suffix="_s")]
    out, acct, passes = chain_result(chain, df)
    assert passes == [["c", "x"], None]  # one fit pass for both, then the full pass
    alone = StandardScaler(["x"], suffix="_s").fit(df)
    assert out["x_s"].tolist() == alone.transform(df).data["x_s"].tolist()
    assert out.filter(like="c_").columns.tolist() == ["c_a", "c_b", "c_c"]
    assert acct == RowAccounting(5, 5, 0, {}, {})


def test_a_fit_that_reads_what_an_earlier_one_writes_gets_its_own_pass() -> None:
    from dataframe_pipeline.clean.missing import MissingValues
    from dataframe_pipeline.clean.outliers import IQROutliers

    df = pd.DataFrame({"x": [1.0, None, 2.0, 3.0, None, 2.5, 100.0], "y": ["s"] * 7})
    chain = [MissingValues({"x": "mean"}), IQROutliers(["x"], action="drop")]
    out, acct, passes = chain_result(chain, df)
    assert passes == [["x"], ["x"], None]
    filled = df.assign(x=df["x"].fillna(df["x"].mean()))
    expected = IQROutliers(["x"], action="drop").fit(filled).transform(filled).data
    assert out["x"].tolist() == expected["x"].tolist()  # the fences were fitted on the imputed values
    assert acct.rows_dropped == 1


def test_a_fit_after_a_row_removing_one_is_not_grouped_with_it() -> None:
    from dataframe_pipeline.clean.outliers import IQROutliers
    from dataframe_pipeline.enrich.scaling import StandardScaler

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0, 500.0], "z": [1.0, 2.0, 3.0, 4.0, 1000.0]})
    chain = [IQROutliers(["x"], action="drop"), StandardScaler(["z"])]
    out, _, passes = chain_result(chain, df)
    assert passes == [["x"], ["x", "z"], None]
    kept = df[df["x"] < 100]
    assert out["z"].tolist() == StandardScaler(["z"]).fit(kept).transform(kept).data["z"].tolist()


def test_a_transformer_that_reads_any_column_makes_the_pass_read_all() -> None:
    df = pd.DataFrame({"x": [1.0, -2.0, 3.0], "w": [0, 0, 0]})
    _, _, passes = chain_result([CenterByMean()], df)  # declares nothing: reads anything
    assert passes == [None, None]


def _declaration_cases() -> list:
    from dataframe_pipeline.clean.coercion import TypeCoercion
    from dataframe_pipeline.clean.duplicates import ExactDuplicates
    from dataframe_pipeline.clean.missing import MissingValues
    from dataframe_pipeline.clean.outliers import IQROutliers
    from dataframe_pipeline.enrich.encoding import OneHotEncoder
    from dataframe_pipeline.enrich.scaling import StandardScaler
    from dataframe_pipeline.refine.normalize import RowNormalizer
    from dataframe_pipeline.refine.pca import PCAProjection
    from dataframe_pipeline.refine.sampling import Sample, StratifiedSplit

    return [
        RowNormalizer(["a", "b"], suffix="_n"),
        StratifiedSplit({"train": 0.6, "test": 0.4}, stratify_by="c", random_state=1),
        StratifiedSplit({"train": 0.5, "test": 0.5}),
        Sample(0.5, stratify_by="c"),
        ExactDuplicates(subset=["a"]),
        TypeCoercion({"s": "float"}),
        TypeCoercion({"s": "float"}, on_error="null"),
        MissingValues({"a": "mean"}),
        MissingValues({"a": "drop"}),
        IQROutliers(["a"], action="flag"),
        IQROutliers(["a"], action="cap"),
        IQROutliers(["a"], action="quarantine"),
        OneHotEncoder(["c"]),
        OneHotEncoder(["c"], drop_input=False, handle_unknown="quarantine"),
        StandardScaler(["a", "b"], suffix="_z"),
        PCAProjection(["a", "b"], n_components=1),
    ]


@pytest.mark.parametrize("transformer", _declaration_cases(), ids=repr)
def test_declarations_match_what_the_transformer_does(transformer: BatchTransformer) -> None:
    """What columns_read/writes_column/may_remove_rows promise holds on a frame with extra columns."""
    df = pd.DataFrame(
        {
            "a": [1.0, None, 2.0, 2.0, 3.0, 90.0, 2.5],
            "b": [3.0, 1.0, 2.0, 2.0, 5.0, 4.0, 1.0],
            "c": list("xyxxzyx"),
            "s": ["1", "2", "x", "2", "3", "4", "5"],
            "extra": list("ppppppp"),
        }
    )
    reads = transformer.columns_read()
    assert reads is not None
    full = transformer.fit(df).transform(df)
    narrow = df[reads]
    projected = transformer.fit(narrow).transform(narrow)
    assert projected.data.index.tolist() == full.data.index.tolist()  # the same rows kept from fewer columns
    changed = [
        c for c in full.data.columns if c not in df.columns or not full.data[c].equals(df.loc[full.data.index, c])
    ]
    removed = [c for c in df.columns if c not in full.data.columns]
    assert all(transformer.writes_column(c) for c in changed + removed), (changed, removed)
    assert not transformer.writes_column("extra")
    if not transformer.may_remove_rows():
        assert len(full.data) == len(df)


def test_intermediate_codec_comes_from_the_environment_and_a_bad_one_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataframe_pipeline.core.settings import compression
    from dataframe_pipeline.exceptions import ConfigurationError

    monkeypatch.delenv("DATAFRAME_PIPELINE_COMPRESSION", raising=False)
    assert compression() == "lz4"
    monkeypatch.setenv("DATAFRAME_PIPELINE_COMPRESSION", " ZSTD ")
    assert compression() == "zstd"
    monkeypatch.setenv("DATAFRAME_PIPELINE_COMPRESSION", "lzma")
    with pytest.raises(ConfigurationError, match=r"DATAFRAME_PIPELINE_COMPRESSION='lzma'.*must be one of"):
        compression()
