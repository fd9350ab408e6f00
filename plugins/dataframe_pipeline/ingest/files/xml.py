"""XML documents as records: the elements at ``xml_record_path``, streamed with ``lxml.etree.iterparse``.

An element's attributes and child elements become columns (``<order id="1"><customer><name>Ann``
gives ``id`` and ``customer.name``); its own text is the column of its path (``#text`` for the record
element itself), text between and after its child elements included (``<a>x<b/>y</a>``: ``a`` is
``"xy"``); repeated child elements are kept as a JSON list. Elements are freed as they are read, so
memory is bounded by one record.

**Entities.** Internal entities (``<!ENTITY co "ACME">``) are expanded wherever they are used, in
text, tails, attributes and nested elements, within bounds; an external entity (XXE), a parameter
entity, an entity bomb, recursion or an undeclared entity refuses the whole file
(:class:`~dataframe_pipeline.exceptions.XmlEntityError`, a ``MalformedSourceError``) naming the
file, the entity and its line; a record whose references expand too far is quarantined. Nothing
is ever fetched. The rules, the limits and why the reader expands entities itself rather than
libxml2: :mod:`.xml_entities`.

**Lines** in reasons are those of the original file: the text is decoded then encoded again as
UTF-8 for lxml, which keeps its line breaks (a byte-order mark is dropped; CR LF and a lone CR
become LF, as XML reads them, so that libxml2 counts every one).
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
from dataframe_pipeline.ingest.files.xml_entities import _Entities
from dataframe_pipeline.ingest.records.flatten import _json_text, _put, _Record
from dataframe_pipeline.ingest.records.rules import DUPLICATE_COLUMN_RULE
from dataframe_pipeline.ingest.records.tabulate import _batches_of, _Tabulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

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
    """A binary file object over decoded text, encoded again as UTF-8 (what lxml is told to read).

    Line breaks become LF (what XML makes of CR LF and of a lone CR, which libxml2 would not count
    as a line). The text is kept from the start until :meth:`prolog` is called (when the root
    element starts), for the lines of declarations
    (:func:`~dataframe_pipeline.ingest.files.xml_entities._scan_prolog`). Nothing more is read once
    ``failed()`` is true.
    """

    def __init__(self, chunks: Iterator[str], failed: Callable[[], bool] | None = None) -> None:
        self._chunks = chunks
        self.failed = failed
        self._data = b""
        self._pos = 0
        self._held_cr = ""
        self._prolog: list[str] | None = []
        #: characters of the document read so far
        self.chars_read = 0

    def read(self, size: int = -1) -> bytes:
        if self.failed is not None and self.failed():
            return b""
        if self._pos >= len(self._data):
            chunk = self._next_text()
            if chunk is None:
                return b""
            self._data, self._pos = chunk.encode("utf-8"), 0
        end = len(self._data) if size < 0 else self._pos + size
        out = self._data[self._pos : end]
        self._pos += len(out)
        return out

    def prolog(self) -> str:
        """The text read so far (the prolog and then some, once the root element started); not kept after."""
        text = "".join(self._prolog or ())
        self._prolog = None
        return text

    def _next_text(self) -> str | None:
        chunk = next(self._chunks, None)
        if chunk is None:
            if not self._held_cr:
                return None
            chunk, self._held_cr = "\n", ""
        else:
            self.chars_read += len(chunk)
            chunk, self._held_cr = self._held_cr + chunk, ""
            if chunk.endswith("\r"):
                # the LF that may follow is in the next chunk
                chunk, self._held_cr = chunk[:-1], "\r"
            if "\r" in chunk:
                chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
        if self._prolog is not None:
            self._prolog.append(chunk)
        return chunk


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xml(inp: _TextInput) -> Iterator[SourceBatch]:
    tabulator = _Tabulator(inp.source, inp.fmt, typed_values=False)
    yield from _batches_of(_xml_records(inp), tabulator, inp.fmt.batch_rows)


def _xml_records(inp: _TextInput) -> Iterator[_Record]:
    """The records of an XML document, each element freed once read (bounded memory)."""
    from lxml import etree

    reader = _Utf8Reader(inp.text())
    events = etree.iterparse(
        reader,
        events=("start", "end"),
        encoding="utf-8",  # the text was decoded already: the declaration's encoding no longer applies
        resolve_entities=False,  # references stay nodes, expanded by _Entities (see the module docstring)
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    # lxml ignores an undeclared entity when it keeps references, and would parse what follows
    # as a new document (losing the error and its line): nothing is fed after an error
    reader.failed = lambda: any(entry.level_name == "FATAL" for entry in events.error_log)
    walk = _Walk(inp, reader)
    try:
        for event, element in events:
            record = walk.on(event, element)
            if record is not None:
                yield record
    except etree.XMLSyntaxError as exc:
        raise MalformedSourceError(_syntax_reason(inp.source, exc, events.error_log, walk.position)) from exc


def _syntax_reason(source: str, exc: Exception, log: Iterable[Any], position: int) -> str:
    """Why libxml2 stopped: its first error, with the line (its exception may name a later consequence)."""
    first = next((entry for entry in log if entry.level_name in ("ERROR", "FATAL")), None)
    detail = f"line {first.line}: {first.message.strip()}" if first is not None else str(exc)
    return f"{source}: not well-formed XML ({detail}) after {position} records; the file must be quarantined as a whole"


class _Walk:
    """Follows the parse events: which elements are records, and what is freed once read."""

    def __init__(self, inp: _TextInput, reader: _Utf8Reader) -> None:
        self.inp = inp
        self.reader = reader
        self.path = XmlPath.parse(inp.fmt.xml_record_path)
        self.stack: list[str] = []
        self.record_depth: int | None = None
        self.position = 0
        self.entities = _Entities.none(inp.source)
        # depth inside elements of an entity's replacement text, which libxml2 reports as events
        # when it first parses it; they are not in the document's tree (the reference is)
        self._in_entity = 0

    def on(self, event: str, element: etree._Element) -> _Record | None:
        """The record ``element`` completes, if any."""
        stack = self.stack
        if event == "start":
            if not stack:
                self._root(element)
            elif self._in_entity or element.getparent() is None:
                self._in_entity += 1
                return None
            stack.append(_local(element.tag))
            if self.record_depth is None and self.path.matches(stack):
                self.record_depth = len(stack)
            return None
        if self._in_entity:
            self._in_entity -= 1
            return None
        record = None
        if self.record_depth == len(self.stack):
            self.position += 1
            record = self.entities.expand(self.position, element) or _xml_record(self.position, element, self.inp.fmt)
            self.record_depth = None
            _free(element, self.entities, record=True)
        elif self.record_depth is None:
            _free(element, self.entities, record=False)
        self.stack.pop()
        return record

    def _root(self, element: etree._Element) -> None:
        self.path.check_root(_local(element.tag), self.inp.source)
        self.entities = _Entities.declared(
            element, self.reader.prolog(), lambda: self.reader.chars_read, self.inp.source
        )


def _free(element: etree._Element, entities: _Entities, record: bool) -> None:
    """Drop an element's content and its earlier siblings: they have been read.

    Entity references among them that are not in a record are checked first (see
    :meth:`_Entities.check_outside`).
    """
    entities.check_outside(element, record)
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# --- records ------------------------------------------------------------------------------------


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
    """Child elements by local name, in document order."""
    groups: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str):
            groups.setdefault(_local(child.tag), []).append(child)
    return groups


def _own_text(element: etree._Element, has_children: bool) -> str | None:
    """An element's text as a value: a bare leaf's even when empty, otherwise only non-blank text.

    The text between and after child elements (their tails) is part of it.
    """
    if has_children:
        text = element.text or ""
        for child in element:
            if child.tail:
                text += child.tail
        return text if text.strip() else None
    text = element.text
    if element.attrib:
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
