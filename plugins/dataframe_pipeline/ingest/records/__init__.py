"""The shared record layer of ingest: records (JSON objects from files and API pages, XML elements,
table rows) become typed Arrow batches the same way for files, HTTP and SQL, and the ones that
cannot are rejected with the same rules, the same reasons and the same quarantine layout.

**Flattening.** Nested objects become columns joined with ``flatten_sep`` (``{"a": {"b": 1}}`` gives
``a.b``); lists, and objects when ``flatten_sep`` is None, are values, stored as compact JSON text.
An empty object has no fields, so it adds no columns (as ``pandas.json_normalize`` does), except
under a name that already is a column of its own (decided from a record where it was a value):
there an object, empty or not, is that column's value (JSON text in a string column; in another
type it is a type mismatch).

**Schema.** The columns and types of a source are decided by its first group holding a good record
(a file's first such batch, an API's first such page), or by declared ``columns``, and kept, so a
source never changes schema: bool, int64, double (ints and floats mixed) or string (text, lists,
objects, mixed kinds, ints beyond int64, and columns null throughout that group); ``column_types``
converts any column to an Arrow type. Ints become doubles only when exact (``|n| <= 2**53``).

**Later records.** A record with a non-null key outside the columns is rejected; a key whose value
is null carries nothing and is not a rejection (the row has no such column to put it in, and
nothing is lost). A value that does not fit its column's type is rejected; string columns take
any value (non-strings as JSON text).

**Rules** (the ``_rule`` of a quarantined record): :data:`NOT_AN_OBJECT_RULE`,
:data:`DUPLICATE_KEY_RULE`, :data:`DUPLICATE_COLUMN_RULE`, :data:`UNEXPECTED_COLUMN_RULE`,
:data:`TYPE_MISMATCH_RULE`, :data:`MALFORMED_RECORD_RULE`; blank JSON Lines lines are dropped by
:data:`JSONL_BLANK_LINE_RULE`. A rejected record's row is ``_source_file``, ``_source_line``, its
raw text in :data:`RAW_LINE_COLUMN` (a file's line or record text, an API record as compact JSON,
a typed row as a JSON object), ``_rule`` and ``_reason``, indexed by ``_source_line``.

**Repeated keys.** JSON objects are decoded with an ``object_pairs_hook`` (:data:`UNIQUE_KEYS`)
(``keys.py``) that notices a key given twice, which plain ``json`` would silently resolve to the last value. A
record holding one at any depth is rejected under :data:`DUPLICATE_KEY_RULE` naming the key's
path; a repeated key outside the records is the reader's to fail on (:func:`_repeated_key`).

Modules: ``rules.py`` (the rule names), ``keys.py`` (JSON decoding that sees repeated keys),
``flatten.py`` (records to flat values), ``types.py`` (Arrow types: inference, fitting, casts),
``tabulate.py`` (records to batches with one schema per source, rejected records to quarantine rows).
"""

from __future__ import annotations

from dataframe_pipeline.ingest.records.rules import (
    DUPLICATE_COLUMN_RULE,
    DUPLICATE_KEY_RULE,
    JSONL_BLANK_LINE_RULE,
    MALFORMED_RECORD_RULE,
    NOT_AN_OBJECT_RULE,
    RAW_LINE_COLUMN,
    TYPE_MISMATCH_RULE,
    UNEXPECTED_COLUMN_RULE,
)

__all__ = [
    "DUPLICATE_COLUMN_RULE",
    "DUPLICATE_KEY_RULE",
    "JSONL_BLANK_LINE_RULE",
    "MALFORMED_RECORD_RULE",
    "NOT_AN_OBJECT_RULE",
    "RAW_LINE_COLUMN",
    "TYPE_MISMATCH_RULE",
    "UNEXPECTED_COLUMN_RULE",
]
