from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from pandas.testing import assert_frame_equal

from dataframe_pipeline.clean.coercion import TypeCoercion
from dataframe_pipeline.clean.isolation_forest import IsolationForestOutliers
from dataframe_pipeline.clean.missing import GroupImputer, MissingValues
from dataframe_pipeline.clean.outliers import IQROutliers, ZScoreOutliers
from dataframe_pipeline.clean.sparse import DropSparseColumns
from dataframe_pipeline.core.artifacts import REUSABLE, describe, load_fitted, save_fitted
from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.engine import apply_chain
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.enrich.encoding import FrequencyEncoder, OneHotEncoder, OrdinalEncoder
from dataframe_pipeline.enrich.scaling import MinMaxScaler, RobustScaler, StandardScaler
from dataframe_pipeline.enrich.text import TextFeatures
from dataframe_pipeline.exceptions import ArtifactError, ConfigurationError, NotFittedError
from dataframe_pipeline.refine.balance import ClassBalancer
from dataframe_pipeline.refine.pca import PCAProjection
from dataframe_pipeline.refine.sampling import Sample
from dataframe_pipeline.refine.svd import TruncatedSVDProjection

pytestmark = pytest.mark.unit


class Evil(BatchTransformer):
    """A class the allow-list does not know."""

    def __init__(self, payload: str = "rm -rf /") -> None:
        self.payload = payload


def training() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, None, 4.0, 100.0, 3.0],
            "b": [3.0, 1.0, 2.0, 5.0, 7.0, 4.0],
            "c": pd.Series(["x", "y", "x", None, "z", "y"], dtype="str"),
            "t": pd.Series(["1", "2", "x", "3", "c", "1"], dtype="str"),
        }
    )


def new_data() -> pd.DataFrame:
    """Rows the transformers were not fitted on: unseen category, outliers, nulls."""
    return pd.DataFrame(
        {
            "a": [None, 7.0, -50.0, 2.5],
            "b": [0.0, 10.0, 2.0, None],
            "c": pd.Series(["w", "x", None, "z"], dtype="str"),
            "t": pd.Series(["2", "9", "1", ""], dtype="str"),
        },
        index=pd.RangeIndex(10, 14),
    )


def fitted_examples() -> list[BatchTransformer]:
    df = training()
    complete = df.dropna(subset=["a", "b"])
    return [
        MissingValues({"a": "mean", "b": "median", "c": "most_frequent"}).fit(df),
        IQROutliers(["b"], action="cap").fit(df),
        TypeCoercion({"t": "category", "c": {"type": "string", "case": "upper"}}, on_error="null").fit(df),
        OneHotEncoder(["c"], handle_unknown="ignore").fit(df),
        StandardScaler(["a", "b"], suffix="_z").fit(df),
        PCAProjection(["a", "b"], n_components=1).fit(complete),
        TruncatedSVDProjection(["a", "b"], n_components=1).fit(complete),
    ]


def assert_same_result(left: BatchResult, right: BatchResult) -> None:
    assert_frame_equal(left.data, right.data)
    assert_frame_equal(left.rejected, right.rejected)
    assert left.dropped == right.dropped


@pytest.mark.parametrize("index", range(7))
def test_round_trip_of_each_reusable_transformer(index: int) -> None:
    transformer = fitted_examples()[index]
    before = transformer.transform(new_data())
    buffer = io.BytesIO()
    save_fitted([transformer], buffer)
    buffer.seek(0)
    [loaded] = load_fitted(buffer)
    assert type(loaded) is type(transformer)
    assert loaded is not transformer
    assert_same_result(loaded.transform(new_data()), before)
    for name in vars(transformer):
        if name.endswith("_") and not name.startswith("_"):
            value, restored = getattr(transformer, name), getattr(loaded, name)
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(restored, value)
            else:
                assert restored == value or (pd.isna(value) and pd.isna(restored))


def test_every_reusable_class_is_covered() -> None:
    classes = {f"{type(t).__module__}.{type(t).__qualname__}" for t in [*fitted_examples(), *CASES]}
    assert classes == set(REUSABLE)


