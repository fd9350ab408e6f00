"""XML documents as records: the elements at ``xml_record_path``, streamed with ``lxml.etree.iterparse``.

An element's attributes and child elements become columns (``<order id="1"><customer><name>Ann``
gives ``id`` and ``customer.name``); its own text is the column of its path (``#text`` for the record
element itself); repeated child elements are kept as a JSON list. Elements are freed as they are
read, so memory is bounded by one record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    KeyCollisionError,
    MalformedSourceError,
)
from dataframe_pipeline.ingest.records import DUPLICATE_COLUMN_RULE, _batches_of, _json_text, _put, _Record, _Tabulator

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxml import etree

    from dataframe_pipeline.ingest.base import (
        SourceBatch,
    )
    from dataframe_pipeline.ingest.files.format import FileFormat
    from dataframe_pipeline.ingest.files.text import _TextInput


#: the column of an XML record element's own text
XML_TEXT_COLUMN = "#text"


_XML_STEP = re.compile(r"^(\*|[A-Za-z_][\w.\-]*)$")


@dataclass(frozen=True)
class XmlPath:
    """Which elements are records: ``steps`` from the root (``anchored``) or ending anywhere."""

    steps: tuple[str, ...]
    anchored: bool

    @classmethod
    def parse(cls, path: str | None) -> XmlPath:
        """``"/a/b"``, ``"//b"``, ``"//a/b"`` (local names, ``*`` for any); None: the root's children.

        :raises ConfigurationError: (field ``xml_record_path``) anything else.
        """
        if path is None:
            return cls(("*", "*"), anchored=True)
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError("xml_record_path", path, "must be a path like '/orders/order' or '//order'")
        anchored = not path.startswith("//")
        steps = tuple(path[1 if anchored else 2 :].split("/"))
        if not all(_XML_STEP.match(step) for step in steps):
            raise ConfigurationError(
                "xml_record_path", path, "steps must be element names (no namespace prefix) or '*', with no predicates"
            )
        return cls(steps, anchored)

    def matches(self, stack: list[str]) -> bool:
        """Whether the element whose ancestry (root first) is ``stack`` is a record."""
        n = len(self.steps)
        if len(stack) < n or (self.anchored and len(stack) != n):
            return False
        return all(step in ("*", name) for step, name in zip(self.steps, stack[-n:], strict=True))

    def check_root(self, root: str, source: str) -> None:
        if self.anchored and self.steps[0] not in ("*", root):
            raise DataContractError(
                f"{source}: the root element is <{root}> but xml_record_path starts at <{self.steps[0]}>"
            )


class _Utf8Reader:
    """A binary file object over decoded text, encoded again as UTF-8 (what lxml is told to read)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._data = b""
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._data):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._data, self._pos = chunk.encode("utf-8"), 0
        end = len(self._data) if size < 0 else self._pos + size
        out = self._data[self._pos : end]
        self._pos += len(out)
        return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xml(inp: _TextInput) -> Iterator[SourceBatch]:
    tabulator = _Tabulator(inp.source, inp.fmt, typed_values=False)
    yield from _batches_of(_xml_records(inp), tabulator, inp.fmt.batch_rows)


def _xml_records(inp: _TextInput) -> Iterator[_Record]:
    """The records of an XML document, each element freed once read (bounded memory)."""
    from lxml import etree

    path = XmlPath.parse(inp.fmt.xml_record_path)
    stack: list[str] = []
    record_depth: int | None = None
    position = 0
    events = etree.iterparse(
        _Utf8Reader(inp.text()),
        events=("start", "end"),
        encoding="utf-8",  # the text was decoded already: the declaration's encoding no longer applies
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for event, element in events:
            if event == "start":
                stack.append(_local(element.tag))
                if len(stack) == 1:
                    path.check_root(stack[0], inp.source)
                if record_depth is None and path.matches(stack):
                    record_depth = len(stack)
                continue
            if record_depth == len(stack):
                position += 1
                yield _xml_record(position, element, inp.fmt)
                record_depth = None
            if record_depth is None:
                _free(element)
            stack.pop()
    except etree.XMLSyntaxError as exc:
        raise MalformedSourceError(
            f"{inp.source}: not well-formed XML ({exc}) after {position} records; the file must be "
            "quarantined as a whole"
        ) from exc


def _free(element: etree._Element) -> None:
    """Drop an element's content and its earlier siblings: they have been read."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _xml_record(position: int, element: etree._Element, fmt: FileFormat) -> _Record:
    from lxml import etree

    raw = etree.tostring(element, encoding="unicode", with_tail=False)
    values: dict[str, Any] = {}
    try:
        _walk_element(element, "", values, fmt.flatten_sep, frozenset(fmt.null_values))
    except KeyCollisionError as exc:
        return _Record(position, raw, rule=DUPLICATE_COLUMN_RULE, reason=str(exc))
    return _Record(position, raw, values)


def _children(element: etree._Element) -> dict[str, list[etree._Element]]:
    """Child elements by local name, in document order (entity references are skipped)."""
    groups: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            groups.setdefault(_local(child.tag), []).append(child)
    return groups


def _own_text(element: etree._Element, has_children: bool) -> str | None:
    """An element's text as a value: a bare leaf's even when empty, otherwise only non-blank text."""
    text = element.text
    if has_children or element.attrib:
        return text if text and text.strip() else None
    return text or ""


def _walk_element(
    element: etree._Element, prefix: str, out: dict[str, Any], sep: str | None, nulls: frozenset[str]
) -> None:
    for name, value in element.attrib.items():
        _put(out, f"{prefix}{sep}{_local(name)}" if prefix else _local(name), None if value in nulls else value)
    groups = _children(element)
    text = _own_text(element, bool(groups))
    if text is not None:
        _put(out, prefix or XML_TEXT_COLUMN, None if text in nulls else text)
    for tag, group in groups.items():
        key = f"{prefix}{sep}{tag}" if prefix else tag
        if len(group) > 1:
            _put(out, key, _json_text([_element_json(child) for child in group]))
        elif sep is not None or not (group[0].attrib or len(group[0])):
            _walk_element(group[0], key, out, sep, nulls)
        else:
            _put(out, key, _json_text(_element_json(group[0])))


def _element_json(element: etree._Element) -> Any:
    """An element as JSON data: a bare leaf is its text, others an object (text under "#text")."""
    groups = _children(element)
    text = _own_text(element, bool(groups))
    if not groups and not element.attrib:
        return text
    data: dict[str, Any] = {_local(name): value for name, value in element.attrib.items()}
    for tag, group in groups.items():
        data[tag] = [_element_json(c) for c in group] if len(group) > 1 else _element_json(group[0])
    if text is not None:
        data[XML_TEXT_COLUMN] = text
    return data
