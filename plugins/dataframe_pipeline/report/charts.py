"""The report's pictures, drawn with matplotlib (Agg backend, no display) as PNG bytes.

matplotlib is imported inside each function: importing this module costs nothing.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd
    from numpy.typing import ArrayLike

DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def _rules_text(quarantined: Mapping[str, int], dropped: Mapping[str, int]) -> str:
    parts = []
    for label, rules in (("quarantined", quarantined), ("dropped", dropped)):
        if rules:
            parts.append(f"{label}: " + ", ".join(f"{rule} {n:,}" for rule, n in rules.items()))
    return "; ".join(parts)


def accounting_flow(steps: Sequence[Mapping[str, Any]]) -> bytes:
    """Per step, one horizontal bar of its input split into out, quarantined and dropped (by rule)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.7 * max(len(steps), 2) + 1.2))
    labels = []
    for y, step in enumerate(steps):
        labels.append(f"{step['step']}\n(in {step['rows_in']:,})")
        quarantined = dict(step["quarantined_by_rule"])
        unnamed = step["rows_quarantined"] - sum(quarantined.values())
        if unnamed > 0:
            quarantined["(no rule)"] = unnamed
        parts = [(step["rows_out"], "#4c9f70")]
        parts += [(n, "#f0a03c") for n in quarantined.values()]
        parts += [(n, "#d1495b") for n in step["dropped_by_rule"].values()]
        left = 0
        for count, color in parts:
            if count > 0:
                ax.barh(y, count, left=left, color=color, edgecolor="white")
                left += count
        text = _rules_text(quarantined, step["dropped_by_rule"])
        ax.annotate(f"out {step['rows_out']:,}" + (f"; {text}" if text else ""), (left, y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8)  # fmt: skip
    ax.set_xlim(0, max(s["rows_in"] for s in steps) * 1.9 or 1)
    ax.set_yticks(range(len(steps)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title("Row accounting per step: in = out + quarantined + dropped by rule")
    return _png(fig)


def histograms(before: Mapping[str, Any], after: Mapping[str, Any], columns: Sequence[str]) -> bytes:
    """One panel per numeric column: its distribution before (ingest) and after (clean) cleaning."""
    import numpy as np

    plt = _pyplot()
    cols = min(3, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        a, b = np.asarray(before.get(column, []), float), np.asarray(after.get(column, []), float)
        both = np.concatenate([a, b])
        both = both[np.isfinite(both)]
        if both.size == 0:
            ax.set_title(f"{column}: no values")
            continue
        edges = np.histogram_bin_edges(both, bins=30)
        ax.hist(a[np.isfinite(a)], bins=edges, alpha=0.5, label="before (ingest)", color="#8a8a8a")
        ax.hist(b[np.isfinite(b)], bins=edges, alpha=0.6, label="after (clean)", color="#3b75af")
        ax.set_title(column, fontsize=10)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(columns) :]:
        ax.axis("off")
    return _png(fig)


def outliers(values: Sequence[float], fences: tuple[float, float] | None, column: str, kept: ArrayLike) -> bytes:
    """The removed values against the fences, over the distribution of the kept values."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 2.8))
    kept_arr, removed = np.asarray(kept, float), np.asarray(values, float)
    positive = kept_arr.size and removed.size and (kept_arr > 0).all() and (removed > 0).all()
    if kept_arr.size:
        ax.scatter(kept_arr, np.random.default_rng(0).uniform(-0.3, 0.3, kept_arr.size), s=6, alpha=0.3,
                   color="#3b75af", label="kept (sample)")  # fmt: skip
    ax.scatter(removed, np.zeros(removed.size), s=40, marker="x", color="#d1495b", label="removed")
    if fences is not None:
        for fence in fences:
            ax.axvline(fence, color="#444", linestyle="--", linewidth=1)
        ax.axvspan(*fences, color="#4c9f70", alpha=0.08, label="fences")
    if positive:
        ax.set_xscale("log")
    ax.set_yticks([])
    ax.set_xlabel(column)
    ax.set_title(f"Outliers removed from {column}")
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def drift_bars(drift: Sequence[Mapping[str, Any]], threshold: float) -> bytes:
    """PSI per column, with the threshold; flagged columns in red."""
    plt = _pyplot()
    rows = [d for d in drift if d.get("psi") is not None]
    fig, ax = plt.subplots(figsize=(10, 0.28 * max(len(rows), 4) + 1.2))
    ax.barh([d["column"] for d in rows], [d["psi"] for d in rows],
            color=["#d1495b" if d["drifted"] else "#3b75af" for d in rows])  # fmt: skip
    ax.axvline(threshold, color="#444", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=threshold)  # linear up to the threshold: one large PSI hides no other
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("PSI against the previous published partition (linear to the threshold, then logarithmic)")
    ax.legend(fontsize=8)
    return _png(fig)


def history_lines(history: pd.DataFrame) -> bytes:
    """Row count and missing rate (per column) over the runs, by when they were recorded."""
    import pandas as pd

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    rows = history[history["metric"] == "row_count"].sort_values("recorded_at")
    top.plot(pd.to_datetime(rows["recorded_at"], utc=True), rows["value"], marker="o", color="#3b75af")
    top.set_ylabel("rows")
    top.set_title("Quality history: row count and missing rate per run")
    missing = history[history["metric"] == "missing_rate"]
    for column, unordered in missing.groupby("column"):
        group = unordered.sort_values("recorded_at")
        if (group["value"] > 0).any():
            bottom.plot(pd.to_datetime(group["recorded_at"], utc=True), group["value"], marker=".", label=str(column))
    bottom.set_ylabel("missing rate")
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=7, ncol=3)
    bottom.tick_params(axis="x", rotation=30, labelsize=7)
    return _png(fig)
