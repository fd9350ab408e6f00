"""Tests of XML entities: internal ones expanded within bounds, external ones and bombs refused.

Documents are written out by hand; expected values come from the text of the test (or, in the
property test, from Python's ``xml.etree.ElementTree`` on the same document with the entities
substituted textually and no DTD), never from the code under test.
"""

from __future__ import annotations

import io
import re
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataframe_pipeline.core.batch import REASON_COLUMN, RULE_COLUMN
from dataframe_pipeline.exceptions import MalformedSourceError, XmlEntityError
from dataframe_pipeline.ingest.files import xml as xml_format
from dataframe_pipeline.ingest.files import xml_entities
from dataframe_pipeline.ingest.files.format import FileFormat, check_source, read_source
from dataframe_pipeline.ingest.files.xml_entities import XML_ENTITY_EXPANSION_RULE, EntityLimits

if TYPE_CHECKING:
    from dataframe_pipeline.ingest.base import SourceBatch

pytestmark = pytest.mark.unit


def read_all(data: bytes, name: str = "f.xml", **options: Any) -> tuple[list[SourceBatch], pa.Table, pd.DataFrame]:
    batches = list(read_source(io.BytesIO(data), name, FileFormat(**options)))
    parts = [batch.rejected for batch in batches if len(batch.rejected)]
    rejected = pd.concat(parts) if parts else pd.DataFrame()
    return batches, pa.concat_tables(batch.table for batch in batches), rejected


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.drop_columns(["_source_file", "_source_line"]).to_pylist()


def assert_accounting(batches: list[SourceBatch], rows_in_file: int) -> None:
    for batch in batches:
        assert batch.accounting().balanced, batch.accounting().summary()
    assert sum(batch.rows_in or 0 for batch in batches) == rows_in_file


def refused(data: bytes, name: str = "f.xml", **options: Any) -> tuple[MalformedSourceError, list[SourceBatch]]:
    """The error reading ``data`` raises, and the batches yielded before it."""
    yielded: list[SourceBatch] = []
    with pytest.raises(MalformedSourceError) as caught:
        yielded.extend(read_source(io.BytesIO(data), name, FileFormat(**options)))
    # the cheaper pass refuses the same file
    with pytest.raises(type(caught.value)):
        check_source(io.BytesIO(data), name, FileFormat(**options))
    return caught.value, yielded


def everything_said(error: Exception, batches: list[SourceBatch]) -> str:
    """All the text the reader produced: the message, and every value and reason of every batch."""
    parts = [str(error)]
    for batch in batches:
        parts.append(str(batch.table.to_pylist()))
        parts.append(batch.rejected.to_json() if len(batch.rejected) else "")
    return "\n".join(parts)


# --- expansion ----------------------------------------------------------------------------------


def test_the_issue_example_keeps_the_entity_and_the_text_after_it() -> None:
    document = b'<!DOCTYPE rows [<!ENTITY co "ACME">]>\n<rows><row><name>&co; Ltd</name></row></rows>'
    batches, table, rejected = read_all(document)
    assert rows(table) == [{"name": "ACME Ltd"}]
    assert rejected.empty
    assert_accounting(batches, 1)


