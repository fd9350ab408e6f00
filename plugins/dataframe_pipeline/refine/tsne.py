"""A t-SNE picture of a dataset for the quality report: seeded sample, 2-D embedding, PNG scatter.

Not a transformer: t-SNE has no ``transform`` for new rows, and the picture is for people. The
sample is the ``sample_size`` complete rows (no null or infinite value in ``columns``) with the
smallest keys ``row_keys(position, random_state)``, so it is the same for the same data whatever
order it was read in. t-SNE starts from a seeded random layout (``init="random"``; the PCA start
needs two non-constant columns). Its Barnes-Hut gradient runs on one OpenMP thread: each of its
1000 iterations is a parallel region far too small to share, and on a busy machine the threads
waiting for one another made 289 points take 20-40 s instead of about one. The figure is drawn with
matplotlib's Agg canvas directly (no pyplot, no global backend switch), so it works in a worker
without a display.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError
from dataframe_pipeline.refine.pca import _matrix
from dataframe_pipeline.refine.sampling import row_keys

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    from matplotlib.axes import Axes

#: t-SNE's usual perplexity; smaller samples get ``(n - 1) / 3`` (it must stay below ``n``)
DEFAULT_PERPLEXITY = 30.0
#: gradient-descent iterations (the first 250 with early exaggeration, scikit-learn's minimum): on a
#: few hundred points the KL divergence at 500 is within a few percent of 1000's, for half the time
DEFAULT_MAX_ITER = 500
MIN_ITER = 250
#: categories drawn in their own colour (with a legend entry); rarer ones are grouped as "other"
MAX_LEGEND_CATEGORIES = 12
WHO = "tsne_picture"

log = logging.getLogger(__name__)


def _check(frame: pd.DataFrame, columns: Sequence[str], color_by: str | None, sample_size: int, max_iter: int) -> None:
    check_column_list(list(columns) if isinstance(columns, tuple) else columns, list(frame.columns))
    if color_by is not None and color_by not in frame.columns:
        raise ConfigurationError("color_by", color_by, f"not a column of the input {list(frame.columns)}")
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 2:
        raise ConfigurationError("sample_size", sample_size, "must be an integer >= 2")
    check_max_iter(max_iter, "max_iter")


def check_max_iter(max_iter: object, field: str) -> None:
    """Raise ``ConfigurationError`` unless ``max_iter`` is an integer of at least :data:`MIN_ITER`."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < MIN_ITER:
        raise ConfigurationError(field, max_iter, f"must be an integer >= {MIN_ITER}")


def sample_complete_rows(frame: pd.DataFrame, columns: Sequence[str], sample_size: int, random_state: int) -> pd.Index:
    """Index labels of the ``sample_size`` complete rows with the smallest keys, in position order.

    An index that is not made of distinct non-negative integers is replaced by row numbers.
    """
    require_columns(frame, columns, WHO)
    matrix = _matrix(frame, columns, WHO)
    index = frame.index
    usable = pd.api.types.is_integer_dtype(index) and index.is_unique and (not len(index) or index.min() >= 0)
    positions = index.to_numpy(dtype=np.int64) if usable else np.arange(len(frame), dtype=np.int64)
    complete = np.flatnonzero(np.isfinite(matrix).all(axis=1))
    keys = row_keys(positions[complete], random_state)
    chosen = complete[np.argsort(keys, kind="stable")[:sample_size]]
    return frame.index[np.sort(chosen)]


def _is_scale(colors: pd.Series) -> bool:
    """Numbers get a colour scale, except integer labels with few values (0/1 targets, classes)."""
    if not pd.api.types.is_numeric_dtype(colors) or pd.api.types.is_bool_dtype(colors):
        return False
    few_labels = pd.api.types.is_integer_dtype(colors) and colors.nunique() <= MAX_LEGEND_CATEGORIES
    return not few_labels


def _draw(ax: Axes, embedding: np.ndarray, colors: pd.Series | None, color_by: str | None) -> None:
    if colors is None:
        ax.scatter(embedding[:, 0], embedding[:, 1], s=6)
        return
    if _is_scale(colors):
        values = colors.to_numpy(dtype="float64", na_value=np.nan)
        points = ax.scatter(embedding[:, 0], embedding[:, 1], c=values, s=6, cmap="viridis")
        ax.figure.colorbar(points, ax=ax, label=color_by)
        return
    labels = colors.astype("str").fillna("<null>").to_numpy(dtype=object)
    ranked = pd.Series(labels).value_counts().sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    shown = list(ranked.index[:MAX_LEGEND_CATEGORIES])
    labels = np.where(np.isin(labels, shown), labels, "other")
    for label in [*sorted(shown), "other"]:
        hit = labels == label
        if hit.any():
            ax.scatter(embedding[hit, 0], embedding[hit, 1], s=6, label=str(label))
    ax.legend(title=color_by, fontsize="small", markerscale=2)


