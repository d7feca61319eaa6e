"""Readers for logs the way they arrive: files, stdin, gzip, CloudWatch Logs and Firehose.

``read`` yields Batches of bounded size; ``read_all`` joins them. Memory stays bounded: input
is read in blocks of about ``batch_size`` bytes, each block is cut after its last record
boundary and the unfinished record is carried into the next block, so a record split across
reads is parsed exactly once, and line numbers and byte offsets stay global.

Sources and kinds (``kind="auto"`` detects them from the first bytes; a UTF-8 byte-order mark
at the start is skipped, and byte offsets count it):

``lines``
    Records separated by ``\\n``. Plain files are memory-mapped (and the pages already
    parsed are dropped from memory); gzip, including multi-member files, is recognised by its
    magic bytes.
``export``
    CloudWatch Logs export to S3: every line is ``2024-07-10T18:15:21.799Z `` + the record.
    The prefix becomes an ``ingestionTime`` column (timestamp[ms, UTC]); byte offsets of
    rejects count the prefixes, as in the file. ``auto`` takes input for an export when the
    prefix starts at least half of its first 16 lines. A line of only its prefix is an empty
    record, with or without its newline; a line without the prefix (or with a date that does
    not exist) is rejected whole, never read with its first bytes in the wrong columns.
``subscription``
    CloudWatch Logs subscription payloads: gzip JSON, or the Lambda event that carries it
    base64-encoded under ``awslogs.data``. A ``DATA_MESSAGE``'s ``logEvents[].message`` are the
    records; their ``timestamp`` becomes an ``eventTimestamp`` column. ``CONTROL_MESSAGE``
    yields nothing. For these, a reject's ``line`` is the 1-based position of the log event in
    the source and its ``offset`` the byte offset in the events' messages joined by ``\\n``.
``firehose``
    Kinesis Data Firehose objects: subscription documents (each usually gzip) written back to
    back with no separator, the whole possibly gzip-compressed again. Read like
    ``subscription``.

Each line of ``export`` input is one record, and each log event of ``subscription`` and
``firehose`` input: a message holding a newline is rejected whole, and in ``auto`` CSV (where a
quoted field may hold newlines) a line or message that leaves a quoted field open is rejected
on its own, never joined to the next.

Examples
--------
>>> import fastctx, io
>>> fmt = fastctx.compile("$context.requestId $context.status")
>>> data = io.BytesIO(b"r1 200\\nr2 404\\n")
>>> fastctx.read_all(data, fmt).to_pydict()
{'requestId': ['r1', 'r2'], 'status': [200, 404]}
"""

from __future__ import annotations

import base64
import bisect
import binascii
import io as _io  # the standard library's (this module is fastctx.io)
import itertools
import json
import mmap
import os
import re
import select
import stat
import sys
import time
from collections import deque

import numpy as np

from . import _inflate
from ._export import strip_export
from .batch import Batch, Column
from .errors import InputError, ParseError
from .parallel import _Calls, as_integer, count_lines, needs_quote_tracking, parse as _parse_threads, resolve_threads

__all__ = ["read", "read_all", "KINDS", "ENVELOPE_COLUMNS"]

KINDS = ("auto", "lines", "export", "subscription", "firehose")
#: Columns a reader can add from the envelope, per kind.
ENVELOPE_COLUMNS = {
    "export": ("ingestionTime",),
    "subscription": ("eventTimestamp", "eventId", "logGroup", "logStream", "owner"),
    "firehose": ("eventTimestamp", "eventId", "logGroup", "logStream", "owner"),
    "lines": (),
}
_DEFAULT_ENVELOPE = {"export": ("ingestionTime",), "subscription": ("eventTimestamp",),
                     "firehose": ("eventTimestamp",), "lines": ()}

#: Input bytes per batch. Measured on a 2.16 GB CLF log, two threads: 32 MB batches peaked at
#: 320-370 MB resident reading plain or gzip input, and at 490-530 MB when every batch was
#: also written to Parquet; 16 MB batches at 325 MB writing Parquet (437 MB from the gzip),
#: in the same time.
DEFAULT_BATCH_SIZE = 16 << 20
#: Bytes a stream is read in, and the largest piece the inflater returns (the reader gathers
#: pieces into batches). Small, so that what is held besides the batches stays small.
READ_BLOCK = 4 << 20
#: Compressed bytes handed to the inflater at a time: with a bounded output per call it keeps
#: the rest of its input as a copy (``unconsumed_tail``), so the input it is given stays short.
_INFLATE_STEP = 256 << 10
#: A record longer than this (no newline for this many bytes) is an error, not a memory blow-up.
MAX_RECORD = 256 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MULTILINE = "the log event's message holds a newline; an access-log record is one line"
_EXPORT_PREFIX = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
_EXPORT_WIDTH = 25  # len("2024-07-10T18:15:21.799Z ")
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark
_DETECT_LINES = 16  # the first lines that tell an export object (``_detect``)
# A line that `auto` CSV's record framing ends at its newline: every field that starts with
# '"' is closed (RFC 4180: the field runs to the '"' not doubled; quotes elsewhere are plain).
# Possessive, so that a line of any length is matched in linear time.
_CSV_FIELD = rb'(?:"(?:[^"]|"")*+"[^,]*+|[^,"][^,]*+|)'
_CSV_CLOSED_LINE = re.compile(_CSV_FIELD + rb"(?:," + _CSV_FIELD + rb")*+")
_OPEN_QUOTE = "a quoted field is not closed before the end of the log event"
_CLOUDWATCH_KEY = re.compile(
    rb'\A\s*\{\s*"(messageType|owner|logGroup|logStream|subscriptionFilters|logEvents|awslogs)"\s*:'
)
# A JSON access log may start with any of those keys too ("messageType" as the name of
# $context.eventType, say): a subscription document is told by what its own keys hold, a
# message type of CloudWatch's, a list of log events or filters, or the Lambda event's
# object, found within a few KiB.
_CLOUDWATCH_BODY = re.compile(
    rb'"messageType"\s*:\s*"(?:DATA|CONTROL)_MESSAGE"|"(?:logEvents|subscriptionFilters)"\s*:\s*\['
    rb'|\A\s*\{\s*"awslogs"\s*:\s*\{')
_CLOUDWATCH_SEARCH = 64 << 10


# -- the public functions ----------------------------------------------------------------------