ENTITIES = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE shop [
  <!ENTITY co "ACME">
  <!ENTITY full "&co; Corp">
  <!ENTITY legal "&full; (a &co; company)">
  <!ENTITY lt2 "&#38;#60;">
  <!ENTITY quoted "&quot;q&quot; &amp; &#233;">
  <!ENTITY empty "">
]>
<shop>
"""


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # before, between, after, alone, adjacent, repeated
        ("<v>&co;</v>", {"v": "ACME"}),
        ("<v>&co; Ltd</v>", {"v": "ACME Ltd"}),
        ("<v>by &co;</v>", {"v": "by ACME"}),
        ("<v>a &co; b &co; c</v>", {"v": "a ACME b ACME c"}),
        ("<v>&co;&co;</v>", {"v": "ACMEACME"}),
        # entities using entities, two and three levels
        ("<v>&full;</v>", {"v": "ACME Corp"}),
        ("<v>&legal;.</v>", {"v": "ACME Corp (a ACME company)."}),
        # predefined entities and character references: in the text and in a replacement text
        ("<v>&lt;&amp;&#233;&#x41;</v>", {"v": "<&éA"}),
        ("<v>&lt2;b</v>", {"v": "<b"}),
        ("<v>&quoted;</v>", {"v": '"q" & é'}),
        # an empty replacement text is an empty value (null by the default null_values)
        ("<v>&empty;</v><w>x&empty;</w>", {"v": None, "w": "x"}),
    ],
)
def test_entities_in_element_text(record: str, expected: dict[str, Any]) -> None:
    _, table, _ = read_all(ENTITIES + f"<row>{record}</row></shop>".encode())
    assert rows(table) == [expected]


def test_text_before_between_and_after_child_elements_is_kept_with_its_entities() -> None:
    record = "<row><note>pre &co; <b>bold</b> mid &full;<i>it</i> end &co;</note></row>"
    _, table, _ = read_all(ENTITIES + f"{record}</shop>".encode())
    assert rows(table) == [{"note": "pre ACME  mid ACME Corp end ACME", "note.b": "bold", "note.i": "it"}]
    # the same text without entities: tails were dropped before entities came in
    _, table, _ = read_all(b"<shop><row><note>a <b>x</b> c<i>y</i> e</note></row></shop>")
    assert rows(table) == [{"note": "a  c e", "note.b": "x", "note.i": "y"}]


def test_entities_in_attributes_and_nested_elements() -> None:
    record = (
        '<row id="&co;-1" label="a &full; b">'
        '<customer type="&co;"><name>&legal;</name><address><city>&co; City</city></address></customer>'
        "</row>"
    )
    _, table, _ = read_all(ENTITIES + f"{record}</shop>".encode())
    assert rows(table) == [
        {
            "id": "ACME-1",
            "label": "a ACME Corp b",
            "customer.type": "ACME",
            "customer.name": "ACME Corp (a ACME company)",
            "customer.address.city": "ACME City",
        }
    ]
    _, table, _ = read_all(ENTITIES + f"{record}</shop>".encode(), flatten_sep=None)
    assert rows(table)[0]["customer"] == (
        '{"type":"ACME","name":"ACME Corp (a ACME company)","address":{"city":"ACME City"}}'
    )


def test_blanks_of_a_replacement_text_in_an_attribute_become_spaces_as_xml_says() -> None:
    # as ElementTree (expat) and libxml2 when it expands entities itself read it; a character
    # reference written in the attribute keeps its line break
    document = (
        b'<!DOCTYPE rows [<!ENTITY e "a\nb\tc"><!ENTITY f "&e;&#10;x"><!ENTITY q "&quot;q&quot; &amp; &#38;#10;">]>'
        b'<rows xmlns:x="urn:x"><row a="&e;" b="[&f;]" c="1&#10;2" x:d="&q;"><v k="&e;">&e;</v></row></rows>'
    )
    _, table, _ = read_all(document)
    assert rows(table) == [
        {"a": "a b c", "b": "[a b c x]", "c": "1\n2", "d": '"q" & \n', "v.k": "a b c", "v": "a\nb\tc"}
    ]
    assert ET.fromstring(document).find("row").attrib == {
        "a": "a b c",
        "b": "[a b c x]",
        "c": "1\n2",
        "{urn:x}d": '"q" & \n',
    }


def test_an_entity_in_the_record_element_text_and_in_repeated_children() -> None:
    record = '<row n="1">&co;<item>&co; 1</item><item>&full;</item></row>'
    _, table, _ = read_all(ENTITIES + f"{record}</shop>".encode())
    assert rows(table) == [{"n": "1", "#text": "ACME", "item": '["ACME 1","ACME Corp"]'}]


MARKUP = b"""<!DOCTYPE rows [
<!ENTITY co "ACME">
<!ENTITY address "<city>Paris</city><zip>75001</zip>">
<!ENTITY em "<em>bold &co;</em> text">
<!ENTITY ns "<x:code xmlns:x='urn:x'>7</x:code>">
<!ENTITY cdata "<![CDATA[&co; <raw>]]>">
]>
<rows>
"""


def test_replacement_text_with_markup_gives_elements_in_every_record_that_uses_it() -> None:
    document = MARKUP + (
        b"<row><customer>&address;</customer><e>see &em; now</e><c>&cdata;</c><n>&ns;</n></row>"
        b"<row><customer>&address;</customer><e>&em;</e></row>"
        b"</rows>"
    )
    batches, table, rejected = read_all(document)
    assert rows(table) == [
        {
            "customer.city": "Paris",
            "customer.zip": "75001",
            "e": "see  text now",
            "e.em": "bold ACME",
            "c": "&co; <raw>",  # a CDATA section in a replacement text is text: no entity in it
            "n.code": "7",
        },
        {
            "customer.city": "Paris",
            "customer.zip": "75001",
            "e": " text",
            "e.em": "bold ACME",
            "c": None,
            "n.code": None,
        },
    ]
    assert rejected.empty
    assert_accounting(batches, 2)


def test_elements_of_an_entity_are_not_records_of_their_own() -> None:
    # libxml2 reports the elements of an entity as events when it first reads it; they are not
    # in the document where the reference is, so "//city" finds only the literal one
    document = MARKUP + b"<row><customer>&address;</customer></row><row><city>Lyon</city></row></rows>"
    error, yielded = refused(document, xml_record_path="//city", batch_rows=1)
    assert yielded == []  # no record from the entity's own elements either, before the refusal
    assert isinstance(error, XmlEntityError)
    assert "entity 'address' is used outside any record and its replacement text has elements" in str(error)
    assert error.line == 9
    _, table, _ = read_all(document, xml_record_path="/rows/row")
    assert table.column("customer.city").to_pylist() == ["Paris", None]


def test_entities_between_records_give_text_that_is_not_read_or_refuse_elements() -> None:
    document = ENTITIES + b"&co;<row><v>1</v></row>\n&full;<row><v>2</v></row>&co;</shop>"
    batches, table, _ = read_all(document)
    assert table.column("v").to_pylist() == ["1", "2"]
    assert_accounting(batches, 2)
    error, yielded = refused(MARKUP + b"<row><v>1</v></row>\n&address;<row><v>2</v></row></rows>")
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == ("address", 10)
    assert sum(batch.table.num_rows for batch in yielded) <= 1


def test_redeclared_predefined_entities_keep_their_meaning() -> None:
    document = b'<!DOCTYPE r [<!ENTITY lt "&#38;#60;"><!ENTITY amp "&#38;#38;">]><r><row><v>&lt;&amp;</v></row></r>'
    _, table, _ = read_all(document)
    assert rows(table) == [{"v": "<&"}]


def test_the_first_declaration_of_an_entity_binds() -> None:
    document = b'<!DOCTYPE r [<!ENTITY e "first">\n<!ENTITY e "second">]><r><row><v>&e;</v></row></r>'
    _, table, _ = read_all(document)
    assert rows(table) == [{"v": "first"}]


def test_a_document_without_entities_reads_as_before() -> None:
    document = b'<?xml version="1.0"?>\n<!DOCTYPE rows>\n<rows><row a="&amp;"><v>1 &lt; 2</v></row></rows>'
    _, table, _ = read_all(document)
    assert rows(table) == [{"a": "&", "v": "1 < 2"}]


# --- property: the same text as a trusted reference -----------------------------------------------

# XML characters, without CR (a parser makes it LF) and other controls
XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") | st.just("\n"),
    max_size=12,
)


def entity_literal(value: str) -> str:
    """``value`` in an entity declaration, so that its replacement text reads back as ``value``."""
    # references are bypassed in an entity value: &amp; stays &amp; and gives & where it is used
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("%", "&#37;")
    )


def escaped(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, str], dict[str, str]]:
    """A document using entities (in text, tails, attributes, nested elements, other entities).

    :returns: the document's body, each entity's literal in its declaration, and its value.
    """
    literals: dict[str, str] = {}
    values: dict[str, str] = {}
    for i in range(draw(st.integers(1, 4))):
        # an entity is text and references to the entities declared before it
        earlier = st.sampled_from(list(values)) if values else st.nothing()
        parts = draw(st.lists(st.one_of(XML_TEXT.map(lambda text: ("text", text)), earlier.map(lambda n: ("ref", n)))))
        literals[f"e{i}"] = "".join(entity_literal(v) if kind == "text" else f"&{v};" for kind, v in parts)
        values[f"e{i}"] = "".join(v if kind == "text" else values[v] for kind, v in parts)
    pieces = st.one_of(st.sampled_from([f"&{name};" for name in values]), XML_TEXT.map(escaped))

    def text() -> str:
        return "".join(draw(st.lists(pieces, max_size=4)))

    records = []
    for _ in range(draw(st.integers(1, 4))):
        records.append(
            f'<row a="{text()}"><v>{text()}</v><m>{text()}<b>{text()}</b>{text()}</m><n><leaf>{text()}</leaf></n></row>'
        )
    return "<rows>" + "".join(records) + "</rows>", literals, values


def present(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}


def reference_rows(body: str, entities: dict[str, str]) -> list[dict[str, Any]]:
    """What each record should give, from ElementTree on the document with the entities written in."""
    substituted = re.sub(r"&(e\d+);", lambda m: escaped(entities[m[1]]), body)
    expected = []
    for row in ET.fromstring(substituted):
        m = row.find("m")
        mixed = (m.text or "") + (m.find("b").tail or "")
        expected.append(
            {
                "a": row.get("a"),
                "v": row.find("v").text or "",
                "m": mixed if mixed.strip() else None,
                "m.b": m.find("b").text or "",
                "n.leaf": row.find("n/leaf").text or "",
            }
        )
    return expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_expanded_values_are_what_a_reference_parser_reads(case: tuple[str, dict[str, str], dict[str, str]]) -> None:
    body, literals, values = case
    declarations = "".join(f'<!ENTITY {name} "{literal}">\n' for name, literal in literals.items())
    document = f"<!DOCTYPE rows [\n{declarations}]>\n{body}".encode()
    batches, table, rejected = read_all(document, null_values=[])
    expected = reference_rows(body, values)
    # a column no record has a value for is not there at all
    assert [present(row) for row in rows(table)] == [present(row) for row in expected]
    assert rejected.empty
    assert_accounting(batches, len(expected))


# --- refused: external entities, parameter entities, bombs --------------------------------------


def test_an_external_entity_to_etc_passwd_is_refused_and_never_read() -> None:
    passwd = Path("/etc/passwd").read_text().splitlines()
    for where in ("<v>&x;</v>", '<v a="&x;">1</v>', "<v>1</v>"):  # in text, in an attribute, unused
        document = (
            '<?xml version="1.0"?>\n<!DOCTYPE rows [\n<!ENTITY ok "fine">\n<!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n'
            f"<rows><row><w>&ok;</w>{where}</row></rows>"
        ).encode()
        error, yielded = refused(document)
        assert isinstance(error, XmlEntityError)
        assert str(error) == (
            "f.xml, line 4: entity 'x' is external ('file:///etc/passwd'): external entities are never read; "
            "the file must be quarantined as a whole"
        )
        assert (error.entity, error.line) == ("x", 4)
        said = everything_said(error, yielded)
        assert not [line for line in passwd if line and line in said]


def test_external_entities_in_every_form_are_refused_before_any_record(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    declarations = {
        "system": f'<!ENTITY x SYSTEM "{secret.as_uri()}">',
        "public": f'<!ENTITY x PUBLIC "-//ACME//secret" "{secret.as_uri()}">',
        "unparsed": f'<!NOTATION n SYSTEM "viewer"><!ENTITY x SYSTEM "{secret.as_uri()}" NDATA n>',
        "relative": '<!ENTITY x SYSTEM "secret.txt">',
    }
    for kind, declaration in declarations.items():
        document = f"<!DOCTYPE rows [{declaration}]>\n<rows><row><v>1</v></row><row><v>&x;</v></row></rows>"
        error, yielded = refused(document.encode(), name=str(tmp_path / "f.xml"))
        assert isinstance(error, XmlEntityError), kind
        assert "entity 'x' is external" in str(error), kind
        assert yielded == [], kind
        assert "TOP-SECRET-VALUE" not in everything_said(error, yielded), kind


def test_an_external_entity_in_the_root_attribute_is_refused_by_libxml2_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    document = f'<!DOCTYPE rows [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n<rows a="&x;"><row/></rows>'.encode()
    error, yielded = refused(document)
    assert "not well-formed XML (line 2: Attribute references external entity 'x')" in str(error)
    assert "TOP-SECRET-VALUE" not in everything_said(error, yielded)


def test_an_external_dtd_is_never_read(tmp_path: Path) -> None:
    dtd = tmp_path / "rows.dtd"
    dtd.write_text('<!ENTITY secret "TOP-SECRET-VALUE"><!ATTLIST row extra CDATA "TOP-SECRET-VALUE">')
    document = f'<!DOCTYPE rows SYSTEM "{dtd.as_uri()}">\n<rows>\n<row><v>1</v></row>\n</rows>'.encode()
    _, table, _ = read_all(document)
    assert rows(table) == [{"v": "1"}]
    # an entity it would declare is not declared: refused with the line of its use
    document = f'<!DOCTYPE rows SYSTEM "{dtd.as_uri()}">\n<rows>\n<row>\n<v>&secret;</v></row>\n</rows>'.encode()
    error, yielded = refused(document)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == ("secret", 4)
    assert "is used but not declared in the document's internal DTD subset" in str(error)
    assert "TOP-SECRET-VALUE" not in everything_said(error, yielded)


@pytest.mark.parametrize(
    ("subset", "line", "entity"),
    [
        ("\n<!ENTITY % p \"<!ENTITY co 'X'>\">\n%p;", 2, "%p"),  # declares an entity through it
        (f'\n\n<!ENTITY % ext SYSTEM "{Path("/etc/passwd").as_uri()}">\n%ext;', 3, "%ext"),
        ('\n<!ENTITY co "X">\n<!ENTITY % unused "">', 3, "%unused"),
    ],
)
def test_parameter_entities_are_refused(subset: str, line: int, entity: str) -> None:
    document = f"<!DOCTYPE rows [{subset}]>\n<rows><row><v>1</v></row></rows>".encode()
    error, yielded = refused(document)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == (entity, line)
    assert f"parameter entity '{entity};' is refused" in str(error)
    assert yielded == []


def billion_laughs(use: str) -> bytes:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", ' <!ENTITY lol "lol">']
    lines += [f' <!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)]
    return "\n".join([*lines, "]>", use]).encode()


def test_a_billion_laughs_is_refused_at_once_with_bounded_memory() -> None:
    tracemalloc.start()
    try:
        error, yielded = refused(billion_laughs("<lolz><row><v>&lol9;</v></row></lolz>"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(error, XmlEntityError)
    # lol5 is the first that expands beyond 100 000 characters (3 * 10**5)
    assert str(error) == (
        "f.xml, line 8: entity 'lol5' expands to more than 100000 characters (an entity bomb); "
        "the file must be quarantined as a whole"
    )
    assert yielded == []
    # nothing was expanded (3 * 10**9 characters if it were)
    assert peak < 5_000_000, peak


def test_a_billion_laughs_in_an_attribute_or_unused_is_refused() -> None:
    for use in ('<lolz><row a="&lol9;"/></lolz>', "<lolz><row>1</row></lolz>"):
        error, _ = refused(billion_laughs(use))
        assert isinstance(error, XmlEntityError)
        assert (error.entity, error.line) == ("lol5", 8)
    # in the root element's attribute libxml2 expands it before the first event: its own limit refuses it
    error, _ = refused(billion_laughs('<lolz a="&lol9;"><row>1</row></lolz>'))
    assert "not well-formed XML (line 14: Maximum entity amplification factor exceeded" in str(error)


@pytest.mark.parametrize(
    ("subset", "line", "entity", "problem"),
    [
        ('<!ENTITY a "x&a;">', 2, "a", "entity 'a' uses itself (a -> a)"),
        (
            '<!ENTITY a "x&b;">\n<!ENTITY b "y&c;">\n<!ENTITY c "&a;">',
            2,
            "a",
            "entity 'a' uses itself (a -> b -> c -> a)",
        ),
        ('<!ENTITY a "&missing;">', 2, "a", "entity 'a' uses entity 'missing', which is not declared"),
        ('<!ENTITY a "<b>">', 2, "a", "the replacement text of entity 'a' is not well-formed XML content"),
        ('<!ENTITY a "AT&#38;T">', 2, "a", "the replacement text of entity 'a' is not well-formed XML content"),
        ('<!ENTITY a "<x:b>1</x:b>">', 2, "a", "Namespace prefix x on b is not defined"),
    ],
)
def test_broken_declarations_refuse_the_file_naming_the_entity_and_its_line(
    subset: str, line: int, entity: str, problem: str
) -> None:
    document = f'<!DOCTYPE rows [\n{subset}\n]>\n<rows xmlns:x="urn:x"><row><v>1</v></row></rows>'.encode()
    error, yielded = refused(document)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == (entity, line)
    assert str(error).startswith(f"f.xml, line {line}: ")
    assert problem in str(error)
    assert yielded == []


def test_references_nested_too_deep_are_refused() -> None:
    chain = "".join(f'<!ENTITY e{i} "&e{i + 1};">\n' for i in range(20)) + '<!ENTITY e20 "end">\n'
    document = f"<!DOCTYPE rows [\n{chain}]>\n<rows><row><v>&e0;</v></row></rows>".encode()
    error, _ = refused(document)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == ("e0", 2)
    assert "entity references nest more than 16 deep (e0 -> e1 -> " in str(error)
    # 16 levels are fine
    chain = "".join(f'<!ENTITY e{i} "&e{i + 1};">\n' for i in range(15)) + '<!ENTITY e15 "end">\n'
    _, table, _ = read_all(f"<!DOCTYPE rows [\n{chain}]>\n<rows><row><v>&e0;</v></row></rows>".encode())
    assert rows(table) == [{"v": "end"}]


@pytest.mark.parametrize(
    ("document", "line", "entity"),
    [
        (b"<rows>\n<row>\n<v>&nope;</v></row></rows>", 3, "nope"),  # no DTD at all
        (b'<!DOCTYPE rows [<!ENTITY co "ACME">]>\n<rows>\n\n<row a="&nope;"/></rows>', 4, "nope"),
        (b'<!DOCTYPE rows [<!ENTITY co "ACME">]>\n<rows><row>&co;</row>\n<row>&nope;</row></rows>', 3, "nope"),
    ],
)
def test_an_undeclared_entity_is_a_well_formedness_error_naming_it_and_its_line(
    document: bytes, line: int, entity: str
) -> None:
    error, _ = refused(document)
    assert f"not well-formed XML (line {line}: Entity '{entity}' not defined)" in str(error)
    assert "the file must be quarantined as a whole" in str(error)


def test_an_undeclared_entity_stops_the_reading_with_its_line_whatever_follows() -> None:
    # lxml lets the parse go on after it and would read the rest as a new document, losing the line
    document = (
        b'<!DOCTYPE rows [<!ENTITY co "ACME">]>\n<rows>\n<row><v>&co;</v></row>\n<row><v>&nope;</v></row>\n'
        + b"<row><v>more</v></row>\n" * 300_000
        + b"</rows>"
    )
    stream = io.BytesIO(document)
    with pytest.raises(MalformedSourceError) as caught:
        list(read_source(stream, "f.xml", FileFormat()))
    assert "not well-formed XML (line 4: Entity 'nope' not defined) after 1 records" in str(caught.value)
    assert stream.tell() < 1_000_000 < len(document)


# --- bounded expansion: per record, per file ------------------------------------------------------

BIG = "x" * 99_000


def test_a_record_whose_references_expand_too_far_is_quarantined_and_the_others_read() -> None:
    # padding first, so that libxml2's own limit (5 times the input read) is not what stops it
    document = (
        f'<!DOCTYPE rows [<!ENTITY big "{BIG}">]>\n<rows>\n'
        f"<row><v>{'p' * 400_000}</v></row>\n"
        f"<row><v>{'&big;' * 11}</v></row>\n"
        "<row><v>&big;</v></row>\n"
        "</rows>"
    ).encode()
    batches, table, rejected = read_all(document, batch_rows=2)
    assert [len(value) for value in table.column("v").to_pylist()] == [400_000, 99_000]
    assert table.column("_source_line").to_pylist() == [1, 3]
    assert rejected[["_source_line", RULE_COLUMN]].values.tolist() == [[2, XML_ENTITY_EXPANSION_RULE]]
    assert rejected[REASON_COLUMN].tolist() == [
        "its entity references expand to 1089000 characters, more than 1000000 (mostly 'big'; record on line 4)"
    ]
    # the record as it is in the file, references unexpanded
    assert rejected["_raw_line"].tolist() == [f"<row><v>{'&big;' * 11}</v></row>"]
    assert_accounting(batches, 3)


def test_the_expansion_of_a_whole_file_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # libxml2 has its own bound (5 times the input beyond 1 MB); the reader's holds whatever it is
    monkeypatch.setattr(xml_entities, "ENTITY_LIMITS", EntityLimits(file_chars=2_000, amplification=1))
    document = (
        f'<!DOCTYPE rows [<!ENTITY e "{"y" * 100}">]>\n<rows>\n'
        + "".join(f"<row><v>{'&e;' * 4}</v></row>\n" for _ in range(20))
        + "</rows>"
    ).encode()
    chars_read = len(document)  # the whole document is read in the first chunk
    error, yielded = refused(document, batch_rows=2)
    assert isinstance(error, XmlEntityError)
    allowed = 2_000 + chars_read
    first_over = allowed // 400 + 1  # each record expands to 400 characters
    assert str(error).startswith(
        f"f.xml, line {2 + first_over}: entity references expand to {400 * first_over} characters after "
        f"{chars_read} characters of the document, more than 2000 plus 1 per character read (mostly 'e'"
    )
    assert sum(batch.table.num_rows for batch in yielded) <= first_over - 1


def test_limits_are_configurable_for_entities_and_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml_entities, "ENTITY_LIMITS", EntityLimits(entity_chars=10, record_chars=12))
    base = '<!DOCTYPE rows [<!ENTITY ten "0123456789">]>\n<rows><row><v>&ten;</v></row><row><v>&ten;&ten;</v></row>'
    batches, table, rejected = read_all(f"{base}</rows>".encode())
    assert table.column("v").to_pylist() == ["0123456789"]
    assert rejected[RULE_COLUMN].tolist() == [XML_ENTITY_EXPANSION_RULE]
    assert_accounting(batches, 2)
    error, _ = refused(b'<!DOCTYPE rows [<!ENTITY eleven "01234567890">]>\n<rows/>')
    assert isinstance(error, XmlEntityError)
    assert error.entity == "eleven"


# --- lines of the original file --------------------------------------------------------------------

MULTILINE = """<?xml version="1.0" encoding="{encoding}"?>
<!-- a comment
     on two lines, with <!ENTITY fake SYSTEM "x"> in it -->
