"""Where records start and end among physical lines when quoted fields span lines: the lines that are
whole one-line records are matched all at once (Arrow's RE2 engine), the others followed quote by quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING

from dataframe_pipeline.exceptions import (
    MalformedSourceError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from dataframe_pipeline.ingest.files.csv.options import CsvOptions


_LINE_ENDINGS = "only LF and CRLF line endings are supported"


# where the quote scan of a line ends: outside quotes, inside the quoted field that was open when the
# line started, or inside a quoted field opened on the line
_OUTSIDE, _STILL_OPEN, _OPENED = 0, 1, 2


def _has_bare_cr(data: str) -> bool:
    """Whether ``data`` (lines joined or ended with LF) has a carriage return that is not part of a CRLF."""
    if "\r" not in data:
        return False
    return data.count("\r") != data.count("\r\n") + data.endswith("\r")


def _after_quoted(body: str, pos: int, quote: str) -> int:
    """Index just after the quote closing the quoted content that starts at ``pos``; -1 if none."""
    while True:
        end = body.find(quote, pos)
        if end < 0:
            return -1
        if not body.startswith(quote, end + 1):
            return end + 1
        pos = end + 2  # a doubled quote is a literal quote


def _field_end(body: str, pos: int, delimiter: str, has_cr: bool) -> tuple[int, bool]:
    """Where the unquoted part of a field from ``pos`` ends (-1: at the line end), and whether at a CR."""
    end = body.find(delimiter, pos)
    if has_cr:
        cr = body.find("\r", pos)
        if cr >= 0 and (end < 0 or cr < end):
            return cr, True
    return end, False


def _scan_line(body: str, inside: bool, delimiter: str, quote: str) -> tuple[int, bool, int]:
    """Follow the quotes of one line (without its line ending), as the parsers do.

    A quote opens a quoted field only at the start of a field, a doubled quote inside it is a
    literal quote, after the closing quote the field goes on unquoted, and a carriage return
    outside quotes ends the record (Arrow and Python's ``csv`` read it so), a field starting after it.

    :param inside: whether the line starts inside a quoted field opened on an earlier line.
    :returns: where the line ends (``_OUTSIDE``, ``_STILL_OPEN``, ``_OPENED``), whether it has a
        carriage return outside quotes, and the index of the first character that follows a closing
        quote and is neither the delimiter nor a line end (-1: none).
    """
    has_cr = "\r" in body
    bare_cr, junk = False, -1
    quoted, open_state, pos = inside, _STILL_OPEN, 0
    if not inside and body.startswith(quote):
        quoted, open_state, pos = True, _OPENED, 1
    while True:
        if quoted:
            pos = _after_quoted(body, pos, quote)
            if pos < 0:
                return open_state, bare_cr, junk
            if junk < 0 and pos < len(body) and body[pos] != delimiter and body[pos] != "\r":
                junk = pos
        end, at_cr = _field_end(body, pos, delimiter, has_cr)
        if end < 0:
            return _OUTSIDE, bare_cr, junk
        bare_cr = bare_cr or at_cr
        pos = end + 1
        quoted = body.startswith(quote, pos)
        if quoted:
            open_state, pos = _OPENED, pos + 1


def _closed_line_pattern(delimiter: str, quote: str) -> str:
    """An RE2 pattern of a line that :func:`_scan_line` leaves outside quotes, with no bare carriage return.

    Fields are a quoted part (doubled quotes inside) and an unquoted rest not starting with a quote,
    or an unquoted field not starting with a quote; a CRLF's CR may end the line. The parse is unique
    (each alternative starts with a different character), so a match is exactly the scan's answer.
    """
    d, q = f"\\x{{{ord(delimiter):x}}}", f"\\x{{{ord(quote):x}}}"
    rest = f"(?:[^{q}{d}\\r][^{d}\\r]*)?"
    field = f"(?:{q}(?:[^{q}]|{q}{q})*{q}{rest}|{rest})"
    return f"^{field}(?:{d}{field})*\\r?$"


def _where(first: int, last: int) -> str:
    """The lines of a record spanning several, for reasons (nothing for a one-line record)."""
    return "" if first == last else f" (record on lines {first}-{last})"


def _record_text(lines: Sequence[str], start: int, stop: int) -> str:
    """The raw text of ``lines[start:stop]``: joined with their own line endings, the last one without."""
    if stop - start == 1:
        return lines[start].removesuffix("\r")
    return "\n".join(lines[start:stop]).removesuffix("\r")


@dataclass
class _Records:
    """Where the records of a block are.

    Record ``k`` is ``lines[starts[k]:starts[k + 1]]``, the last one ending at ``stop``. ``problems``
    maps the start of a record the scan found malformed to its stop and reason; ``open_reason`` is
    set when the lines from ``stop`` to the end hold a quoted field never closed (end of file).
    """

    starts: Sequence[int]
    stop: int
    problems: dict[int, tuple[int, str]] = field(default_factory=dict)
    open_reason: str | None = None

    def spans(self) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of each record, in order."""
        return zip(self.starts, chain(self.starts[1:], [self.stop]), strict=False)

    def span(self, record: int) -> tuple[int, int]:
        """``(start, stop)`` of record number ``record``."""
        following = record + 1
        return self.starts[record], self.starts[following] if following < len(self.starts) else self.stop


class _RecordScan:
    """Finds where the records of a block start, following the quotes line by line.

    Lines given to :meth:`line` are scanned. Runs given to :meth:`plain` need no scan: outside
    quotes each of their lines is a whole record (no quote, or a complete one-line record); inside a
    quoted field they hold no quote, so the field goes on through them. Line indices are the
    block's; ``first_line`` is the file's number of index 0.
    """

    def __init__(self, options: CsvOptions, source: str, first_line: int) -> None:
        self.delimiter, self.quote = options.delimiter, options.quotechar
        self.max_lines = options.max_record_lines
        self.source, self.first_line = source, first_line
        self.starts: list[int] = []
        self.problems: dict[int, tuple[int, str]] = {}
        self.inside = False
        self.opened = -1  # line where the quote still open opened
        self.bare_cr = -1  # first line of the current record with a carriage return outside quotes
        self.junk: tuple[int, str] = (-1, "")  # first line (and character) with a bad closing quote

    def plain(self, start: int, stop: int) -> None:
        """Lines ``start`` to ``stop - 1`` need no scan (see the class docstring)."""
        if self.inside:
            self._check_length(stop)
        else:
            self.starts.extend(range(start, stop))

    def line(self, index: int, line: str) -> None:
        """Scan line ``index``: a record starts there unless a quoted field is open."""
        if not self.inside:
            self.starts.append(index)
            self.bare_cr, self.junk = -1, (-1, "")
        body = line.removesuffix("\r")
        state, bare_cr, junk = _scan_line(body, self.inside, self.delimiter, self.quote)
        if bare_cr and self.bare_cr < 0:
            self.bare_cr = index
        if junk >= 0 and self.junk[0] < 0:
            self.junk = (index, body[junk])
        if state == _OPENED:
            self.opened = index
        self.inside = state != _OUTSIDE
        self._check_length(index + 1)
        if not self.inside:
            reason = self._problem(self.starts[-1], index + 1)
            if reason:
                self.problems[self.starts[-1]] = (index + 1, reason)

    def records(self, n_lines: int) -> _Records:
        """The records of the ``n_lines`` scanned lines; one still open there is left apart (end of file)."""
        if not self.inside:
            return _Records(self.starts, n_lines, self.problems)
        start = self.starts[-1]
        where = _where(self.first_line + start, self.first_line + n_lines - 1)
        reason = f"quoted field opened on line {self.first_line + self.opened} is not closed at the end of the file"
        return _Records(self.starts[:-1], start, self.problems, reason + where)

    def _problem(self, start: int, stop: int) -> str | None:
        where = _where(self.first_line + start, self.first_line + stop - 1)
        if self.bare_cr >= 0:
            on = f" on line {self.first_line + self.bare_cr}" if where else ""
            return f"carriage return outside quotes{on}; {_LINE_ENDINGS}{where}"
        if self.junk[0] >= 0 and where:
            return (
                f"closing quote followed by {self.junk[1]!r} on line {self.first_line + self.junk[0]}, not by the "
                f"delimiter or the end of the record (a quote opened by mistake?){where}"
            )
        return None

    def _check_length(self, stop: int) -> None:
        start = self.starts[-1]
        if stop - start <= self.max_lines:
            return
        last = self.first_line + stop - 1
        state = f"is still open on line {last}" if self.inside else f"closes on line {last}"
        raise MalformedSourceError(
            f"{self.source}: the record starting on line {self.first_line + start} spans more than "
            f"max_record_lines={self.max_lines} lines (its quoted field opened on line "
            f"{self.first_line + self.opened} {state}). A quote opened by mistake leaves no safe place to read "
            "rows again, so the file is malformed as a whole: quarantine it, or raise max_record_lines if its "
            "records are really this long"
        )
