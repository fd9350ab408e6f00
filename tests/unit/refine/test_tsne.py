from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from pandas.testing import assert_frame_equal
from sklearn.manifold import TSNE

from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.refine.sampling import row_keys
from dataframe_pipeline.refine.tsne import DEFAULT_MAX_ITER, sample_complete_rows, tsne_picture

pytestmark = pytest.mark.unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def blobs(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
    points = centres[group] + rng.normal(scale=0.5, size=(n, 3))
    return pd.DataFrame(
        {
            "a": points[:, 0],
            "b": points[:, 1],
            "c": points[:, 2],
            "group": pd.Series([f"g{g}" for g in group], dtype="str"),
            "score": rng.random(n),
        }
    )


def test_writes_a_png_and_returns_the_embedding_of_the_seeded_sample(tmp_path: Path) -> None:
    df = blobs()
    path, embedding = tsne_picture(df, ["a", "b", "c"], color_by="group", sample_size=40, path=tmp_path / "q" / "t.png")
    assert path == tmp_path / "q" / "t.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    chosen = np.sort(np.argsort(row_keys(np.arange(60), 0))[:40])
    assert embedding.index.tolist() == chosen.tolist()
    assert list(embedding.columns) == ["tsne1", "tsne2"]
    oracle = TSNE(n_components=2, perplexity=13.0, init="random", random_state=0, max_iter=DEFAULT_MAX_ITER)
    expected = oracle.fit_transform(df[["a", "b", "c"]].to_numpy()[chosen])
    assert_array_equal(embedding.to_numpy(), expected.astype(np.float64))


def test_same_picture_data_whatever_the_row_order(tmp_path: Path) -> None:
    df = blobs(n=30)
    _, first = tsne_picture(df, ["a", "b"], sample_size=20, random_state=3, path=tmp_path / "1.png")
    shuffled = df.sample(frac=1.0, random_state=1)
    assert sample_complete_rows(shuffled, ["a", "b"], 20, 3).sort_values().tolist() == first.index.tolist()
    _, again = tsne_picture(df, ["a", "b"], sample_size=20, random_state=3, path=tmp_path / "2.png")
    assert_frame_equal(first, again)


def test_rows_with_nulls_are_not_sampled(tmp_path: Path) -> None:
    df = blobs(n=20)
    df.loc[[0, 5, 7], "b"] = np.nan
    _, embedding = tsne_picture(df, ["a", "b"], color_by="score", path=tmp_path / "n.png")
    assert embedding.index.tolist() == [i for i in range(20) if i not in (0, 5, 7)]


def test_constant_column_and_two_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"k": [1.0] * 10, "g": pd.Series(["x", None] * 5, dtype="str")})
    path, embedding = tsne_picture(df, ["k"], color_by="g", path=tmp_path / "k.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert embedding.shape == (10, 2)
    assert np.isfinite(embedding.to_numpy()).all()
    _, two = tsne_picture(blobs(n=2), ["a", "b"], path=tmp_path / "two.png")
    assert two.shape == (2, 2)


def test_non_positional_index_uses_row_numbers(tmp_path: Path) -> None:
    df = blobs(n=12).set_index(pd.Index([f"r{i}" for i in range(12)]))
    _, embedding = tsne_picture(df, ["a", "b"], sample_size=5, path=tmp_path / "s.png")
    chosen = np.sort(np.argsort(row_keys(np.arange(12), 0))[:5])
    assert embedding.index.tolist() == [f"r{i}" for i in chosen]


def test_too_few_complete_rows(tmp_path: Path) -> None:
    df = blobs(n=5)
    df["a"] = np.nan  # an all-null column
    with pytest.raises(DataContractError, match="0 rows without nulls"):
        tsne_picture(df, ["a", "b"], path=tmp_path / "x.png")
    with pytest.raises(DataContractError, match="1 rows without nulls"):
        tsne_picture(blobs(n=1), ["a"], path=tmp_path / "x.png")
    with pytest.raises(DataContractError, match="0 rows"):
        tsne_picture(blobs(n=0), ["a"], path=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"columns": ["nope"]}, "columns"),
        ({"columns": ["a"], "color_by": "nope"}, "color_by"),
        ({"columns": ["a"], "sample_size": 1}, "sample_size"),
        ({"columns": ["a"], "max_iter": 249}, "max_iter"),
        ({"columns": ["a"], "max_iter": 500.0}, "max_iter"),
    ],
)
def test_configuration_errors(tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        tsne_picture(blobs(n=5), path=tmp_path / "x.png", **kwargs)
    assert err.value.field == field


def test_text_column_is_a_contract_error(tmp_path: Path) -> None:
    with pytest.raises(DataContractError, match="expected numbers"):
        tsne_picture(blobs(n=5), ["group"], path=tmp_path / "x.png")


def test_integer_labels_get_a_legend_and_measures_a_colour_scale() -> None:
    from dataframe_pipeline.refine.tsne import _is_scale

    assert not _is_scale(pd.Series([0, 1, 1, 0]))  # a 0/1 target: two legend entries
    assert not _is_scale(pd.Series(["a", "b"]))
    assert not _is_scale(pd.Series([True, False]))
    assert _is_scale(pd.Series([0.5, 1.5, 2.5]))  # a measure
    assert _is_scale(pd.Series(range(100)))  # too many integer values for a legend