<!DOCTYPE rows [
  <!ENTITY co "A
C
ME">
  <!ENTITY
     ext
     SYSTEM "file:///etc/passwd">
]>
<rows/>
"""

USE = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE rows [
  <!ENTITY co "ACME
Corp">
]>
<rows>
<row><v>&co;</v></row>
<row>
  <v>&nope;</v>
</row>
</rows>
"""


@pytest.mark.parametrize(
    ("encoding", "bom", "newline"),
    [
        ("UTF-8", b"", "\n"),
        ("UTF-8", b"\xef\xbb\xbf", "\n"),
        ("UTF-8", b"", "\r\n"),
        ("UTF-8", b"", "\r"),
        ("UTF-16", b"", "\n"),  # Python's utf-16 codec writes a byte-order mark
        ("UTF-16", b"", "\r\n"),
        ("ISO-8859-1", b"", "\n"),
    ],
)
def test_reasons_name_the_lines_of_the_original_file(encoding: str, bom: bytes, newline: str) -> None:
    def encoded(text: str) -> bytes:
        return bom + text.format(encoding=encoding).replace("\n", newline).encode(encoding.lower())

    # a declaration on several lines: the line where it starts
    error, _ = refused(encoded(MULTILINE), encoding=None)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == ("ext", 8)
    # a use, after a replacement text on two lines
    error, yielded = refused(encoded(USE), encoding=None)
    assert "line 9: Entity 'nope' not defined" in str(error)
    # the text of the entity keeps its line break (as LF, as XML reads CR LF and CR)
    values = [value for batch in yielded for value in batch.table.column("v").to_pylist()]
    assert values in ([], ["ACME\nCorp"])
    document = encoded(USE.replace("&nope;", "&co;"))
    _, table, _ = read_all(document, encoding=None)
    assert table.column("v").to_pylist() == ["ACME\nCorp", "ACME\nCorp"]


