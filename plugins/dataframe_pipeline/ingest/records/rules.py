"""The rules a rejected record is quarantined under, and the column of its raw text: one set of names
for files, APIs and tables."""

from __future__ import annotations

#: the column of a rejected record's raw text (the line, or the record's JSON or XML)
RAW_LINE_COLUMN = "_raw_line"


#: a JSON Lines line or XML record that cannot be read
MALFORMED_RECORD_RULE = "malformed_record"


#: a JSON record that is not an object (e.g. a number in the array)
NOT_AN_OBJECT_RULE = "not_an_object"


#: a JSON object of the record holds the same key twice (``{"id": 2, "id": 3}``), at any depth
DUPLICATE_KEY_RULE = "duplicate_key"


#: two values of a record map to the same column name (``"a.b"`` and ``a`` > ``b``; an XML attribute and child)
DUPLICATE_COLUMN_RULE = "duplicate_column"


#: a record with a non-null key outside the source's columns
UNEXPECTED_COLUMN_RULE = "unexpected_column"


#: a value that does not fit its column's type
TYPE_MISMATCH_RULE = "type_mismatch"


#: blank lines of a JSON Lines file (dropped, not quarantined)
JSONL_BLANK_LINE_RULE = "jsonl_blank_line"
