"""XML documents as records: the elements at ``xml_record_path``, streamed with ``lxml.etree.iterparse``.

An element's attributes and child elements become columns (``<order id="1"><customer><name>Ann``
gives ``id`` and ``customer.name``); its own text is the column of its path (``#text`` for the record
element itself), text between and after its child elements included (``<a>x<b/>y</a>``: ``a`` is
``"xy"``); repeated child elements are kept as a JSON list. Elements are freed as they are read, so
memory is bounded by one record.

**Entities.** The predefined entities (``&amp;`` ...) and character references are plain text.
Internal entities declared in the document's internal DTD subset (``<!ENTITY co "ACME">``) are
expanded wherever they are used: element text and tails, attribute values, nested elements,
entities used in other entities, and replacement text with markup (``<!ENTITY a "<city>Paris</city>">``
gives the column ``city``). Nothing is ever fetched: no network, no file, no external DTD.

The parser keeps entity references as nodes (``resolve_entities=False``: with ``True`` libxml2
would also read external entities, and with ``'internal'`` it still loads external parameter
entities); the reader expands them itself, under :data:`ENTITY_LIMITS`, so that the bound holds
whatever libxml2's own limits are. Attribute values are the exception: libxml2 expands them while
parsing (under its own limits: at most 5 times the input beyond 1 MB), after the declarations below
were checked, except for the root element's own attributes, which come before the first event.

Refusing the whole file (:class:`~dataframe_pipeline.exceptions.XmlEntityError`, a
``MalformedSourceError``: the operator quarantines the file), naming the file, the entity and the
line of its declaration (for what is dangerous whatever is used) or of its use:

- checked when the root element starts, before any record: an external entity (``SYSTEM``,
  ``PUBLIC``, ``NDATA``), used or not; a parameter entity or reference (``%name;``: they can
  declare entities and read files); an entity whose expansion would exceed
  ``EntityLimits.entity_chars`` characters (a "billion laughs" document stops here, in
  microseconds, having expanded nothing); references nested deeper than ``EntityLimits.depth``;
  an entity that uses itself; a use of an undeclared entity in a declaration; replacement text
  that is not well-formed content on its own (``<!ENTITY a "<b>">``);
- while reading: a reference to an entity that is not declared in the internal subset (a
  well-formedness error; libxml2 reports it itself when there is no external DTD); an entity used
  outside any record whose replacement text has elements (they could be records, which the stream
  would never see); the expansion of the whole file exceeding ``EntityLimits.file_chars`` plus
  ``EntityLimits.amplification`` characters per character of the document read so far.

Quarantining one record (rule :data:`XML_ENTITY_EXPANSION_RULE`, the record's text with its
references unexpanded, the reason with its line): references whose expansions add up to more than
``EntityLimits.record_chars`` characters in that record; the declarations are sound and the other
records are read.

Text an entity gives outside any record is not read, as any text there. Lines are the lines of the
original file: the text is decoded then re-encoded as UTF-8 for lxml, which keeps line breaks (a
byte-order mark is dropped, and the reader turns CR LF and lone CR into LF, as XML does, so that
libxml2 counts them); libxml2 keeps no line for a declaration, so the reader finds them in the
internal subset itself (:func:`_scan_prolog`). ``defusedxml`` is not used: its lxml module is
deprecated and it refuses every DTD rather than expanding internal entities.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import (
    ConfigurationError,
    DataContractError,
    KeyCollisionError,
    MalformedSourceError,
    XmlEntityError,
)
from dataframe_pipeline.ingest.records import DUPLICATE_COLUMN_RULE, _batches_of, _json_text, _put, _Record, _Tabulator

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
#: an XML record whose entity references expand to more than ``EntityLimits.record_chars`` characters
XML_ENTITY_EXPANSION_RULE = "xml_entity_expansion"


@dataclass(frozen=True)
class EntityLimits:
    """How far the internal entities of an XML document may expand, in characters of replacement text.

    :param depth: the most entity references nested in one another (``&a;`` using ``&b;`` using ...).
    :param entity_chars: the most characters one entity may expand to (more: the file is refused).
    :param record_chars: the most characters the references of one record may expand to, together
        (more: the record is quarantined).
    :param file_chars: what the references of a whole file may expand to before ``amplification``
        counts.
    :param amplification: beyond ``file_chars``, characters of expansion allowed per character of
        the document read so far (more: the file is refused).
    """

    depth: int = 16
    entity_chars: int = 100_000
    record_chars: int = 1_000_000
    file_chars: int = 10_000_000
    amplification: int = 10


#: the limits the XML reader applies
ENTITY_LIMITS = EntityLimits()


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
    element starts), for :func:`_scan_prolog`. Nothing more is read once ``failed()`` is true.
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
        self.entities = _Entities(inp.source, {}, {}, reader, ENTITY_LIMITS, check=False)
        # depth inside elements of an entity's replacement text, which libxml2 reports as events
        # when it first parses it; they are not in the document's tree (the reference is)
        self._in_entity = 0

    def on(self, event: str, element: etree._Element) -> _Record | None:
        """The record ``element`` completes, if any."""
        if self._in_entity or (event == "start" and self.stack and element.getparent() is None):
            self._in_entity += 1 if event == "start" else -1
            return None
        if event == "start":
            self._start(element)
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

    def _start(self, element: etree._Element) -> None:
        if not self.stack:
            self.path.check_root(_local(element.tag), self.inp.source)
            self.entities = _Entities.declared(element, self.reader, self.inp.source, ENTITY_LIMITS)
        self.stack.append(_local(element.tag))
        if self.record_depth is None and self.path.matches(self.stack):
            self.record_depth = len(self.stack)


def _free(element: etree._Element, entities: _Entities, record: bool) -> None:
    """Drop an element's content and its earlier siblings: they have been read.

    Entity references among them that are not in a record are checked first (see
    :meth:`_Entities.check_outside`).
    """
    from lxml import etree

    if not record:
        entities.check_outside(element.iterchildren(etree.Entity))
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        entities.check_outside(element.itersiblings(etree.Entity, preceding=True))
        while element.getprevious() is not None:
            del parent[0]


# --- entities -----------------------------------------------------------------------------------

_PREDEFINED_ENTITIES = frozenset({"amp", "lt", "gt", "apos", "quot"})
# what may come before the DOCTYPE
_PROLOG_MISC = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_LITERAL = r"""(?:"[^"]*"|'[^']*')"""
_DOCTYPE_HEAD = re.compile(rf"<!DOCTYPE\s+[^\s\[>]+(?:\s+(?:SYSTEM|PUBLIC)(?:\s+{_LITERAL})+)?\s*(?P<subset>\[|>)")
# the markup of an internal subset (libxml2 has parsed it already: it is well-formed)
_SUBSET_TOKEN = re.compile(
    rf"""\s+|<!--.*?-->|<\?.*?\?>|%(?P<reference>[^;\s]+);"""
    rf"""|<!ENTITY\s+(?P<percent>%\s+)?(?P<entity>[^\s"'>]+)(?:[^>"']|{_LITERAL})*>"""
    rf"""|<!(?:[^>"']|{_LITERAL})*>|(?P<end>\])""",
    re.DOTALL,
)
# in replacement text: references, and what holds "&" without one (matched to be left as is)
_CONTENT_TOKEN = re.compile(r"""<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|&(?P<name>[^#&;\s<>"']+);""", re.DOTALL)
_ELEMENT_START = re.compile(r"<[^!?/]")
_BLANKS = re.compile(r"[\t\n\r]")
# lxml writes ">" in an attribute value as "&gt;", and a reference kept in it as "&name;"
_START_TAG = re.compile(r"<[^>]*>")
_ATTRIBUTE_REFERENCE = re.compile(r"&([^#;&\s]+);")


