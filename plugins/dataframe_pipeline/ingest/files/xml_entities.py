"""Entities of XML documents: internal ones expanded within bounds; external ones, bombs and the rest refused.

:mod:`.xml` parses with ``resolve_entities=False``, so references stay nodes, and hands them to
:class:`_Entities`, built from the document's internal DTD subset when the root element starts
(lxml's ``docinfo.internalDTD.iterentities()`` gives each entity's replacement text, or its system
URL when it is external). Why not let libxml2 expand them: with ``resolve_entities=True`` it reads
external entities (files, and URLs in builds with an HTTP client); with ``'internal'`` it refuses
those, but its expansion is then bounded only by its own fixed limit (about 5 times the input
beyond 1 MB), and ``iterparse`` reports the elements of an entity only where it is first used: a
record written by a second use of the same entity would be lost without a trace. ``defusedxml``
is not used: its lxml module is deprecated, and it refuses every entity declaration instead of
expanding internal ones.

**Expanded** wherever they are used: element text and tails, attribute values, nested elements,
entities used in other entities, replacement text with markup (``<!ENTITY a "<city>Paris</city>">``
gives the element ``city`` where ``&a;`` is). The predefined entities (``&amp;`` ...) and character
references are text, as always. Attribute values are expanded by libxml2 itself while parsing
(under its own limits, after the checks below, except for the root element's own attributes,
which come before the first event); the reader then makes each tab or line break that came from a
replacement text a space, as XML's attribute-value normalization says and libxml2 does not when
it keeps references.

**The whole file is refused** (:class:`~dataframe_pipeline.exceptions.XmlEntityError`, a
``MalformedSourceError``: the operator quarantines the file), naming the file, the entity and the
line of its declaration (what is dangerous whatever is used) or of its use:

- when the root element starts, before any record is read: an external entity (``SYSTEM``,
  ``PUBLIC``, ``NDATA``), used or not; a parameter entity or reference (``%name;``: they can declare
  entities and read files); an entity that would expand to more than ``EntityLimits.entity_chars``
  characters (a "billion laughs" document stops here, its sizes computed without expanding
  anything); references nested deeper than ``EntityLimits.depth``; an entity that uses itself; a
  declaration that uses an undeclared entity; replacement text that is not well-formed content
  on its own (``<!ENTITY a "<b>">``, or a namespace prefix it does not declare);
- while reading: a reference to an entity not declared in the internal subset (a well-formedness
  error, which libxml2 reports itself unless there is an external DTD, never read); an entity used
  outside any record whose replacement text has elements (they could be records, which the stream
  would never see); references of the whole file expanding to more than ``EntityLimits.file_chars``
  plus ``EntityLimits.amplification`` characters per character of the document read so far.

**One record is quarantined** (rule :data:`XML_ENTITY_EXPANSION_RULE`, its text as in the file,
references unexpanded, and the reason with its line) when its references expand to more than
``EntityLimits.record_chars`` characters together: the declarations are sound and the other
records are read. Text an entity gives outside any record is not read, as any text there.

**Lines** are those of the original file: libxml2 counts them in the re-encoded text, whose line
breaks are the file's (:class:`~dataframe_pipeline.ingest.files.xml._Utf8Reader`); it keeps no
line for a declaration, so :func:`_scan_prolog` finds them in the text before the root element.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataframe_pipeline.exceptions import XmlEntityError
from dataframe_pipeline.ingest.records.flatten import _Record

if TYPE_CHECKING:
    from collections.abc import Callable

    from lxml import etree


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
    :param chars_read: how many characters of the document were read so far.
    :param check: whether records can hold entity references at all (not without a DOCTYPE).
    """

    def __init__(
        self,
        source: str,
        contents: dict[str, str],
        lines: dict[str, int],
        chars_read: Callable[[], int],
        limits: EntityLimits,
        *,
        check: bool = True,
    ) -> None:
        self.source = source
        self.contents = contents
        self.lines = lines
        self.chars_read = chars_read
        self.limits = limits
        self.check = check
        self.sizes: dict[str, int] = {}
        self._has_elements: dict[str, bool] = {}
        self._parsed: dict[str, str | etree._Element] = {}
        # whether some entity's expansion has a tab or a line break (see _normalize_attributes)
        self._blank_entities = False
        self._parser: etree.XMLParser | None = None
        self._entity_tag: Any = None
        #: characters the references of the file's records expanded to so far
        self.expanded_chars = 0

    @classmethod
    def none(cls, source: str) -> _Entities:
        """No entities (before the root element starts)."""
        return cls(source, {}, {}, lambda: 0, ENTITY_LIMITS, check=False)

    @classmethod
    def declared(cls, root: etree._Element, prolog: str, chars_read: Callable[[], int], source: str) -> _Entities:
        """The entities of the internal subset, once checked, bounded by :data:`ENTITY_LIMITS`.

        :param root: the root element, just started.
        :param prolog: the document's text up to the root element at least.
        :raises XmlEntityError: a declaration that is refused whatever is used (module docstring).
        """
        limits = ENTITY_LIMITS
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is None:
            return cls(source, {}, {}, chars_read, limits, check=False)
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
        entities = cls(source, contents, lines, chars_read, limits)
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

    def check_outside(self, element: etree._Element, record: bool) -> None:
        """References outside any record, dropped with ``element``: text (not read, as any text there), or refused.

        :param element: an element read, whose earlier siblings and (unless it is a ``record``)
            children are about to be dropped.
        :raises XmlEntityError: an undeclared entity, or one whose expansion has elements (they
            could be records, which the stream would never see).
        """
        if not self.check:
            return
        tag = self._entity()
        nodes = element.itersiblings(tag, preceding=True)
        for node in nodes if record else itertools.chain(element.iterchildren(tag), nodes):
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
        if not self.check:
            return None
        nodes = self.references_in(element)
        quarantined = self._expand_references(position, element, nodes) if nodes else None
        if quarantined is None and self._blank_entities:
            self._normalize_attributes(element)
        return quarantined

    def references_in(self, element: etree._Element) -> list[etree._Element]:
        """The entity references in ``element`` and below, in document order."""
        return list(element.iter(self._entity()))

    def _entity(self) -> Any:
        """lxml's tag of entity references (imported once, not for each record)."""
        if self._entity_tag is None:
            from lxml import etree

            self._entity_tag = etree.Entity
        return self._entity_tag

    def _expand_references(self, position: int, element: etree._Element, nodes: list[etree._Element]) -> _Record | None:
        total = sum(self.sizes[self._declared(node)] for node in nodes)
        if total > self.limits.record_chars:
            from lxml import etree

            raw = etree.tostring(element, encoding="unicode", with_tail=False)
            reason = (
                f"its entity references expand to {total} characters, more than {self.limits.record_chars} "
                f"(mostly {_largest(nodes, self.sizes)!r}; record on line {element.sourceline})"
            )
            return _Record(position, raw, rule=XML_ENTITY_EXPANSION_RULE, reason=reason)
        self.expanded_chars += total
        read = self.chars_read()
        if self.expanded_chars > self.limits.file_chars + self.limits.amplification * read:
            raise self._over_budget(read, _largest(nodes, self.sizes), element)
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
            used = [name for name in _ATTRIBUTE_REFERENCE.findall(start[0] if start else "") if name in self.contents]
            if start is None or not used:
                continue
            written = _ATTRIBUTE_REFERENCE.sub(
                lambda m: self.expanded(m[1]).replace('"', "&quot;") if m[1] in self.contents else m[0], start[0]
            )
            tag = self._fragment(written.removesuffix(">").removesuffix("/") + "/>", used[0], node.sourceline or 0)[0]
            for name, value in tag.attrib.items():
                node.set(name, value)

    def _over_budget(self, read: int, name: str, element: etree._Element) -> XmlEntityError:
        problem = (
            f"entity references expand to {self.expanded_chars} characters after {read} "
            f"characters of the document, more than {self.limits.file_chars} plus {self.limits.amplification} "
            f"per character read (mostly {name!r} in the record on this line)"
        )
        return XmlEntityError(self.source, element.sourceline or 0, name, problem)

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


def _largest(nodes: list[etree._Element], sizes: dict[str, int]) -> str:
    """The entity whose references in ``nodes`` expand to the most characters."""
    chars = Counter[str]()
    for node in nodes:
        chars[str(node.name)] += sizes[str(node.name)]  # type: ignore[attr-defined]
    return chars.most_common(1)[0][0]


def _append_text(parent: etree._Element, previous: etree._Element | None, text: str) -> None:
    """Add ``text`` after ``previous`` (its tail), or at the start of ``parent`` when there is none."""
    if not text:
        return
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