def test_declaration_lines_are_not_fooled_by_comments_literals_and_instructions() -> None:
    document = b"""<?xml version="1.0"?>
<!DOCTYPE rows PUBLIC "-//ACME//rows" "rows.dtd" [
  <!-- <!ENTITY ext "decoy"> ] -->
  <!ATTLIST rows note CDATA "]> %ext; 'decoy'">
  <?pi <!ENTITY ext "decoy"> ]?>
  <!ENTITY gt2 "]>">
  <!ELEMENT rows ANY>
  <!ENTITY ext SYSTEM "file:///etc/passwd">
]>
<rows/>
"""
    error, _ = refused(document)
    assert isinstance(error, XmlEntityError)
    assert (error.entity, error.line) == ("ext", 8)


def test_a_line_break_split_between_two_chunks_counts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['<!DOCTYPE rows [<!ENTITY co "ACME">]>', "<rows>", "<row><v>&co;</v></row>", "<row><v>&nope;</v></row>"]
    document = "\r\n".join(lines).encode()
    chunks = [document[i : i + 7].decode() for i in range(0, len(document), 7)]
    assert any(chunk.endswith("\r") for chunk in chunks)
    reader = xml_format._Utf8Reader(iter(chunks))
    text = b"".join(iter(lambda: reader.read(5), b"")).decode()
    assert text == "\n".join(lines)
    assert reader.chars_read == len(document)


