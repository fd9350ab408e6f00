"""Paginated JSON APIs as an ingest source.

:class:`HttpReader` reads the records of a JSON API page by page (httpx, synchronous) and yields
:class:`~dataframe_pipeline.ingest.base.SourceBatch` blocks of at most ``batch_rows`` records, each
record tagged with the page URL (``_source_file``, secrets redacted) and its 1-based record number
across all pages (``_source_line``). Configuration is a frozen :class:`HttpSource`, with an
:class:`HttpAuth` (basic, bearer, API key, OAuth2 client credentials) and a :class:`Pagination`
style (page number, offset/limit, cursor, ``Link`` header, next URL in the body).

**Records.** ``records_path`` ("data.items") finds the list of records in the body (``None``: the
body is the list). Records are flattened, typed and rejected by the shared record layer, exactly
as JSON files are (:mod:`dataframe_pipeline.ingest.records`): nested objects are flattened with
``flatten_sep`` ("location.lat"), an empty object adds no column, lists are kept as JSON text. The
columns and their Arrow types are decided from the first page holding a good object record: bool,
int64, double (ints and floats mixed; an int only when a double holds it exactly) or string
(strings, lists, mixed kinds, and columns that are null throughout that page). Every batch then
has exactly those columns and types. A later record is quarantined with its compact JSON in
``_raw_line`` and the reason, under the record layer's rules: ``not_an_object``,
``duplicate_key`` (an object of the record holds a key twice, at any depth), ``duplicate_column``
(two fields flatten to one name), ``unexpected_column`` (a non-null field the first page did not
have; a null one carries nothing and is ignored), ``type_mismatch`` (``"abc"`` or ``2.5`` in an
int64 column). String columns accept any value (non-strings as JSON text), so a column that was
null throughout the first page never rejects anything. A key repeated outside the records (the
page's envelope, ``{"data": [...], "data": [...]}``) makes the page ambiguous: the read fails
with :class:`~dataframe_pipeline.exceptions.DataContractError` naming the key.

**Failures.** 429, 5xx and connection errors are retried ``max_retries`` times with exponential
backoff and full jitter (``Retry-After`` in seconds or as an HTTP date is honoured; a server asking
for more than ``max_backoff_seconds`` fails at once); other statuses fail at once. Both raise
:class:`HttpSourceError` with the status and the server's message. Redirects are not followed. A
next-page link off the base URL's scheme, host and port raises :class:`UnsafeUrlError`; a cursor or
next URL that was fetched before raises :class:`PaginationLoopError`; ``max_pages`` bounds the rest
(reported in :attr:`HttpReader.stats` and logged as a warning).

**Secrets** (passwords, tokens, API keys, client secrets, the OAuth2 access token) are added to
requests by the transport, after httpx logs the request, and are replaced by ``***`` in every log
line, exception message and ``_source_file`` this module writes. Secrets shorter than 4 characters
are not scrubbed from free text (they would mangle every message); query parameters named like a
secret are always redacted.

**Memory** is bounded by one page plus one batch (and the URLs of the pages fetched, kept to spot
loops, at most ``max_pages``): pages are read whole (a JSON body cannot be consumed record by record
without a streaming parser), so a single huge page is held in memory.
"""

from __future__ import annotations