@dataclass
class _Declarations:
    """Where the internal DTD subset declares things (libxml2 keeps no line for a declaration)."""

    doctype_line: int = 1
    #: general entity -> line of its first declaration (the one that binds)
    general: dict[str, int] = field(default_factory=dict)
    #: parameter entities declared and referenced: (name, line)
    parameter: list[tuple[str, int]] = field(default_factory=list)
    #: whether the internal subset was read to its end (it was not: something above is missing)
    complete: bool = True


def _scan_prolog(text: str) -> _Declarations:
    """The declarations of the internal subset in the text before the root element, with their lines."""
    pos = 0
    while match := _PROLOG_MISC.match(text, pos):
        pos = match.end()
    found = _Declarations(doctype_line=text.count("\n", 0, pos) + 1)
    head = _DOCTYPE_HEAD.match(text, pos)
    if head is None or head["subset"] == ">":
        found.complete = head is not None or not text.startswith("<!DOCTYPE", pos)
        return found
    pos, line = head.end(), found.doctype_line + text.count("\n", pos, head.end())
    while (token := _SUBSET_TOKEN.match(text, pos)) and not token["end"]:
        if token["reference"] or token["percent"]:
            found.parameter.append((token["reference"] or token["entity"], line))
        elif token["entity"]:
            found.general.setdefault(token["entity"], line)
        pos, line = token.end(), line + text.count("\n", token.start(), token.end())
    found.complete = token is not None
    return found