# --- records and memory ----------------------------------------------------------------------------


def test_records_with_entities_are_freed_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    earlier_siblings: list[list[tuple[int, str | None]]] = []
    convert = xml_format._xml_record

    def spy(position: int, element: Any, fmt: FileFormat) -> Any:
        earlier = list(element.itersiblings(preceding=True))
        earlier_siblings.append([(len(sibling), sibling.text) for sibling in earlier])
        return convert(position, element, fmt)

    monkeypatch.setattr(xml_format, "_xml_record", spy)
    document = (
        b'<!DOCTYPE rows [<!ENTITY co "ACME"><!ENTITY m "<c>&co;</c>">]>'
        b"<rows><head>x</head>" + b"<row><v>&co; &m;</v></row>&co;" * 50 + b"</rows>"
    )
    batches, table, _ = read_all(document, xml_record_path="/rows/row")
    assert table.column("v").to_pylist() == ["ACME "] * 50
    assert table.column("v.c").to_pylist() == ["ACME"] * 50
    # only the element just before is left, emptied, and the reference after it: everything
    # earlier (references too) was deleted
    assert earlier_siblings == [[(0, None)]] + [[(0, "&co;"), (0, None)]] * 49
    assert_accounting(batches, 50)


def test_many_records_with_entities_balance_in_every_batch() -> None:
    records = "".join(
        f'<row n="{i}"><v>&co; {i}</v></row>' if i % 7 else f"<row n='{i}'><v>&co;</v><v>{'&big;' * 11}</v></row>"
        for i in range(1, 50)
    )
    document = (
        f'<!DOCTYPE rows [<!ENTITY co "ACME"><!ENTITY big "{"z" * 99_000}">]>\n<rows>'
        f"<pad>{'p' * 4_000_000}</pad>{records}</rows>"
    ).encode()
    batches, table, rejected = read_all(document, batch_rows=10, xml_record_path="//row")
    assert table.column("v").to_pylist() == [f"ACME {i}" for i in range(1, 50) if i % 7]
    assert rejected["_source_line"].tolist() == [7, 14, 21, 28, 35, 42, 49]
    assert set(rejected[RULE_COLUMN]) == {XML_ENTITY_EXPANSION_RULE}
    assert_accounting(batches, 49)