def save_scatter(
    embedding: np.ndarray, path: str | os.PathLike[str], colors: pd.Series | None = None, color_by: str | None = None
) -> Path:
    """Draw the 2-D points (coloured by ``colors``) and save them as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 6), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    _draw(ax, embedding, colors, color_by)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(f"t-SNE of {len(embedding)} rows")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out


def tsne_picture(
    frame: pd.DataFrame,
    columns: Sequence[str],
    color_by: str | None = None,
    sample_size: int = 2000,
    random_state: int = 0,
    *,
    path: str | os.PathLike[str],
    max_iter: int = DEFAULT_MAX_ITER,
) -> tuple[Path, pd.DataFrame]:
    """Embed a seeded sample of ``frame[columns]`` in 2-D with t-SNE and save a scatter plot as PNG.

    :param frame: the data; its index should hold the rows' input positions (else row numbers are used).
    :param columns: the numeric columns to embed.
    :param color_by: a column to colour the points by (numbers: a colour scale; else categories).
    :param sample_size: at most this many complete rows are embedded.
    :param random_state: seed of the sample and of t-SNE.
    :param path: where to write the PNG (parent folders are created).
    :param max_iter: t-SNE's gradient-descent iterations (at least 250).
    :returns: the PNG's path and the embedding: a DataFrame indexed like the sampled rows with
        columns ``tsne1``, ``tsne2``.
    :raises DataContractError: fewer than 2 complete rows.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    _check(frame, columns, color_by, sample_size, max_iter)
    chosen = sample_complete_rows(frame, columns, sample_size, random_state)
    if len(chosen) < 2:
        raise DataContractError(f"{WHO}: {len(chosen)} rows without nulls in {list(columns)}, need at least 2")
    sample = frame.loc[chosen]
    matrix = _matrix(sample, columns, WHO)
    perplexity = min(DEFAULT_PERPLEXITY, max(1.0, (len(chosen) - 1) / 3))
    perplexity = min(perplexity, len(chosen) - 1e-3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="random", random_state=random_state, max_iter=max_iter)
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="openmp"):
        embedding = np.asarray(tsne.fit_transform(matrix), dtype=np.float64)
    log.info(
        "t-SNE of %d rows: %d iterations in %.2f s (KL divergence %.3f)",
        len(chosen), tsne.n_iter_ + 1, time.perf_counter() - started, tsne.kl_divergence_,
    )  # fmt: skip
    colors = None if color_by is None else sample[color_by]
    out = save_scatter(embedding, path, colors, color_by)
    return out, pd.DataFrame(embedding, index=chosen, columns=["tsne1", "tsne2"])


class StreamSample:
    """The rows :func:`sample_complete_rows` would choose from the whole data, gathered batch by batch.

    Keeps at most ``sample_size`` rows at any time: after each batch, the complete rows with the
    smallest keys so far. Batches are indexed by position.
    """

    def __init__(self, columns: Sequence[str], sample_size: int, random_state: int) -> None:
        self.columns = list(columns)
        self.sample_size = sample_size
        self.random_state = random_state
        self._kept: pd.DataFrame | None = None
        self._keys = np.empty(0, dtype=np.uint64)

    def add(self, batch: pd.DataFrame) -> None:
        require_columns(batch, self.columns, WHO)
        matrix = _matrix(batch, self.columns, WHO)
        rows = batch[np.isfinite(matrix).all(axis=1)]
        keys = np.concatenate([self._keys, row_keys(rows.index.to_numpy(np.int64), self.random_state)])
        pool = rows if self._kept is None else pd.concat([self._kept, rows])
        best = np.argsort(keys, kind="stable")[: self.sample_size]
        self._kept, self._keys = pool.iloc[best], keys[best]

    def result(self) -> pd.DataFrame:
        """The sampled rows in position order."""
        if self._kept is None:
            raise DataContractError(f"{WHO}: the dataset has no batch")
        return self._kept.iloc[np.argsort(self._kept.index.to_numpy(), kind="stable")]


def stream_sample(
    batches: Iterable[pd.DataFrame], columns: Sequence[str], sample_size: int, random_state: int
) -> pd.DataFrame:
    """:class:`StreamSample` over ``batches``."""
    sample = StreamSample(columns, sample_size, random_state)
    for batch in batches:
        sample.add(batch)
    return sample.result()