def test_round_trip_of_a_chain_through_a_path_writes_the_sidecar(tmp_path: Path) -> None:
    df = training()
    chain = [
        MissingValues({"a": "mean", "b": "median"}),
        StandardScaler(["a", "b"]),
        PCAProjection(["a", "b"], n_components=2),
    ]
    for position, transformer in enumerate(chain):
        transformer.fit(apply_chain(chain[:position], df).data)
    path = tmp_path / "fitted.skops"
    sidecar = save_fitted(chain, path)
    on_disk = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    assert on_disk == sidecar
    assert [t["class"] for t in sidecar["transformers"]] == [
        "dataframe_pipeline.clean.missing.MissingValues",
        "dataframe_pipeline.enrich.scaling.StandardScaler",
        "dataframe_pipeline.refine.pca.PCAProjection",
    ]
    assert sidecar["transformers"][0]["params"] == {"strategies": {"a": "mean", "b": "median"}, "default": None}
    assert sidecar["transformers"][0]["fitted_attributes"] == ["fill_values_", "unfillable_columns_"]
    assert sidecar["transformers"][1]["fitted_attributes"] == ["mean_", "n_samples_seen_", "scale_", "var_"]
    assert sidecar["format"] == "skops"
    assert sidecar["versions"]["skops"] == skops.__version__
    assert set(sidecar["versions"]) >= {"python", "numpy", "pandas", "scikit-learn"}
    loaded = load_fitted(path)
    assert_same_result(apply_chain(loaded, new_data()), apply_chain(chain, new_data()))


def test_file_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    skops.io.dump([Evil()], path)
    with pytest.raises(ArtifactError, match="refusing to load untrusted types") as err:
        load_fitted(path)
    assert "Evil" in str(err.value)


def test_untrusted_type_hidden_next_to_trusted_ones_is_refused() -> None:
    buffer = io.BytesIO()
    skops.io.dump([fitted_examples()[0], {"x": Evil()}], buffer)
    buffer.seek(0)
    with pytest.raises(ArtifactError, match="Evil"):
        load_fitted(buffer)


def test_caller_may_trust_an_extra_type() -> None:
    buffer = io.BytesIO()
    skops.io.dump([Evil("harmless")], buffer)
    name = f"{Evil.__module__}.{Evil.__qualname__}"
    buffer.seek(0)
    [loaded] = load_fitted(buffer, trusted=[name])
    assert loaded.payload == "harmless"


def test_pickle_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fitted.pkl"
    path.write_bytes(pickle.dumps(fitted_examples()[:1]))
    with pytest.raises(ArtifactError, match="not a skops"):
        load_fitted(path)


def test_skops_file_that_is_not_a_list_of_transformers_is_refused() -> None:
    buffer = io.BytesIO()
    skops.io.dump({"fill": np.arange(3)}, buffer)
    buffer.seek(0)
    with pytest.raises(ArtifactError, match="expected a list of reusable transformers"):
        load_fitted(buffer)


def test_positional_state_cannot_be_saved() -> None:
    df = training()
    for transformer in (Sample(0.5).fit(df), ClassBalancer("c").fit(df)):
        with pytest.raises(ConfigurationError, match="cannot be re-applied"):
            save_fitted([transformer], io.BytesIO())


def test_unfitted_transformer_cannot_be_saved() -> None:
    with pytest.raises(NotFittedError, match="StandardScaler"):
        save_fitted([StandardScaler(["a"])], io.BytesIO())


def test_stateless_reusable_transformer_and_empty_list_round_trip() -> None:
    stateless = MissingValues({"a": "drop"})
    for transformers in ([stateless], []):
        buffer = io.BytesIO()
        save_fitted(transformers, buffer)
        buffer.seek(0)
        assert len(load_fitted(buffer)) == len(transformers)
    assert describe([stateless])["transformers"][0]["fitted_attributes"] == []


def test_importing_skops_in_a_task_process_does_not_flood_the_log() -> None:
    """skops's import looks names up in every loaded module; Airflow's deprecated shims warn on each."""
    from tests.fresh_python import run_fresh_python

    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "import airflow.sdk, airflow.models, airflow.utils.timezone, airflow.utils.trigger_rule\n"
        "from dataframe_pipeline.core.artifacts import import_skops\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import_skops()\n"
        "print(len(caught))\n"
    )
    out = run_fresh_python(code)
    assert out.strip().splitlines()[-1] == "0", out[-2000:]


