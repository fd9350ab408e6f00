"""One ``<table>`` of an HTML page (``html_table``: index, or a text it contains), read with
``pandas.read_html``. Its header is what HTML marks as one (``<thead>``, rows of ``<th>``), else the
columns are "0", "1", ... (or ``columns``). **The whole page is held in memory** (an HTML parser
needs the document): fine for pages, not huge dumps.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from dataframe_pipeline.exceptions import (
    DataContractError,
    MalformedSourceError,
)
from dataframe_pipeline.ingest.records.tabulate import _check_file_columns, _typed_batch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from dataframe_pipeline.ingest.base import (
        SourceBatch,
    )
    from dataframe_pipeline.ingest.files.format import FileFormat
    from dataframe_pipeline.ingest.files.text import _TextInput


def _read_html(inp: _TextInput) -> Iterator[SourceBatch]:
    # an HTML parser needs the whole document: this is the one format held in memory entirely
    table = _html_table(inp)
    types = inp.fmt.arrow_types()
    yielded = False
    for offset in range(0, table.num_rows, inp.fmt.batch_rows):
        yield _typed_batch(table.slice(offset, inp.fmt.batch_rows), inp.source, offset + 1, types)
        yielded = True
    if not yielded:
        yield _typed_batch(table, inp.source, 1, types)


def _html_table(inp: _TextInput) -> pa.Table:
    """The chosen table of the page as strings (nulls where ``null_values`` say), columns checked."""
    element_html = _select_html_table("".join(inp.text()), inp.fmt.html_table, inp.source)
    frame = _html_frame(element_html, inp.fmt.null_values, inp.source)
    names = _html_column_names(frame.columns, inp.fmt)
    columns = _check_file_columns(names, inp.fmt, inp.source)
    data = {
        name: pa.array([None if _is_missing(v) else str(v) for v in frame.iloc[:, i].tolist()], pa.string())
        for i, name in enumerate(names)
    }
    return pa.table(data).select(columns)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _select_html_table(text: str, choice: int | str, source: str) -> str:
    import lxml.html
    from lxml import etree

    try:
        document = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise MalformedSourceError(f"{source}: not a readable HTML document: {exc}") from exc
    tables = document.xpath("//table")
    if isinstance(choice, int):
        if choice >= len(tables):
            raise DataContractError(f"{source}: html_table={choice} but the page has {len(tables)} tables")
        return lxml.html.tostring(tables[choice], encoding="unicode")
    for table in tables:
        if choice in table.text_content():
            return lxml.html.tostring(table, encoding="unicode")
    raise DataContractError(f"{source}: no table of the {len(tables)} in the page contains {choice!r}")


def _html_frame(table_html: str, null_values: Sequence[str], source: str) -> pd.DataFrame:
    def parse(converters: dict[int, Callable[[str], str]] | None) -> pd.DataFrame:
        return pd.read_html(
            io.StringIO(table_html),
            flavor="lxml",
            thousands=None,
            keep_default_na=False,
            na_values=list(null_values),
            converters=converters,
        )[0]

    try:
        # the first pass counts the columns so that the second keeps every cell as text ("007")
        width = parse(None).shape[1]
        return parse(dict.fromkeys(range(width), str))
    except ValueError as exc:
        raise DataContractError(f"{source}: the selected table cannot be read: {exc}") from exc


def _html_column_names(columns: pd.Index, fmt: FileFormat) -> list[str]:
    if isinstance(columns, pd.MultiIndex):
        sep = fmt.flatten_sep or "."
        names = []
        for levels in columns:
            parts = [str(p) for p in levels if not str(p).startswith("Unnamed:")]
            names.append(sep.join(dict.fromkeys(parts)))
        return names
    if all(isinstance(name, int) for name in columns):
        # no header row: positional names, or the expected columns in file order
        if fmt.columns is not None and len(fmt.columns) == len(columns):
            return list(fmt.columns)
        return [str(name) for name in columns]
    return [str(name) for name in columns]