def _is_reference(match: re.Match[str]) -> bool:
    """Whether a :data:`_CONTENT_TOKEN` is a reference to a declared (not predefined) entity."""
    return bool(match["name"]) and match["name"] not in _PREDEFINED_ENTITIES


def _references(content: str) -> list[str]:
    """The general entities a replacement text uses (not the predefined ones, not in CDATA or comments)."""
    return [m["name"] for m in _CONTENT_TOKEN.finditer(content) if _is_reference(m)]


class _Entities:
    """The internal entities of a document: checked when its root element starts, expanded in records.

    :param contents: entity -> its replacement text (lxml's ``content``: character references in
        the literal are resolved, entity references are not).
    :param lines: entity -> line of its declaration.
    :param check: whether records can hold entity references at all (not without a DOCTYPE).
    """

    def __init__(
        self,
        source: str,
        contents: dict[str, str],
        lines: dict[str, int],
        reader: _Utf8Reader,
        limits: EntityLimits,
        *,
        check: bool = True,
    ) -> None:
        self.source = source
        self.contents = contents
        self.lines = lines
        self.reader = reader
        self.limits = limits
        self.check = check
        self.sizes: dict[str, int] = {}
        self._has_elements: dict[str, bool] = {}
        self._parsed: dict[str, str | etree._Element] = {}
        # whether some entity's expansion has a tab or a line break (see _normalize_attributes)
        self._blank_entities = False
        self._parser: etree.XMLParser | None = None
        #: characters the references of the file's records expanded to so far
        self.expanded_chars = 0

    @classmethod
    def declared(cls, root: etree._Element, reader: _Utf8Reader, source: str, limits: EntityLimits) -> _Entities:
        """The entities of the internal subset, once checked.

        :raises XmlEntityError: a declaration that is refused whatever is used (module docstring).
        """
        prolog = reader.prolog()
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is None:
            return cls(source, {}, {}, reader, limits, check=False)
        found = _scan_prolog(prolog)
        if not found.complete:
            # libxml2 read it: this is a gap in _scan_prolog, which must not miss a parameter entity
            problem = "the internal DTD subset has markup the reader does not know, so its entities are refused"
            raise XmlEntityError(source, found.doctype_line, "", problem)
        for name, line in found.parameter:
            problem = f"parameter entity '%{name};' is refused: parameter entities are not supported"
            raise XmlEntityError(source, line, f"%{name}", problem)
        contents: dict[str, str] = {}
        lines: dict[str, int] = {}
        for entity in dtd.iterentities():
            name = entity.name
            if name in _PREDEFINED_ENTITIES or name in contents:
                continue
            lines[name] = found.general.get(name, found.doctype_line)
            if entity.system_url is not None:
                problem = f"entity {name!r} is external ({entity.system_url!r}): external entities are never read"
                raise XmlEntityError(source, lines[name], name, problem)
            contents[name] = entity.content or ""
        entities = cls(source, contents, lines, reader, limits)
        for name in contents:
            entities._size(name, ())
            entities._check_well_formed(name)
        blanks: dict[str, bool] = {}
        entities._blank_entities = any(entities._holds(name, _BLANKS, blanks) for name in contents)
        return entities

    def _refuse(self, name: str, problem: str, line: int | None = None) -> XmlEntityError:
        return XmlEntityError(self.source, self.lines[name] if line is None else line, name, problem)

    def _size(self, name: str, chain: tuple[str, ...]) -> int:
        """The characters ``name`` expands to, everything nested included (memoized).

        :raises XmlEntityError: recursion, nesting too deep, too large, an undeclared entity used.
        """
        if name in self.sizes:
            return self.sizes[name]
        if name in chain:
            loop = " -> ".join((*chain[chain.index(name) :], name))
            raise self._refuse(name, f"entity {name!r} uses itself ({loop})")
        if len(chain) >= self.limits.depth:
            nesting = " -> ".join((*chain, name))
            raise self._refuse(chain[0], f"entity references nest more than {self.limits.depth} deep ({nesting})")
        content = self.contents[name]
        size = len(content)
        for inner in _references(content):
            if inner not in self.contents:
                raise self._refuse(name, f"entity {name!r} uses entity {inner!r}, which is not declared")
            size += self._size(inner, (*chain, name)) - len(inner) - 2
        if size > self.limits.entity_chars:
            problem = f"entity {name!r} expands to more than {self.limits.entity_chars} characters (an entity bomb)"
            raise self._refuse(name, problem)
        self.sizes[name] = size
        return size

    def _check_well_formed(self, name: str) -> None:
        """The replacement text alone, its references left out, must be content (balanced elements)."""
        content = self.contents[name]
        if not any(mark in content for mark in "<&]"):
            return
        # libxml2 too parses an entity on its own (a namespace prefix must be declared in it)
        self._fragment(_CONTENT_TOKEN.sub(lambda m: "" if _is_reference(m) else m[0], content), name, self.lines[name])

    def _fragment(self, text: str, name: str, line: int) -> etree._Element:
        """``text`` parsed as element content, in a wrapper element."""
        from lxml import etree

        if self._parser is None:
            self._parser = etree.XMLParser(
                resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
            )
        try:
            return etree.fromstring(f"<_>{text}</_>", self._parser)
        except etree.XMLSyntaxError as exc:
            problem = f"the replacement text of entity {name!r} is not well-formed XML content ({exc.msg})"
            raise self._refuse(name, problem, line) from exc

    def expanded(self, name: str) -> str:
        """The replacement text of ``name`` with the entities it uses replaced by theirs, recursively."""
        return _CONTENT_TOKEN.sub(
            lambda m: self.expanded(m["name"]) if _is_reference(m) else m[0],
            self.contents[name],
        )

    def _declared(self, node: etree._Element) -> str:
        name = str(node.name)  # type: ignore[attr-defined]
        if name not in self.contents:
            problem = (
                f"entity {name!r} is used but not declared in the document's internal DTD subset "
                "(an external DTD is never read)"
            )
            raise XmlEntityError(self.source, node.sourceline or 0, name, problem)
        return name

    def has_elements(self, name: str) -> bool:
        """Whether the expansion of ``name`` holds elements (not only text)."""
        return self._holds(name, _ELEMENT_START, self._has_elements)

    def _holds(self, name: str, pattern: re.Pattern[str], found: dict[str, bool]) -> bool:
        """Whether ``pattern`` is in the expansion of ``name`` outside CDATA and comments (memoized in ``found``)."""
        if name not in found:
            content = self.contents[name]
            outside_cdata = _CONTENT_TOKEN.sub(lambda m: m[0] if m["name"] else "", content)
            found[name] = bool(pattern.search(outside_cdata)) or any(
                self._holds(inner, pattern, found) for inner in _references(content)
            )
        return found[name]

    def check_outside(self, nodes: Iterable[etree._Element]) -> None:
        """Entity references outside any record: text (not read, as any text there), or refused.

        :raises XmlEntityError: an undeclared entity, or one whose expansion has elements (they
            could be records, which the stream would never see).
        """
        if not self.check:
            return
        for node in nodes:
            name = self._declared(node)
            if self.has_elements(name):
                problem = (
                    f"entity {name!r} is used outside any record and its replacement text has elements, "
                    "which would not be read as records"
                )
                raise XmlEntityError(self.source, node.sourceline or 0, name, problem)

    def expand(self, position: int, element: etree._Element) -> _Record | None:
        """Replace the entity references in a record by what they stand for.

        :returns: None, or the record quarantined when its references expand too far.
        :raises XmlEntityError: an undeclared entity; the file's expansion beyond its budget.
        """
        from lxml import etree

        if not self.check:
            return None
        nodes = list(element.iter(etree.Entity))
        quarantined = self._expand_references(position, element, nodes) if nodes else None
        if quarantined is None and self._blank_entities:
            self._normalize_attributes(element)
        return quarantined

    def _expand_references(self, position: int, element: etree._Element, nodes: list[etree._Element]) -> _Record | None:
        from lxml import etree

        chars = Counter[str]()
        for node in nodes:
            name = self._declared(node)
            chars[name] += self.sizes[name]
        total = chars.total()
        if total > self.limits.record_chars:
            raw = etree.tostring(element, encoding="unicode", with_tail=False)
            reason = (
                f"its entity references expand to {total} characters, more than {self.limits.record_chars} "
                f"(mostly {chars.most_common(1)[0][0]!r}; record on line {element.sourceline})"
            )
            return _Record(position, raw, rule=XML_ENTITY_EXPANSION_RULE, reason=reason)
        self._spend(total, chars.most_common(1)[0][0], element)
        for node in nodes:
            self._splice(node)
        return None

    def _normalize_attributes(self, element: etree._Element) -> None:
        """Make each blank of a replacement text in an attribute value a space, as XML says.

        libxml2 keeps them when it keeps references (it makes literal blanks spaces itself, and a
        character reference such as ``&#10;`` stays what it is). The start tag, with references as
        lxml writes them, is parsed again with the replacement texts written in.
        """
        from lxml import etree

        for node in element.iter(etree.Element):
            if not any(_BLANKS.search(value) for value in node.attrib.values()):
                continue
            start = _START_TAG.match(etree.tostring(node, encoding="unicode", with_tail=False))
            if start is None or not _ATTRIBUTE_REFERENCE.search(start[0]):
                continue
            written = _ATTRIBUTE_REFERENCE.sub(
                lambda m: self.expanded(m[1]).replace('"', "&quot;") if m[1] in self.contents else m[0], start[0]
            )
            tag = self._fragment(written.removesuffix(">").removesuffix("/") + "/>", "", node.sourceline or 0)[0]
            for name, value in tag.attrib.items():
                node.set(name, value)

    def _spend(self, chars: int, name: str, element: etree._Element) -> None:
        self.expanded_chars += chars
        allowed = self.limits.file_chars + self.limits.amplification * self.reader.chars_read
        if self.expanded_chars > allowed:
            problem = (
                f"entity references expand to {self.expanded_chars} characters after {self.reader.chars_read} "
                f"characters of the document, more than {self.limits.file_chars} plus {self.limits.amplification} "
                f"per character read (mostly {name!r} in the record on this line)"
            )
            raise XmlEntityError(self.source, element.sourceline or 0, name, problem)

    def _pieces(self, node: etree._Element, name: str) -> tuple[str, list[etree._Element]]:
        """The text and elements that a reference stands for (elements: new copies at each use)."""
        if name not in self._parsed:
            text = self.expanded(name)
            # parsed once per entity: the file's budget bounds how much is kept
            if "<" not in text and "&" not in text:
                self._parsed[name] = text
            else:
                wrapper = self._fragment(text, name, node.sourceline or 0)
                self._parsed[name] = wrapper if len(wrapper) else wrapper.text or ""
        parsed = self._parsed[name]
        if isinstance(parsed, str):
            return parsed, []
        return parsed.text or "", [copy.deepcopy(child) for child in parsed]

    def _splice(self, node: etree._Element) -> None:
        """Put the text and elements of a reference where it is, then remove it."""
        text, elements = self._pieces(node, str(node.name))  # type: ignore[attr-defined]
        parent = node.getparent()
        if parent is None:  # a reference is always inside an element
            return
        previous = node.getprevious()
        index = parent.index(node)
        for offset, child in enumerate(elements, start=1):
            parent.insert(index + offset, child)
        _append_text(parent, previous, text)
        if elements:
            elements[-1].tail = (elements[-1].tail or "") + (node.tail or "")
        else:
            _append_text(parent, previous, node.tail or "")
        parent.remove(node)


def _append_text(parent: etree._Element, previous: etree._Element | None, text: str) -> None:
    """Add ``text`` after ``previous`` (its tail), or at the start of ``parent`` when there is none."""
    if not text:
        return
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


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
        text = "".join([element.text or "", *(child.tail or "" for child in element)])
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
