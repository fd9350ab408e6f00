"""File sources of the ingest step.

``read_source(fileobj, source, FileFormat(...))`` (:mod:`.format`) streams a file as
:class:`~dataframe_pipeline.ingest.base.SourceBatch` es of at most ``batch_rows`` records, whatever
its format, compression and encoding:

========  ==============================================================================
kind      how it is read
========  ==============================================================================
csv, tsv  :func:`~dataframe_pipeline.ingest.csv_reader.read_csv_batches` (RFC 4180 records:
          quoted fields may span lines; malformed records quarantined whole); the delimiter
          can be sniffed
json      a top-level array of objects, or the array at ``records_path`` ("data.items") in a
          top-level object, parsed one record at a time (``json.JSONDecoder.raw_decode``)
jsonl     one object per line; a line that is not an object is quarantined, blank lines dropped
xml       the elements at ``xml_record_path`` ("/orders/order", "//order"; default: the root's
          children), streamed with ``lxml.etree.iterparse`` and freed as they are read
html      one ``<table>`` of the page (``html_table``: index, or text it contains), read with
          ``pandas.read_html``; its header is what HTML marks as one (``<thead>``, rows of
          ``<th>``), else columns are "0", "1", ... (or ``columns``). **The whole page is held
          in memory** (an HTML parser needs the document): fine for pages, not huge dumps
parquet   ``pyarrow.parquet.ParquetFile.iter_batches``; a compressed or non-seekable Parquet
          file is copied to a temporary file in ``temp_dir`` first (Parquet needs seeks)
========  ==============================================================================

Compression ("gzip", "bz2", "zstd", "zip") and format are detected from the name
(:func:`detect_kind`: ``orders.json.gz`` is gzip-compressed JSON) unless given. A zip archive
yields its members one after the other, each named ``archive.zip!member.csv`` (see
:mod:`~dataframe_pipeline.ingest.compression`). Text is decoded strictly
(:mod:`~dataframe_pipeline.ingest.encodings`); a byte-order mark never reaches a column name.

**Records and provenance.** Every row carries ``_source_file`` (the source name) and
``_source_line``: the physical line for JSON Lines and the record's first physical line for
CSV/TSV, the 1-based record number for JSON
arrays, XML, HTML tables and Parquet. Nested JSON objects are flattened into columns joined with
``flatten_sep`` (``{"a": {"b": 1}}`` gives column ``a.b``; an empty object adds no column); lists,
and objects when ``flatten_sep`` is None, are kept as JSON text. A JSON object holding a key twice
is quarantined (``duplicate_key``). The record layer is shared with HTTP and SQL
(:mod:`dataframe_pipeline.ingest.records`). An XML record's attributes and child elements
become columns the same way: ``<order id="1"><customer><name>Ann</name></customer></order>``
gives ``id`` and ``customer.name``; an element's text is the column of its own path (``#text``
for the record element itself); repeated child elements are kept as a JSON list.

**Types.** CSV/TSV, XML and HTML values are strings; JSON keeps numbers and booleans; Parquet keeps
its types; ``column_types`` converts any column to an Arrow type. So that every batch of a file has
the same schema, JSON and XML columns and types are decided by the first batch with a good row
(or by ``columns``): a later record with another non-null key, or a value that does not fit the
column's type (1.5 in an int64 column), is quarantined with the reason; a key whose value is null
carries nothing and is ignored. Columns that were null in that batch are strings.

**Row accounting.** For every batch: records in = rows yielded + rows quarantined + rows dropped
by a named rule (blank lines). Quarantined rows carry ``_source_file``, ``_source_line``,
``_raw_line`` (the line or the record's text), ``_rule`` and ``_reason``. A header-only CSV, an
empty JSON array and an XML document without records give one batch of 0 rows; a 0-byte file (or
archive member) raises :class:`EmptySourceError`.

**Whole-file errors.** Bytes that do not decode raise :class:`SourceDecodeError` (with the byte
offset); broken XML/JSON syntax, corrupt compressed data, an unsafe archive or a CSV record
longer than ``max_record_lines`` lines raise :class:`MalformedSourceError`. They may come after
batches were yielded: the caller must then drop what it took from the file and quarantine the file
as a whole. :func:`check_source` makes the same checks in a cheaper pass, to run before ingesting
(all but the CSV record length, which only the CSV parse finds).
"""

from __future__ import annotations
