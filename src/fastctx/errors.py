"""Exceptions and warnings. Every error says what went wrong, where, with a caret excerpt."""

from __future__ import annotations

__all__ = [
    "FastctxError",
    "FormatError",
    "UnknownVariableError",
    "RenderError",
    "BufferTooSmallError",
    "ParseError",
    "InputError",
    "FormatWarning",
    "RenderWarning",
    "caret_excerpt",
]

_EXCERPT_WIDTH = 72


def caret_excerpt(text: str, index: int, width: int = _EXCERPT_WIDTH) -> str:
    """Two lines: a window of ``text`` around ``index`` (0-based) and a caret under it.

    Long texts are cut to ``width`` characters with ``...`` marking the cut, so an error about
    a 3 KB template or a 10 MB log line stays readable.
    """
    import unicodedata

    index = max(0, min(index, len(text)))
    index += text.count("\n", 0, index) + text.count("\r", 0, index)  # shown as two characters
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    start = max(0, index - width // 2)
    end = min(len(text), start + width)
    start = max(0, min(start, end - width))
    head = "..." if start > 0 else ""
    tail = "..." if end < len(text) else ""
    window = head + text[start:end] + tail
    # a wide character (CJK) takes two columns of a terminal: so does the caret's padding
    before = window[: len(head) + index - start]
    pad = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in before)
    return f"    {window}\n    {' ' * pad}^"


class FastctxError(Exception):
    """Base class of every fastctx error."""


class FormatError(FastctxError, ValueError):
    """A template that cannot be compiled.

    Attributes
    ----------
    template : str
        The template as given.
    column : int or None
        1-based character column of the problem, if it has one place.
    """

    def __init__(self, message: str, template: str = "", column: int | None = None):
        self.reason = message
        self.template = template
        self.column = column
        text = message
        if column is not None:
            text = f"{message}\n  at column {column}:\n{caret_excerpt(template, column - 1)}"
        super().__init__(text)

    def __reduce__(self):
        return (type(self), (self.reason, self.template, self.column))


class UnknownVariableError(FormatError):
    """A template names ``$context`` variables the API type does not support.

    Attributes
    ----------
    names : list of str
        The unsupported names, ``$context.`` included, in template order.
    suggestions : dict
        For each unsupported name, the nearest known one (or None).
    """

    def __init__(self, names, columns, suggestions, template: str):
        self.names = list(names)
        self.columns = list(columns)
        self.suggestions = dict(suggestions)
        listing = ", ".join(self.names)
        message = f"The following context variables are not supported: [{listing}]"
        super().__init__(message, template, None)
        parts = [message]
        for name, column in zip(self.names, self.columns):
            hint = self.suggestions.get(name)
            hint_text = f": did you mean {hint}?" if hint else ""
            parts.append(f"  {name} at column {column}{hint_text}\n{caret_excerpt(template, column - 1)}")
        self.args = ("\n".join(parts),)
        self.column = self.columns[0] if self.columns else None

    def __reduce__(self):
        return (type(self), (self.names, self.columns, self.suggestions, self.template))


class RenderError(FastctxError, ValueError):
    """A value that cannot be rendered: the column and row are named.

    Attributes
    ----------
    column : str
    row : int
        0-based row in the batch.
    """

    def __init__(self, message: str, column: str | None = None, row: int | None = None):
        self.column = column
        self.row = row
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.reason = message

    def __reduce__(self):
        return (type(self), (self.reason, self.column, self.row))


def timestamps_not_taken(column: str, takes: str) -> RenderError:
    """A timestamp column given for a variable that takes ``takes`` ("integers", "text"):
    rendered as its epoch milliseconds it would be a silently wrong value."""
    return RenderError(
        f"timestamps cannot be rendered as $context.{column}, which takes {takes} (only the "
        "epoch_ms and clf_time variables take timestamps)", column)


def value_error(kind: type, column: str, row: int, reason: str) -> Exception:
    """A ``kind`` (TypeError, ValueError or OverflowError) about one value of a column while
    building a Batch: ``column 'x' row 5: reason``, with ``column``, ``row`` (0-based) and
    ``reason`` as attributes, so that a caller can name the event in its own terms."""
    exc = kind(f"column {column!r} row {row}: {reason}")
    exc.column, exc.row, exc.reason = column, row, reason
    return exc


class BufferTooSmallError(FastctxError, ValueError):
    """``render_into`` ran out of room.

    Attributes
    ----------
    rows : int
        How many whole records fit (and were written), counted from ``start``.
    nbytes : int
        How many bytes those records take.
    start : int
        The row the call started at; the rest starts at row ``start + rows``.
    """

    def __init__(self, rows: int, nbytes: int, capacity: int, start: int = 0):
        self.rows = rows
        self.nbytes = nbytes
        self.capacity = capacity
        self.start = start
        super().__init__(
            f"output buffer of {capacity} bytes is too small: {rows} whole records "
            f"({nbytes} bytes) fit; render the rest from row {start + rows}"
        )

    def __reduce__(self):
        return (type(self), (self.rows, self.nbytes, self.capacity, self.start))


class ParseError(FastctxError, ValueError):
    """A record that does not match the format.

    Attributes
    ----------
    line : int
        1-based line number of the record.
    offset : int
        Byte offset of the problem in the input (a reject's ``offset`` is its record's
        start: the problem is ``column`` bytes after it).
    column : int
        Byte position of the problem in the record.
    expected : str
        The variable or literal that was expected there.
    reason : str
    raw : bytes
        The record's raw bytes.
    """

    def __init__(self, reason: str, line: int, offset: int, column: int, expected: str, raw: bytes):
        self.reason = reason
        self.line = line
        self.offset = offset
        self.expected = expected
        self.raw = raw
        self.column = column
        shown = raw.decode("utf-8", "backslashreplace")
        # column is a byte position in raw; the caret goes under the matching character.
        char_index = len(raw[:column].decode("utf-8", "backslashreplace"))
        super().__init__(
            f"line {line}, byte offset {offset} (byte {column} of the record): {reason}; "
            f"expected {expected}\n"
            f"{caret_excerpt(shown, char_index)}"
        )

    def __reduce__(self):
        return (type(self), (self.reason, self.line, self.offset, self.column, self.expected, self.raw))


class InputError(FastctxError, ValueError):
    """Input that cannot be read as logs: truncated or corrupt gzip, a bad CloudWatch payload."""


class FormatWarning(UserWarning):
    """A template that AWS accepts but that loses information (e.g. REST renders unknown names as -)."""


class RenderWarning(UserWarning):
    """A render that had to change a value to keep the line valid (e.g. XML-invalid characters dropped)."""
