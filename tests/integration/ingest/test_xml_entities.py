"""XML entities and DTDs that name a real HTTP server on loopback: nothing is ever requested from it.

The libxml2 bundled with lxml 6.1 has no HTTP client (``"http"`` is not in
``lxml.etree.LIBXML_FEATURES``), so the server's empty log guards against another build or a
resolver added on the Python side; the refusals (each naming its entity) are checked on their own.
"""

from __future__ import annotations

import io

import pytest
from pytest_httpserver import HTTPServer

from dataframe_pipeline.exceptions import MalformedSourceError, XmlEntityError
from dataframe_pipeline.ingest.files.format import FileFormat, check_source, read_source

SECRET = "SERVED-SECRET-VALUE"


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    """A server that would answer every path with an entity or a DTD, if it were asked."""
    dtd = f'<!ENTITY remote "{SECRET}"><!ENTITY % inner "<!ENTITY injected \'{SECRET}\'>"> %inner;'
    httpserver.expect_request("/x.dtd").respond_with_data(dtd, content_type="application/xml-dtd")
    httpserver.expect_request("/secret").respond_with_data(SECRET, content_type="text/plain")
    return httpserver


def read(document: str) -> list:
    return list(read_source(io.BytesIO(document.encode()), "f.xml", FileFormat()))


@pytest.mark.parametrize(
    ("prolog", "body", "entity"),
    [
        # an external general entity, used in text, in an attribute, or not at all
        ('<!DOCTYPE rows [<!ENTITY x SYSTEM "{url}/secret">]>', "<rows><row><v>&x;</v></row></rows>", "x"),
        ('<!DOCTYPE rows [<!ENTITY x SYSTEM "{url}/secret">]>', '<rows><row><v a="&x;">1</v></row></rows>', "x"),
        ('<!DOCTYPE rows [<!ENTITY x PUBLIC "-//x" "{url}/secret">]>', "<rows><row><v>1</v></row></rows>", "x"),
        # an external parameter entity, referenced in the internal subset
        ('<!DOCTYPE rows [<!ENTITY % p SYSTEM "{url}/x.dtd"> %p;]>', "<rows><row><v>&remote;</v></row></rows>", "%p"),
        # an external DTD with an entity used from it
        ('<!DOCTYPE rows SYSTEM "{url}/x.dtd">', "<rows><row><v>&remote;</v></row></rows>", "remote"),
        ('<!DOCTYPE rows PUBLIC "-//x" "{url}/x.dtd" []>', "<rows><row><v>&injected;</v></row></rows>", "injected"),
    ],
)
def test_external_entities_and_dtds_are_refused_without_a_request(
    server: HTTPServer, prolog: str, body: str, entity: str
) -> None:
    document = prolog.format(url=server.url_for("").rstrip("/")) + "\n" + body
    yielded: list = []
    with pytest.raises(XmlEntityError) as caught:
        yielded.extend(read_source(io.BytesIO(document.encode()), "f.xml", FileFormat()))
    assert caught.value.entity == entity
    with pytest.raises(XmlEntityError):
        check_source(io.BytesIO(document.encode()), "f.xml", FileFormat())
    assert yielded == []
    assert SECRET not in str(caught.value)
    assert server.log == []


def test_an_external_dtd_that_is_not_needed_is_not_requested(server: HTTPServer) -> None:
    document = f'<!DOCTYPE rows SYSTEM "{server.url_for("/x.dtd")}">\n<rows><row><v>1 &amp; 2</v></row></rows>'
    batches = read(document)
    assert batches[0].table.column("v").to_pylist() == ["1 & 2"]
    assert server.log == []


def test_an_external_entity_in_the_root_attribute_is_refused_without_a_request(server: HTTPServer) -> None:
    document = f'<!DOCTYPE rows [<!ENTITY x SYSTEM "{server.url_for("/secret")}">]>\n<rows a="&x;"><row/></rows>'
    with pytest.raises(MalformedSourceError, match=r"line 2: Attribute references external entity 'x'"):
        read(document)
    assert server.log == []