def read(source, format, *, api: str = "websocket", escape: str = "auto",
         batch_size: int = DEFAULT_BATCH_SIZE, kind: str = "auto", on_error: str = "raise",
         threads=None, columns="auto", max_record: int = MAX_RECORD):
    """Parse logs from ``source`` lazily: an iterator of Batches of about ``batch_size`` input bytes.

    Parameters
    ----------
    source : str, os.PathLike, binary file object, bytes-like, or ``"-"``
        A path, an open binary file (``sys.stdin.buffer`` for ``"-"``), or the data itself.
        A text stream (``sys.stdin``, a file opened in text mode) is read through its bytes,
        from where its text has got to; one that has read ahead and cannot seek back (a pipe
        after a ``readline()``) raises ``InputError`` rather than lose those lines.
        A plain file given by its path is memory-mapped (its pages are read where they lie);
        if it shrinks while it is read, the operating system ends the process (SIGBUS), as
        for any memory-mapped file. A live log that may be truncated under the reader
        (logrotate's ``copytruncate``) is safer passed as an open file, which is read with
        ``read()``: it then ends where the file was cut (a record cut there is rejected).
    format : Format or str
        A compiled ``Format`` or a template string (compiled with ``api`` and ``escape``).
    batch_size : int
        Input bytes per batch (default 16 MiB; records are never cut, a longer record makes a
        larger batch). Peak memory is a few batches and their columns, whatever the input size.
    kind : {"auto", "lines", "export", "subscription", "firehose"}
        What the source holds; ``auto`` detects it (see the module documentation).
    on_error : {"raise", "skip", "collect"}
        As for ``Format.parse``; line numbers and offsets are global across batches.
    threads : int, optional
        Threads per batch (default: all cores).
    columns : "auto" or iterable of str
        Envelope columns to add: ``ingestionTime`` (export); ``eventTimestamp``, ``eventId``,
        ``logGroup``, ``logStream``, ``owner`` (subscription, firehose). ``auto`` adds the
        timestamp column of the kind.
    max_record : int
        The longest record accepted, in bytes (a CR before the newline and an export
        prefix not counted), a log event's message included; a longer one raises
        ``InputError``. (A CloudWatch payload's JSON document is decoded whole.)

    Yields
    ------
    Batch
        Each with its own ``stats`` and ``rejects``.

    Raises
    ------
    InputError
        Truncated or corrupt gzip, a payload with bad base64 or bad JSON, an over-long record.
    ParseError
        A bad record under ``on_error="raise"``.
    """
    from .api import Format

    fmt = format if isinstance(format, Format) else Format(format, api, escape)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if on_error not in ("raise", "skip", "collect"):
        raise ValueError(f"on_error must be 'raise', 'skip' or 'collect', got {on_error!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    limit = as_integer(max_record)
    if limit is None or limit < 1:
        raise ValueError(f"max_record must be a positive number of bytes, got {max_record!r}")
    max_record = limit
    if columns != "auto" and kind != "auto":
        _envelope_columns(kind, columns)
    reader = _Reader(fmt, batch_size, on_error, threads, max_record)
    return _Batches(_iterate(source, reader, kind, columns), reader)


class _Batches:
    """The iterator ``read`` returns: its batches, and the reader behind them (``read_all``
    takes the envelope columns of an input that held no record from it)."""

    def __init__(self, batches, reader):
        self._batches = batches
        self.reader = reader

    def __iter__(self):
        return self

    def __next__(self) -> Batch:
        return next(self._batches)

    def close(self) -> None:
        """Stop reading now and close the source (as a generator's ``close``)."""
        self._batches.close()


def _iterate(source, reader, kind, columns):
    with _open(source) as (stream, mapped):
        blocks, head = _decoded(stream, mapped, reader.batch_size)
        # A byte-order mark (an editor's or a Windows tool's) is no part of the first record
        # (read into its first value, it made an IP address "\ufeff1.2.3.4"): it is skipped,
        # and byte offsets count it, as in the file.
        skip = len(_BOM) if head.startswith(_BOM) else 0
        reader.offset = skip
        if kind == "auto":
            kind = _detect(head[skip:])
        envelope = _envelope_columns(kind, columns)
        reader.envelope = envelope
        if kind in ("subscription", "firehose"):
            if isinstance(blocks, _MappedBlocks):  # documents are decoded piece by piece
                blocks = _read_blocks(stream, min(reader.batch_size, READ_BLOCK))
            yield from reader.documents(_skip_bytes(blocks, skip), envelope)
            return
        if isinstance(blocks, _MappedBlocks):
            blocks.start = skip
        else:
            blocks = _skip_bytes(blocks, skip)
        if kind == "export":
            yield from reader.export(blocks, envelope)
        else:
            yield from reader.lines(blocks)


def read_all(source, format, **options) -> Batch:
    """Everything ``read`` yields, as one Batch (stats summed, rejects in order).

    Examples
    --------
    >>> import fastctx
    >>> b = fastctx.read_all(b"a 1\\nb x\\n", "$context.requestId $context.status", on_error="collect")
    >>> b.to_pydict(), b.stats.rejected, b.rejects[0].line
    ({'requestId': ['a'], 'status': [1]}, 1, 2)
    """
    from .api import Format

    fmt = format if isinstance(format, Format) else Format(
        format, options.get("api", "websocket"), options.get("escape", "auto"))
    reading = read(source, fmt, **options)
    batches = list(reading)
    if not batches:
        return empty_batch(fmt, reading.reader.envelope)
    if len(batches) == 1:
        return batches[0]
    return Batch.concat(batches)


def empty_batch(fmt, envelope=()) -> Batch:
    """The columns a batch of ``fmt`` with the ``envelope`` columns would have had, empty."""
    empty = fmt.parse(b"", threads=1)
    columns = empty.columns
    for name in envelope:
        columns[name] = _typed_column(name, [], None, np.zeros(0, dtype=bool))
    return Batch(columns, 0, empty.stats, [])


# -- opening and decoding ----------------------------------------------------------------------


class _open:
    """Context manager: ``(stream, mapped)`` where ``mapped`` is an mmap of a plain file or None."""

    def __init__(self, source):
        self.source = source
        self.close = []

    def __enter__(self):
        source = self.source
        if isinstance(source, (bytes, bytearray, memoryview)):
            if isinstance(source, memoryview) and not source.c_contiguous:
                source = source.tobytes()  # a strided view: BytesIO takes contiguous memory
            return _io.BytesIO(source), None
        if isinstance(source, str) and source == "-":
            return _text_buffer(sys.stdin, "stdin"), None
        if isinstance(source, (str, os.PathLike)):
            try:
                handle = open(source, "rb")
            except OSError as exc:
                raise InputError(f"cannot open {os.fspath(source)!r}: {exc.strerror}") from None
            self.close.append(handle)
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
                # a pipe, a FIFO, /dev/stdin, <(command): read as a stream, never seek
                return handle, None
            mapped = None
            try:
                if handle.read(2) != _GZIP_MAGIC:
                    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                    self.close.insert(0, mapped)
            except (OSError, ValueError):
                mapped = None
            handle.seek(0)
            return handle, mapped
        if hasattr(source, "read"):
            if hasattr(source, "encoding") and hasattr(source, "buffer"):
                source = _text_buffer(source)  # a text stream such as sys.stdin: its bytes
            elif hasattr(source, "encoding") and not hasattr(source, "readinto"):
                raise TypeError("open the file in binary mode ('rb')")  # io.StringIO
            return source, None
        raise TypeError(f"cannot read logs from a {type(source).__name__}")

    def __exit__(self, *exc):
        for item in self.close:
            try:
                item.close()
            except BufferError:
                pass  # a batch still views the map; it is freed with the last view
        return False


def _text_buffer(stream, name: str = "the text stream"):
    """The binary buffer under a text stream, at the first byte its text has not given out.

    A text stream reads ahead: after a ``readline()`` its buffer is up to 8 KiB past the
    line, and reading the buffer from there would lose those lines without a word. A
    seekable stream is put back where its text ends (``seek(tell())``); one that cannot be
    (a pipe) and still holds text read ahead is refused. (``reconfigure`` refuses a new
    encoding exactly while such text is held: the one way to ask.)"""
    try:
        if stream.seekable():
            stream.seek(stream.tell())
    except (AttributeError, OSError, ValueError):
        pass  # not seekable after all, or tell() refused while iterating: asked below
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(encoding=stream.encoding)
        except _io.UnsupportedOperation:
            raise InputError(
                f"{name} holds text it has read ahead (after a readline(), for instance), "
                "which its binary buffer no longer has: pass the binary stream from the "
                "start (sys.stdin.buffer, a file opened 'rb') and skip lines there") from None
    return stream.buffer


def _read_blocks(stream, size):
    """The stream's bytes as blocks of at most ``size``, until its end.

    A non-blocking stream (stdin set ``O_NONBLOCK`` by another program, a raw socket) says
    "nothing yet" with ``None``, or, through a buffered reader, with ``b""`` as at the end: the
    reader waits for data then, and takes ``b""`` for the end only once the stream is readable.
    """
    read = getattr(stream, "read1", None) or stream.read
    fd = _nonblocking_fd(stream)
    waited = False
    while True:
        block = read(size)
        if block:
            waited = False
            yield block
        elif block is None or (fd is not None and not waited):
            _wait_readable(fd)
            waited = fd is not None
        else:
            return


def _nonblocking_fd(stream):
    """The stream's file descriptor if it is set non-blocking, else None."""
    try:
        fd = stream.fileno()
        return None if os.get_blocking(fd) else fd
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _wait_readable(fd):
    if fd is None:
        time.sleep(0.001)  # no descriptor to wait on: poll
    else:
        select.select([fd], [], [])


def _steps(blocks, size):
    """The blocks cut into pieces of at most ``size`` bytes (views, not copies)."""
    for block in blocks:
        if len(block) <= size:
            yield block
            continue
        view = memoryview(block)
        for start in range(0, len(view), size):
            yield view[start : start + size]


def _gunzip(blocks, limit):
    """Decompress a (multi-member) gzip stream given as blocks; output pieces of at most ``limit``."""
    inflater = _inflate.decompressobj()
    consumed = 0
    started = False
    held = b""  # the start of a next member cut by a block boundary
    for block in _steps(blocks, _INFLATE_STEP):
        data = held + bytes(block) if held else block
        held = b""
        while data:
            if not started and data[:1] == b"\x00":
                # zero padding after a member, wherever a step cuts it (as Python's gzip)
                rest = bytes(data).lstrip(b"\x00")
                consumed += len(data) - len(rest)
                data = rest
                continue
            if not started and len(data) < 2 and _GZIP_MAGIC.startswith(bytes(data)):
                held = bytes(data)
                break
            if not started and data[:2] != _GZIP_MAGIC:
                raise InputError(
                    f"data after the end of a gzip member at compressed byte {consumed} "
                    "is not another gzip member")
            try:
                out = inflater.decompress(data, limit)
            except _inflate.errors as exc:
                raise InputError(f"corrupt gzip data near compressed byte {consumed}: {exc}") from None
            started = True
            if out:
                yield out
            if inflater.eof:
                rest = inflater.unused_data
                consumed += len(data) - len(rest)
                data = rest
                inflater = _inflate.decompressobj()
                started = False
            else:
                tail = inflater.unconsumed_tail
                consumed += len(data) - len(tail)
                data = tail
    if started and not inflater.eof:
        raise InputError(
            f"truncated gzip: the compressed stream ends after {consumed} bytes, inside a member, "
            "whose rest is missing")
    if held:
        raise InputError(f"truncated gzip: a member header is cut after {consumed} bytes")


def _peek(blocks, want=4096):
    """``(head, blocks')``: the first ``want`` bytes and an iterator that still yields everything."""
    held, size = deque(), 0
    for block in blocks:
        held.append(block)
        size += len(block)
        if size >= want:
            break
    head = b"".join(bytes(b[:want]) for b in held)[:want]

    def again():
        while held:  # let go of each peeked block once it is handed on
            yield held.popleft()
        yield from blocks

    return head, again()


def _decoded(stream, mapped, batch_size):
    """``(blocks, head)``: the decompressed content (gzip may be nested, as in Firehose)."""
    if mapped is not None:
        return _MappedBlocks(mapped), bytes(mapped[:4096])
    piece = min(batch_size, READ_BLOCK)
    blocks = iter(_read_blocks(stream, piece))
    head, blocks = _peek(blocks)
    for _ in range(4):  # a Firehose object gzipped as a whole holds gzip members in turn
        if head[:2] != _GZIP_MAGIC:
            break
        head, blocks = _peek(iter(_gunzip(blocks, piece)))
    return blocks, head


class _MappedBlocks:
    """Marker: the whole plain file as one mmap (``lines`` framing cuts it without copying),
    read from byte ``start``."""

    def __init__(self, mapped):
        self.mapped = mapped
        self.start = 0

    def __iter__(self):
        yield memoryview(self.mapped)[self.start :]


def _skip_bytes(blocks, count: int):
    """``blocks`` without their first ``count`` bytes (which may span several blocks)."""
    for block in blocks:
        if count:
            size = len(block)
            block = block[count:]
            count = max(0, count - size)
        if len(block):
            yield block


def _detect(head: bytes) -> str:
    if _CLOUDWATCH_KEY.match(head) and _CLOUDWATCH_BODY.search(head, 0, _CLOUDWATCH_SEARCH):
        return "subscription"
    # An export object whose first line lost its prefix (or a log with one stray prefixed
    # line) is still told apart: the prefix must start at least half of the first lines.
    lines = head.lstrip(b"\r\n").split(b"\n")
    if len(lines) > 1:
        del lines[-1]  # cut short by the size of the head, or empty
    lines = [line for line in lines if line not in (b"", b"\r")][:_DETECT_LINES]
    prefixed = sum(_EXPORT_PREFIX.match(line) is not None for line in lines)
    return "export" if lines and 2 * prefixed >= len(lines) else "lines"


def _envelope_columns(kind, columns):
    if columns == "auto":
        return _DEFAULT_ENVELOPE[kind]
    if isinstance(columns, str):
        columns = [columns]
    columns = tuple(columns or ())
    known = ENVELOPE_COLUMNS[kind]
    for name in columns:
        if name not in known:
            raise ValueError(
                f"column {name!r} is not available from {kind} input; available: "
                f"{', '.join(known) or 'none'}")
    return columns


# -- framing and parsing -----------------------------------------------------------------------


def _positions(array, byte: int, start: int, stop: int, block: int = 1 << 22) -> np.ndarray:
    """Indexes of ``byte`` in ``array[start:stop]``, found in blocks through one reused
    scratch mask: a whole-window mask is fresh memory as large as the batch, and on a machine
    where fresh pages are slow that made it ten times slower than the scan itself."""
    found = []
    scratch = np.empty(min(block, max(stop - start, 0)), dtype=bool)
    for lo in range(start, stop, block):
        hi = min(lo + block, stop)
        mask = scratch[: hi - lo]
        np.equal(array[lo:hi], byte, out=mask)
        found.append(np.flatnonzero(mask) + lo)
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _cut(buffer, start: int, stop: int, quotes: bool) -> int:
    """End of the last whole record in ``buffer[start:stop]`` (``start`` if none), where
    ``start`` is a record boundary: just after a newline outside quoted CSV fields.

    ``buffer`` is bytes or an mmap (both have ``rfind``). With ``quotes`` the records are
    framed as the parser frames them (RFC 4180): a ``"`` opens a quoted field only at the
    start of a field (after ``,`` or a record's start) and the field runs to a ``"`` that is
    not doubled; a ``"`` anywhere else is a plain byte. Counting every quote instead cut
    records in two (a stray ``"`` in one record made a newline inside a later quoted field
    look like a record end), so the reader's records differed from the parser's. A record
    whose quoted field holds a newline but whose quoting is not well-formed (a closing ``"``
    not before a ``,`` or the record's end: a raw line's stray quote) is its first line, as
    the parser frames it (``csv_well_formed`` in ``_parse.pyx``).

    A quoted field still open after ``max_record`` bytes is taken for a stray quote too: the
    reader then cuts at the last newline (``quotes`` False), and the parser, finding that
    record's quoting unclosed in its batch, frames it as its first line, as it does for a
    quote left open at the end of the input. Without this a stray quote made the reader fail
    (a record longer than ``max_record``) where a batch holding the rest of the input parsed
    it line by line.
    """
    cut = buffer.rfind(b"\n", start, stop) + 1
    if cut <= start or not quotes:
        return max(cut, start)
    array = np.frombuffer(buffer, dtype=np.uint8)
    marks = _positions(array, 0x22, start, cut)
    # Where every quote met outside a quoted field (an even count of quotes before it) is at
    # a field start or right after a quote (the second of a doubled pair), every quote that
    # closes a field is before a ',', a newline, a CRLF or another quote, and no field is
    # open at the last newline, quote parity is exactly the parser's state at every byte and
    # the cut is the last newline.
    outside = marks[0::2]
    before = array[np.maximum(outside - 1, 0)]
    closing = marks[1::2]
    after = array[closing + 1]  # (before the last newline, like every mark here)
    crlf = (after == 0x0D) & (array[np.minimum(closing + 2, cut - 1)] == 0x0A)
    if (bool(np.all((outside == start) | (before == 0x2C) | (before == 0x0A) | (before == 0x22)))
            and bool(np.all((after == 0x2C) | (after == 0x0A) | (after == 0x22) | crlf))
            and not (len(marks) % 2 and buffer.find(b'"', cut, stop) >= 0)):
        if not len(marks) % 2:
            return cut
        # a field open at the last newline, and no quote after it to close it: the last
        # newline with an even count of quotes before it (one search for all of them:
        # stepping back a newline at a time was quadratic after an unclosed quote). (A quote
        # after it may close the field before bytes that make the record a stray quote's
        # first line: the walk below sees to that.)
        newlines = _positions(array, 0x0A, start, cut)
        even = np.flatnonzero(np.searchsorted(marks, newlines) % 2 == 0)
        return int(newlines[even[-1]]) + 1 if len(even) else start
    # Otherwise walk the quotes in Python, those after the last newline too: a field open
    # there may close before bytes that make its record a stray quote's first line. Over
    # 94 MB of CSV with 530,000 quotes this took 175 ms against 60 ms for the vector test;
    # only input with a quote inside an unquoted field, one closing a field before other
    # bytes, or a field open at the last newline with a quote after it gets here.
    marks = _positions(array, 0x22, start, stop).tolist()
    count = len(marks)
    boundary = start  # just after the last newline known to end a record
    outside = start  # where the current stretch outside quoted fields begins
    index = 0
    while index < count:
        at = marks[index]
        if at != start and array[at - 1] != 0x2C and array[at - 1] != 0x0A:
            index += 1  # a quote inside an unquoted field: a plain byte
            continue
        newline = buffer.rfind(b"\n", outside, at)
        if newline >= 0:
            boundary = newline + 1
        close = index + 1
        while close + 1 < count and marks[close + 1] == marks[close] + 1:
            close += 2  # a doubled quote inside the field
        if close >= count or marks[close] + 1 >= stop:
            return boundary  # the field runs on past the window, or may (a quote at its end)
        end = marks[close] + 1
        follows = array[end]
        if follows == 0x0D and end + 1 >= stop:
            return boundary  # a CR at the window's end: is a newline next?
        if follows == 0x2C or follows == 0x0A or (follows == 0x0D and array[end + 1] == 0x0A):
            outside = end  # (past the last newline: its record is open, unless a stray quote)
            index = close + 1
            continue
        # not well-formed: the record is its first line, and the next starts after it
        newline = buffer.find(b"\n", boundary, cut)
        if newline < 0:
            return boundary
        boundary = outside = newline + 1
        index = bisect.bisect_left(marks, outside)
    newline = buffer.rfind(b"\n", outside, cut)
    return newline + 1 if newline >= 0 else boundary


class _Reader:
    def __init__(self, fmt, batch_size, on_error, threads, max_record):
        self.fmt = fmt
        self.parser = fmt._get_parser()
        self.program = fmt.program
        self.batch_size = batch_size
        self.on_error = on_error
        self.threads = threads
        self.max_record = max_record
        # the bytes of an export prefix before each record (set by ``export``): a line may
        # be longer than its record by those and a CR before its newline (``_max_line``)
        self.prefix = 0
        self.envelope = ()  # the envelope columns, once the kind is known
        self.quotes = needs_quote_tracking(fmt.program)
        self.line = 1
        self.offset = 0

    def _parse(self, data, on_error=None):
        batch = _parse_threads(self.parser, self.program, data, on_error or self.on_error,
                               self.threads, self.line, self.offset)
        self._advance(batch, data)
        return batch

    def _advance(self, batch, data):
        """Move the global line number and byte offset past ``data``."""
        if self.quotes:  # a quoted CSV field may hold newlines: lines, not records, count
            array = np.frombuffer(data, dtype=np.uint8)
            # plain ints: a numpy scalar here would make every later reject's line one
            self.line += count_lines(array, 0, len(array)) + int(len(array) > 0 and array[-1] != 0x0A)
        else:
            self.line += batch.stats.records
        self.offset += len(data)

    # plain lines

    def records(self, blocks, lag: int = 0, quotes: bool | None = None):
        """Whole-record chunks (bytes-like) of about ``batch_size`` bytes, in order.

        ``lag``: how many chunks after the current one may still be in use (being parsed)
        when the next is asked for; a memory map keeps their pages. ``quotes``: whether a
        newline inside a quoted CSV field ends no record (default: as the format parses);
        False where every line is one record.
        """
        quotes = self.quotes if quotes is None else quotes
        if isinstance(blocks, _MappedBlocks):
            yield from self._mapped_records(blocks.mapped, lag, quotes, blocks.start)
            return
        emitted = self.offset
        pieces, size = [], 0
        want = self.batch_size
        for block in blocks:
            pieces.append(block)
            size += len(block)
            if size < want:
                continue  # small reads (pipes, tiny blocks): gather a batch first
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            cut = _cut(data, 0, len(data), quotes)
            if cut == 0 and quotes and len(data) > self._max_line():
                cut = _cut(data, 0, len(data), False)  # a stray quote (see _cut)
            if cut == 0:  # a record longer than a batch so far: look again at twice the size
                self._check_length(len(data), emitted)
                pieces, want = [data], min(2 * len(data), self._max_line() + 1)
                continue
            want = self.batch_size
            self._check_lines(memoryview(data)[:cut], emitted)
            yield memoryview(data)[:cut]
            emitted += cut
            rest = data[cut:]
            pieces, size = ([rest], len(rest)) if rest else ([], 0)
        if pieces:
            data = b"".join(pieces)
            self._check_lines(data, emitted)
            yield data

    def _max_line(self) -> int:
        """The longest line that may hold a record of ``max_record`` bytes."""
        return self.max_record + 1 + self.prefix

    def _check_length(self, size, offset):
        if size > self._max_line():
            raise InputError(
                f"the record at byte offset {offset} is longer than {self.max_record} bytes: "
                "no record boundary found")

    def _check_lines(self, chunk, offset):
        """Raise for the first record of ``chunk`` (at byte ``offset``) longer than
        ``max_record`` bytes: its line without the newline, a CR before it or an export
        prefix. The cuts check the records longer than a batch; only a ``max_record`` below
        the batch size lets a shorter one through them."""
        size = memoryview(chunk).nbytes
        if size <= self.max_record:
            return
        array = np.frombuffer(chunk, dtype=np.uint8)
        starts, stops = _line_spans(array)
        for index in np.flatnonzero(stops - starts > self.max_record).tolist():
            start, stop = int(starts[index]), int(stops[index])
            length = stop - start - (stop < len(array) and array[stop - 1] == 0x0D)
            if self.prefix and _EXPORT_PREFIX.match(bytes(array[start : start + self.prefix])):
                length -= self.prefix
            if length > self.max_record:
                raise InputError(f"the record at byte offset {offset + start} is longer than "
                                 f"{self.max_record} bytes")

    def _mapped_records(self, mapped, lag=0, quotes=False, start=0):
        total = len(mapped)
        view = memoryview(mapped)
        dropped = 0
        cuts = deque(maxlen=lag + 1)
        pieces = deque()
        page = mmap.PAGESIZE
        try:
            while start < total:
                stop = min(start + self.batch_size, total)
                cut = stop if stop == total else _cut(mapped, start, stop, quotes)
                while cut == start:  # a record longer than a batch: twice the window, so
                    if quotes and stop - start > self._max_line():
                        cut = _cut(mapped, start, stop, False)  # a stray quote (see _cut)
                        if cut > start:
                            break
                    self._check_length(stop - start, start)  # a long record is read in linear time
                    stop = min(start + 2 * (stop - start), total)
                    cut = stop if stop == total else _cut(mapped, start, stop, quotes)
                piece = view[start:cut]
                self._check_lines(piece, start)
                yield piece
                pieces.append(piece)
                if len(pieces) > lag:  # no longer in use: let go of it now
                    try:
                        pieces.popleft().release()
                    except BufferError:
                        pass  # something still views it: it is freed with the last view
                # Drop the parsed pages from this process's memory, so a 2 GB file is read
                # with about one batch (per thread) of its pages resident at a time.
                cuts.append(cut)
                done = cuts[0] // page * page if len(cuts) > lag else 0
                if done > dropped and hasattr(mapped, "madvise"):
                    mapped.madvise(mmap.MADV_DONTNEED, dropped, done - dropped)
                    dropped = done
                start = cut
        finally:
            try:
                view.release()
            except BufferError:
                pass

    def lines(self, blocks):
        threads = resolve_threads(self.threads)
        chunks = iter(self.records(blocks, lag=threads))
        head = deque(itertools.islice(chunks, 2))
        several = len(head) == 2

        def ahead():
            # Every chunk and batch is let go of as soon as it is handed on: one held for the
            # whole read kept its input (a batch, its columns, which the next parse reuses).
            while head:
                yield head.popleft()
            yield from chunks

        if not several or threads == 1:
            # One batch in all (split across the threads), or one thread.
            for chunk in ahead():
                batch = self._parse(chunk)
                chunk = None
                if batch.stats.records:
                    yield batch
                batch = None
            return
        # Several batches: each on its own thread, `threads` in flight, yielded in order.
        # Unlike splitting every batch, this needs no join of the per-thread columns.
        pending = deque()
        offset = self.offset
        with _Calls(threads) as pool:  # the process's worker threads, kept between reads
            try:
                for chunk in ahead():
                    # line numbers are fixed up in _finish, once the lines before are counted
                    future = pool.submit(self.parser.parse, chunk, self.on_error, 1, offset)
                    pending.append((future, chunk))
                    offset += len(chunk)
                    chunk = None
                    if len(pending) > threads:
                        batch = self._finish(*pending.popleft())
                        if batch.stats.records:
                            yield batch
                        batch = None
                while pending:
                    batch = self._finish(*pending.popleft())
                    if batch.stats.records:
                        yield batch
                    batch = None
            finally:
                for future, _ in pending:
                    future.cancel()

    def _finish(self, future, chunk):
        try:
            batch = future.result()
        except ParseError:
            # parse the chunk again with its true line base, so the error names the global line
            self.parser.parse(chunk, self.on_error, self.line, self.offset)
            raise
        if self.line != 1:
            for reject in batch.rejects:
                reject.line += self.line - 1
        self._advance(batch, chunk)
        return batch

    # CloudWatch export to S3

    def export(self, blocks, envelope):
        # every line is one record (a line that leaves a quoted field open is rejected
        # alone by _parse_lines): cut at any newline
        self.prefix = _EXPORT_WIDTH
        for chunk in self.records(blocks, quotes=False):
            # the kernel copies the records out of the chunk: no copy of the chunk first
            records, prefixed, times, empty = strip_export(chunk)
            line = self.line
            # A line without the prefix (another log run in, a date that does not exist) is a
            # bad record like any other: parsed whole, its first bytes would be read into the
            # wrong columns. It is blanked (`_blank`).
            bare = np.flatnonzero(~(prefixed | empty))
            replaced = {}
            if len(bare):
                records, replaced = self._blank_unprefixed(records, bare.tolist(), prefixed)
            batch, records = self._parse_lines(records, len(prefixed), prefixed)
            _own_rejects(batch, line, replaced)
            self.offset += memoryview(chunk).nbytes
            extra = {"ingestionTime": (times, prefixed)} if "ingestionTime" in envelope else {}
            batch = self._attach(batch, records, line, extra, prefixed, empty, lines=len(prefixed))
            if batch.stats.records:
                yield batch

    def _blank_unprefixed(self, records, bare, prefixed):
        """``(records, replaced)``: the lines ``bare`` of ``records`` blanked (``_blank``);
        with ``on_error="raise"`` the ParseError of the first (after any bad record before)."""
        lines = records.split(b"\n")
        if self.on_error == "raise":
            def error(offset):
                raw = _without_cr(lines[bare[0]])
                return ParseError(_no_prefix(raw), self.line + bare[0], offset, 0,
                                  "a prefix like 2024-07-10T18:15:21.799Z", raw)
            self._raise_at(lines, bare[0], error, prefixed)
        lines, replaced = _blank(lines, bare, _no_prefix)
        return b"\n".join(lines), replaced

    def _raise_at(self, lines, first, error, prefixed=None):
        """Raise ``error(offset of line first)`` for a line that ``_blank`` would replace,
        unless the lines before it hold a bad record: that one is reported first."""
        head = b"".join(line + b"\n" for line in lines[:first])
        if head:
            self._parse_lines(head, first, prefixed)
        raise _shift_error(error(self.offset + len(head)), self.line, prefixed)

    def _parse_aligned(self, records, prefixed=None):
        """Parse with the rejects kept, so that rows can be matched to their lines."""
        inner = "raise" if self.on_error == "raise" else "collect"
        try:
            return _parse_threads(self.parser, self.program, records, inner, self.threads,
                                  self.line, self.offset)
        except ParseError as exc:
            raise _shift_error(exc, self.line, prefixed) from None

    def _attach(self, batch, records, line_base, extra, prefixed=None, empty=None, lines=None):
        """Add per-line envelope columns to the accepted rows; restore the caller's on_error.
        ``empty``: per line, whether it is an empty record (found here when not given).
        ``lines``: the log events or lines given, each of which must be one record."""
        nlines = batch.stats.records
        if lines is not None and nlines != lines:
            raise InputError(
                f"cannot match {nlines} parsed records to {lines} log events near line {line_base}")
        self.line = line_base + nlines
        keep = np.ones(nlines, dtype=bool)
        if empty is None:
            keep[_empty_lines(records, nlines)] = False
        else:
            lines = min(nlines, len(empty))
            keep[:lines] &= ~empty[:lines]
        for reject in batch.rejects:
            keep[reject.line - line_base] = False
        if prefixed is not None:
            for reject in batch.rejects:  # offsets as in the file, prefixes counted
                index = reject.line - line_base
                reject.offset = reject.offset + _EXPORT_WIDTH * int(np.count_nonzero(prefixed[: index + 1]))
        if int(keep.sum()) != batch.num_rows:
            raise InputError(
                f"cannot match {batch.num_rows} parsed rows to {int(keep.sum())} log events "
                f"(a record holds a newline?) near line {line_base}")
        columns = batch.columns
        for name, (values, valid) in extra.items():
            columns[name] = _typed_column(name, values, valid, keep)
        rejects = batch.rejects if self.on_error == "collect" else []
        return Batch(columns, batch.num_rows, batch.stats, rejects)

    # CloudWatch Logs subscription payloads and Firehose objects

    def documents(self, blocks, envelope):
        pending = []  # (message bytes, timestamp, id, group, stream, owner)
        size = 0
        for doc in _json_documents(blocks):
            for event in _events(doc):
                message = event[0]  # the record, without its own newline (and a CR before it)
                if len(message) - message.endswith(b"\n") - message.endswith(b"\r\n") > self.max_record:
                    raise InputError(f"the message of log event {self.line + len(pending)} is "
                                     f"longer than {self.max_record} bytes")
                pending.append(event)
                size += len(event[0]) + 1
                if size >= self.batch_size:
                    batch = self._events_batch(pending, envelope)
                    pending, size = [], 0
                    if batch.stats.records:
                        yield batch
        if pending:
            batch = self._events_batch(pending, envelope)
            if batch.stats.records:
                yield batch

    def _events_batch(self, events, envelope):
        # One event, one record: a message's own trailing newline is its terminator.
        messages = [m[:-1] if m.endswith(b"\n") else m for m, *_ in events]
        # A message that still holds a newline is not one access-log record. It is a bad
        # record like any other: rejected whole, never split in two, never the end of the
        # stream (see `_blank`).
        broken = [index for index, message in enumerate(messages) if b"\n" in message]
        if broken and self.on_error == "raise":
            first = broken[0]
            self._raise_at(messages, first, lambda offset: _broken_error(
                _MULTILINE, messages[first], self.line + first, offset))
        messages, replaced = _blank(messages, broken, _MULTILINE)
        data = b"\n".join(messages) + b"\n"
        line = self.line
        batch, _ = self._parse_lines(data, len(messages))
        _own_rejects(batch, line, replaced)
        self.offset += len(data)
        fields = {"eventTimestamp": 1, "eventId": 2, "logGroup": 3, "logStream": 4, "owner": 5}
        extra = {}
        for name in envelope:
            position = fields[name]
            values = [event[position] for event in events]
            extra[name] = (values, None)
        return self._attach(batch, data, line, extra, lines=len(messages))

    def _parse_lines(self, records, nlines, prefixed=None):
        """``(batch, records)``: ``records`` (``nlines`` lines, one log event each) parsed as
        ``_parse_aligned`` does, so that each line is one record.

        In `auto` CSV a quoted field may hold newlines, so a line that leaves one open would
        run on into the next. Such lines are rare and always bad, so the records are parsed
        as they are first. Only if a line ran on (fewer records than lines, a rejected record
        holding a newline, or an error at or after such a line) are those lines found, made
        bad records of their own (``_blank``), and the records parsed again.
        """
        error = None
        if not self.quotes or b'"' not in records:
            return self._parse_aligned(records, prefixed), records
        try:
            batch = self._parse_aligned(records, prefixed)
            # (a last line left open runs on to the end: one record still, with a newline)
            if batch.stats.records == nlines and not any(b"\n" in r.raw for r in batch.rejects):
                return batch, records
        except ParseError as exc:
            error = exc
        lines = records.split(b"\n")
        broken = [index for index, line in enumerate(lines)
                  if b'"' in line and _CSV_CLOSED_LINE.fullmatch(line) is None]
        if error is not None and (not broken or error.line - self.line < broken[0]):
            raise error  # a bad record before any line that runs on
        if not broken:
            return batch, records  # _attach reports the mismatch
        if self.on_error == "raise":
            first = broken[0]
            self._raise_at(lines, first, lambda offset: _broken_error(
                _OPEN_QUOTE, lines[first], self.line + first, offset), prefixed)
        lines, replaced = _blank(lines, broken, _OPEN_QUOTE)
        records = b"\n".join(lines)
        batch = self._parse_aligned(records, prefixed)
        _own_rejects(batch, self.line, replaced)
        return batch, records


def _blank(lines, indexes, reason):
    """``(lines, replaced)``: ``lines`` with those at ``indexes`` replaced by bytes of the
    same length that are never UTF-8, and ``{index: (reason, raw)}`` for them (``reason``
    a string or a function of the raw line).

    A line that is no record of its own (it holds a newline, leaves a quoted CSV field open
    or lacks its export prefix) must still be one bad record: rejected whole, never split,
    never read into the wrong columns. Blanked, the parser rejects it in place with the
    offsets of every other line unchanged; ``_own_rejects`` then gives it back its reason
    and bytes."""
    lines = list(lines)
    replaced = {}
    for index in indexes:
        raw = _without_cr(lines[index])  # as the parser gives raw
        replaced[index] = (reason if isinstance(reason, str) else reason(raw), raw)
        lines[index] = b"\xff" * len(lines[index])
    return lines, replaced


def _own_rejects(batch, line_base, replaced):
    """Give the rejects of lines that ``_blank`` replaced their own reason and bytes."""
    for reject in batch.rejects:
        own = replaced.get(reject.line - line_base)
        if own is not None:
            reject.reason, reject.raw = own


def _no_prefix(line: bytes) -> str:
    if _EXPORT_PREFIX.match(line):
        return "the timestamp that starts the CloudWatch export line is not a time that exists"
    return "the line of a CloudWatch export does not start with its timestamp"


def _without_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def _broken_error(reason, message, line, offset) -> ParseError:
    """The ParseError of a log event that is no record of its own (see ``_blank``)."""
    if reason == _MULTILINE:
        column, expected = message.index(b"\n"), "one line per log event"
    else:  # the field left open starts where the closed fields before it end
        column, expected = _CSV_CLOSED_LINE.match(message).end(), "a closing quote"
    return ParseError(reason, line, offset + column, column, expected, _without_cr(message))


def _shift_error(exc, line_base, prefixed):
    """A ParseError from stripped export records, with its offset as in the file."""
    if prefixed is None:
        return exc
    index = exc.line - line_base
    shift = _EXPORT_WIDTH * int(np.count_nonzero(prefixed[: index + 1]))
    return ParseError(exc.reason, exc.line, exc.offset + shift, exc.column, exc.expected, exc.raw)


def _line_spans(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` of the lines of ``array`` (bytes), newlines not included; the
    piece after the last newline is a line too, empty if the input ends with one."""
    ends = np.flatnonzero(array == 0x0A)
    return np.concatenate(([0], ends + 1)), np.concatenate((ends, [len(array)]))


def _empty_lines(records: bytes, nlines: int) -> np.ndarray:
    """Indexes of the empty lines (``""`` or ``"\\r"``) among the first ``nlines``."""
    array = np.frombuffer(records, dtype=np.uint8)
    starts, stops = _line_spans(array)
    starts, stops = starts[:nlines], stops[:nlines]
    length = stops - starts
    empty = length == 0
    one = np.flatnonzero(length == 1)
    empty[one[array[starts[one]] == 0x0D]] = True
    return np.flatnonzero(empty)


def _typed_column(name, values, valid, keep) -> Column:
    if name in ("ingestionTime", "eventTimestamp"):
        array = np.asarray(values, dtype=np.int64)[keep]
        if valid is None:
            return Column("timestamp", array)
        mask = np.asarray(valid, dtype=bool)[keep]
        return Column("timestamp", np.where(mask, array, 0),
                      validity=None if mask.all() else np.packbits(mask, bitorder="little"))
    kept = [v for v, k in zip(values, keep) if k]
    return Column.from_strings(kept, name)


# -- CloudWatch documents ----------------------------------------------------------------------


def _json_documents(blocks):
    """Yield the JSON documents of a stream holding one or more back to back.

    A document cut by a block end is tried again only once the text after the last whole
    document has doubled, and blocks are joined only then: a document of n bytes read in
    blocks of b costs O(n), not O(n * n / b)."""
    decoder = json.JSONDecoder()
    buffer = ""  # text not yet decoded
    pieces = []  # text read since the last try
    waiting = 0  # characters of pieces
    retry_at = 0  # try again once buffer and pieces hold this many characters
    pending = b""  # the start of a UTF-8 character cut by the block end
    seen = 0  # bytes of the stream before ``pending``
    position = 0  # characters of the stream before ``buffer``
    exhausted = False
    blocks = iter(blocks)
    while True:
        if not exhausted:
            block = next(blocks, None)
            if block is None:
                exhausted = True
            else:
                raw = pending + bytes(block)
                try:
                    text = raw.decode("utf-8")
                    pending = b""
                except UnicodeDecodeError as exc:
                    if exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
                        text, pending = raw[: exc.start].decode("utf-8"), raw[exc.start :]
                    else:
                        raise InputError(f"CloudWatch payload is not UTF-8 JSON at byte "
                                         f"{seen + exc.start}") from None
                seen += len(raw) - len(pending)
                pieces.append(text)
                waiting += len(text)
                if len(buffer) + waiting < retry_at:
                    continue
        if pieces:
            buffer += "".join(pieces)
            pieces, waiting = [], 0
        index = 0
        while True:
            while index < len(buffer) and buffer[index] in " \t\r\n":
                index += 1
            if index >= len(buffer):
                break
            try:
                doc, end = decoder.raw_decode(buffer, index)
            except json.JSONDecodeError as exc:
                if not exhausted:
                    break  # the document may continue in the next block
                raise InputError(
                    f"bad JSON in a CloudWatch payload at character {position + exc.pos}: "
                    f"{exc.msg}") from None
            except RecursionError:  # Python's decoder recurses once per level of nesting
                raise InputError(f"a CloudWatch payload nests JSON too deeply to read, at "
                                 f"character {position + index}") from None
            if not exhausted and end == len(buffer) and isinstance(doc, (int, float)):
                break  # a number cut at the block end
            yield doc
            index = end
        position += index
        buffer = buffer[index:]
        retry_at = 2 * len(buffer)
        if exhausted:
            if pending:
                raise InputError("CloudWatch payload ends inside a UTF-8 character")
            return


def _events(doc):
    """``(message bytes, timestamp, id, group, stream, owner)`` of one subscription document."""
    if not isinstance(doc, dict):
        raise InputError(f"a CloudWatch payload must be a JSON object, got {type(doc).__name__} "
                         f"{json.dumps(doc)[:40]} (plain log lines are kind 'lines')")
    if "awslogs" in doc:
        data = doc["awslogs"].get("data") if isinstance(doc["awslogs"], dict) else None
        if not isinstance(data, str):
            raise InputError("a Lambda CloudWatch Logs event needs a string awslogs.data")
        try:
            packed = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"awslogs.data is not valid base64: {exc}") from None
        if packed[:2] == _GZIP_MAGIC:
            try:
                packed = b"".join(_gunzip([packed], 1 << 30))
            except InputError as exc:
                raise InputError(f"awslogs.data: {exc}") from None
        try:
            inner = json.loads(packed)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"awslogs.data does not hold a JSON document: {exc}") from None
        except RecursionError:
            raise InputError("awslogs.data nests JSON too deeply to read") from None
        yield from _events(inner)
        return
    kind = doc.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return
    if kind != "DATA_MESSAGE":
        raise InputError(f"not a CloudWatch Logs subscription document (messageType {kind!r}); "
                         "if the input is log lines, read it as such (kind='lines', "
                         "--kind lines)")
    group, stream, owner = doc.get("logGroup"), doc.get("logStream"), doc.get("owner")
    events = doc.get("logEvents")
    if not isinstance(events, list):
        raise InputError("a DATA_MESSAGE without a logEvents list")
    for event in events:
        try:
            message = event["message"]
            timestamp = event["timestamp"]
        except (KeyError, TypeError):
            raise InputError(f"a log event without message and timestamp: {str(event)[:80]}") from None
        if isinstance(timestamp, bool) or not isinstance(timestamp, int):
            # milliseconds, an integer in every payload CloudWatch writes: "soon", true or 1.5
            # read as a time would be a guess
            raise InputError(f"a log event whose timestamp is not an integer of milliseconds: "
                             f"{str(event)[:80]}")
        if not isinstance(message, str):
            raise InputError(f"a log event whose message is not a string: {str(event)[:80]}")
        if not _INT64_MIN <= timestamp <= _INT64_MAX:
            raise InputError(f"a log event whose timestamp is out of range: {str(event)[:80]}")
        ident = event.get("id")
        # The envelope's names are strings in every payload CloudWatch writes; a number given
        # instead is kept as its text rather than failing the whole column.
        yield (message.encode("utf-8", "surrogatepass"), timestamp, _text(ident), _text(group),
               _text(stream), _text(owner))


def _text(value):
    """An envelope field as a string column value: None stays None, other JSON as its text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