TRAIN = pd.DataFrame(
    {
        "g": ["a", "a", "b", "b", "c"],
        "x": [1.0, 2.0, np.nan, 4.0, 50.0],
        "txt": ["red apples", "green apples", "red wine", None, "apple pie"],
        "sparse": [None, None, None, None, 1.0],
    }
)
NEW = pd.DataFrame(
    {"g": ["b", "d", "a"], "x": [np.nan, 3.0, 7.0], "txt": ["apple wine", "pie", ""], "sparse": [None, 2.0, None]},
    index=[10, 11, 12],
)

CASES = [
    ZScoreOutliers(["x"], threshold=1.5, action="flag"),
    IsolationForestOutliers(["x"], contamination=0.3, action="cap"),  # the forest's trees go through skops
    GroupImputer(["x"], by="g", strategy="median"),
    DropSparseColumns(threshold=0.5),
    OrdinalEncoder(["g"]),
    FrequencyEncoder(["g"]),
    MinMaxScaler(["x"], suffix="_mm"),
    RobustScaler(["x"], suffix="_rb"),
    TextFeatures("txt", method="tfidf", max_features=4),
]


@pytest.mark.parametrize("transformer", CASES, ids=lambda t: type(t).__name__)
def test_round_trip(transformer) -> None:
    fitted = transformer.fit(TRAIN)
    before = fitted.transform(NEW)
    buffer = io.BytesIO()
    save_fitted([fitted], buffer)
    (loaded,) = load_fitted(io.BytesIO(buffer.getvalue()))
    after = loaded.transform(NEW)
    assert_frame_equal(after.data, before.data)
    assert len(after.rejected) == len(before.rejected)


def test_a_fitted_state_published_before_modules_were_renamed_still_loads_and_transforms_alike() -> None:
    """tests/fixtures/fitted_2026_11 was saved by the old code: its archive names clean.outliers_more,
    clean.missing_more, enrich.encoders_more and enrich.scalers_more, which no longer exist."""
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "fitted_2026_11"
    archive = (fixture / "fitted.skops").read_bytes()
    assert b"dataframe_pipeline.clean.outliers_more" in archive  # the fixture is what it claims to be
    loaded = load_fitted(io.BytesIO(archive))
    expected = json.loads((fixture / "expected.json").read_text())
    new = pd.read_parquet(fixture / "new.parquet")
    assert [type(t).__name__ for t in loaded] == [expected[str(i)]["class"] for i in range(len(loaded))]
    assert {f"{type(t).__module__}.{type(t).__qualname__}" for t in loaded} == set(REUSABLE)
    for i, transformer in enumerate(loaded):
        result = transformer.transform(new)
        assert_frame_equal(result.data, pd.read_parquet(fixture / f"expected-{i:02d}.parquet"), check_dtype=False)
        assert len(result.rejected) == expected[str(i)]["rejected"]
        assert dict(result.dropped) == {
            # rule names are the transforms' config names now (they were e.g. "iqr_outlier:b")
            k.replace("iqr_outlier:", "iqr_outliers:"): v
            for k, v in expected[str(i)]["dropped"].items()
        }


def test_an_archive_naming_an_unknown_project_class_is_still_refused(tmp_path: Path) -> None:
    """Relocation only maps classes the catalogue declares; anything else stays untrusted."""
    import zipfile

    buffer = io.BytesIO()
    save_fitted([StandardScaler(["a"]).fit(training())], buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    schema = json.loads(source.read("schema.json"))
    schema["content"][0]["__class__"] = "Evil"
    schema["content"][0]["__module__"] = "dataframe_pipeline.enrich.scalers_more"
    crafted = io.BytesIO()
    with zipfile.ZipFile(crafted, "w") as out:
        for info in source.infolist():
            out.writestr(info, json.dumps(schema) if info.filename == "schema.json" else source.read(info))
    with pytest.raises(ArtifactError, match="untrusted types"):
        load_fitted(io.BytesIO(crafted.getvalue()))
