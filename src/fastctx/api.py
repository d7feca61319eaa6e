"""Format: compile a template once, then render and parse with the native kernels."""

from __future__ import annotations

import errno
import io
import warnings
from collections.abc import Mapping
from functools import lru_cache

from .batch import Batch, Column, is_pandas_frame
from .compiler import compile_program
from .errors import FormatWarning, RenderWarning

__all__ = ["Format", "compile", "render", "parse", "as_batch"]


def as_batch(data, names=None) -> Batch:
    """Anything batch-like -> Batch: a Batch, a mapping of columns, or an Arrow exporter.

    Only the columns in ``names`` (when given) are converted from a mapping or Arrow data, so
    unused columns cost nothing.
    """
    if isinstance(data, Batch):
        return data
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__") \
            or is_pandas_frame(data):
        return Batch.from_arrow(data, names)
    if isinstance(data, Mapping):
        wanted = data.keys() if names is None else [n for n in names if n in data]
        columns = {name: Column.from_values(data[name], name) for name in wanted}
        lengths = {len(col) for col in columns.values()}
        if not columns:
            lengths = {len(next(iter(data.values())))} if data else {0}
        if len(lengths) > 1:
            sizes = {name: len(col) for name, col in columns.items()}
            raise ValueError(f"columns differ in length: {sizes}")
        return Batch(columns, lengths.pop())
    # a lazy frame (polars LazyFrame) holds a query, not data yet
    hint = "; collect() it first" if callable(getattr(data, "collect", None)) else ""
    raise TypeError(
        f"cannot render a {type(data).__name__}: pass a fastctx.Batch, a dict of columns, "
        f"or an object with the Arrow PyCapsule interface (pyarrow, polars, pandas, DuckDB){hint}"
    )


def _write_all(file, data) -> None:
    """``file.write(data)`` until every byte is taken: a raw file or a pipe may take part."""
    view = memoryview(data)
    while view.nbytes:
        written = file.write(view)
        if written is None and isinstance(file, io.RawIOBase):
            raise BlockingIOError(
                errno.EAGAIN, f"render_to: the file would block with {view.nbytes} bytes not "
                "written (a non-blocking raw file; use a blocking or a buffered one)")
        if not isinstance(written, int) or isinstance(written, bool) or written == view.nbytes:
            return  # all taken (a writer that returns nothing, or something else, takes all)
        if not 0 < written < view.nbytes:
            raise OSError(f"render_to: write() took {written} of {view.nbytes} bytes")
        view = view[written:]


class Format:
    """A compiled access-log template: render event batches to lines, parse lines to batches.

    Parameters
    ----------
    template : str
        The access-log format, e.g. ``'$context.requestId $context.status'``.
    api : {"websocket", "rest", "http"}
        Which catalog of ``$context`` variables applies.
    escape : {"auto", "json", "none"}
        ``none`` writes values as they are (what API Gateway does), ``json`` escapes JSON
        string positions like a REST API (``error.messageString`` keeps its own quotes raw
        there, its message escaped), ``auto`` keeps every line valid for its shape.
    strict : bool
        Apply AWS's rules (requestId present, 3 KB, known names); ``False`` for formats that
        never went to AWS.

    Examples
    --------
    >>> import fastctx
    >>> fmt = fastctx.compile('$context.requestId "$context.routeKey" $context.status')
    >>> fmt.shape, fmt.variables
    ('text', ('requestId', 'routeKey', 'status'))
    >>> fmt.render({"requestId": ["r1", "r2"], "routeKey": ['say "hi"', None], "status": [200, 404]})
    b'r1 "say \\\\"hi\\\\"" 200\\nr2 "-" 404\\n'
    """

    def __init__(self, template: str, api: str = "websocket", escape: str = "auto", strict: bool = True,
                 _warn: bool = True):
        compiled = compile_program(template, api, escape, strict)
        self._warning = compiled.warning
        if _warn and compiled.warning:
            warnings.warn(compiled.warning, FormatWarning, stacklevel=2)
        self.template = template
        self.api = api
        self.escape = escape
        self.strict = strict
        self.program = compiled.program
        self.unsupported = compiled.unsupported
        self._renderer = None
        self._parser = None

    # -- description ----------------------------------------------------------------------

    @property
    def shape(self) -> str:
        """``json``, ``xml``, ``csv``, ``clf`` or ``text``."""
        return self.program.shape

    @property
    def variables(self) -> tuple:
        """Canonical variable names (the column names), in first-use order."""
        return self.program.columns

    def dis(self) -> str:
        """The compiled program, one instruction per line."""
        return self.program.dis()

    def __repr__(self) -> str:
        return f"Format({self.template!r}, api={self.api!r}, escape={self.escape!r}, shape={self.shape!r})"

    def __reduce__(self):
        # no warning again where it is unpickled (a worker process): it was given here
        return (Format, (self.template, self.api, self.escape, self.strict, False))

    def __eq__(self, other) -> bool:
        return isinstance(other, Format) and (self.template, self.api, self.escape, self.strict) == (
            other.template, other.api, other.escape, other.strict)

    def __hash__(self) -> int:
        return hash((self.template, self.api, self.escape, self.strict))

    # -- rendering ------------------------------------------------------------------------

    def _bind(self, data):
        if self._renderer is None:
            from . import _render

            self._renderer = _render.Renderer(self.program)
        batch = as_batch(data, self.program.columns)
        return batch, [batch.get(name) for name in self.program.columns]

    @staticmethod
    def _warn_dropped(dropped: int) -> None:
        if dropped:
            warnings.warn(
                f"{dropped} characters that XML 1.0 cannot hold were dropped", RenderWarning, stacklevel=3
            )

    def render(self, batch, threads=None) -> bytes:
        """Render every row to a log line; returns the lines, each ending in ``\\n``.

        ``batch`` is a ``Batch``, a dict of columns (lists or numpy arrays) or any Arrow
        exporter. A variable without a column renders ``-``. ``threads``: how many threads
        render row ranges in parallel (default: all cores); the output is the same. From
        4 MiB the lines are a ``PooledBytes``, a ``bytes`` subclass whose memory fastctx
        keeps for the next large render or parse once it is dropped (``release_memory``).
        """
        from . import parallel

        batch, columns = self._bind(batch)
        out, dropped = parallel.render(self._renderer, self.program, columns, batch.num_rows, threads)
        self._warn_dropped(dropped)
        return out

    def render_into(self, batch, out, start: int = 0, threads=None) -> int:
        """Render rows from ``start`` into the writable buffer ``out``; returns bytes written.

        Raises ``BufferTooSmallError`` (with ``.rows`` and ``.nbytes`` of the whole records
        that fit and were written; the rest starts at row ``start + .rows``) when the buffer
        cannot hold every row. ``threads``: how
        many threads render row ranges in parallel (default: all cores); the bytes written
        are the same.

        Only ``out[:returned]`` holds output. The kernels copy in whole words, so up to 128
        bytes of ``out`` past that may be overwritten with scratch; nothing outside ``out`` is
        ever written (pass ``memoryview(buffer)[:n]`` to keep the rest of a buffer intact).
        """
        from . import parallel
        from .errors import BufferTooSmallError

        batch, columns = self._bind(batch)
        nbytes, rows, dropped = parallel.render_into(self._renderer, columns, start, batch.num_rows,
                                                     out, threads)
        self._warn_dropped(dropped)
        if start + rows < batch.num_rows:
            raise BufferTooSmallError(rows, nbytes, memoryview(out).nbytes, start)
        return nbytes

    def render_to(self, batch, file, chunk_size: int = 1 << 20, threads=None) -> int:
        """Render into ``file`` (anything with ``write``) in chunks of about ``chunk_size``
        bytes; returns the bytes written. Output never needs to fit in memory.

        ``threads`` (default: all cores) render ranges of rows in parallel into buffers of
        their own, about ``3 * threads * chunk_size`` bytes in all; ``write`` is called on the
        calling thread only, in row order, and the output is the same bytes as one thread's.
        ``write`` gets a view of a buffer, which it may read only during the call (as ``io``
        asks of every ``write``). A ``write`` that takes part of it (a raw file or a pipe) is
        called again with the rest; a raw file that would block (``write`` returns None)
        raises ``BlockingIOError``, so that no output is ever lost without a word. At a row
        that cannot be rendered, every line before it is written, then ``RenderError`` is
        raised.
        """
        from . import parallel

        size = parallel.as_integer(chunk_size)
        if size is None or size < 1:
            raise ValueError(f"chunk_size must be a positive integer (bytes), got {chunk_size!r}")
        batch, columns = self._bind(batch)
        total = 0

        def write(data):
            nonlocal total
            _write_all(file, data)
            total += len(data)

        dropped = parallel.render_to(self._renderer, columns, batch.num_rows, write, size, threads)
        self._warn_dropped(dropped)
        return total

    # -- parsing --------------------------------------------------------------------------

    def _get_parser(self):
        if self._parser is None:
            from . import _parse

            self._parser = _parse.Parser(self.program)
        return self._parser

    def parse(self, data, on_error: str = "raise", threads=None) -> Batch:
        """Parse log lines into a Batch with one typed column per variable.

        Parameters
        ----------
        data : bytes, bytearray, memoryview, mmap or str
            Records separated by ``\\n`` (a ``\\r`` before it is dropped; the last record may
            lack it; empty lines are skipped and counted). In ``auto`` CSV a quoted field may
            hold a newline, in a record whose quoting is well-formed (else the record is its
            first line: a raw line's stray ``"``). ``str`` is encoded as UTF-8. A UTF-8
            byte-order mark at the start is skipped (offsets count it).
        on_error : {"raise", "skip", "collect"}
            A record that does not match: raise ``ParseError`` (line, byte offset, the
            variable or literal expected, a caret excerpt), count it, or count it and keep it
            on ``batch.rejects`` (``Reject`` with ``line``, ``offset``, ``reason``, ``raw``).
        threads : int, optional
            Threads that parse line-aligned chunks in parallel (default: all cores). The
            result is the same, line numbers and offsets included.

        Returns
        -------
        Batch
            ``int`` variables as int64, ``requestTime`` / ``requestTimeEpoch`` /
            ``connectedAt`` as timestamp[ms, UTC] (a CLF offset applied), the rest as strings
            (a ``quoted`` value without its quotes); ``-`` is null. ``batch.stats`` counts
            ``records``, ``accepted``, ``rejected``, ``empty`` and ``normalized``, with
            ``accepted + rejected + empty == records`` always.

        Notes
        -----
        A record in this format's own escaping and canonical form renders back byte for byte.
        ``normalized`` counts accepted records that are not: recovered by the retry as
        unescaped text (in ``json`` and ``auto`` modes, e.g. AWS's JSON lines with raw quotes
        in a value), or written with escapes fastctx never writes (``\\/``, ``\\u0041``,
        ``&#65;``), empty fields, leading zeros or a CLF offset other than ``+0000``.
        Unescaped values are split so that every typed variable stays valid (int only
        digits, the exact CLF time, tokens without whitespace or ``"``) with the literals
        anchored from both ends; when two free-text values could both hold the separator, the
        leftmost split wins. Lossy by nature: ``-`` and the empty string both read back as
        null (except as a JSON string in a bare JSON position), and CLF times have whole
        seconds. Invalid UTF-8 is rejected.

        Examples
        --------
        >>> import fastctx
        >>> fmt = fastctx.compile('$context.requestId "$context.routeKey" $context.status', escape="none")
        >>> batch = fmt.parse(b'r1 "say "hi"" 200\\n\\nr2 "-" x\\n', on_error="collect")
        >>> batch.to_pydict()
        {'requestId': ['r1'], 'routeKey': ['say "hi"'], 'status': [200]}
        >>> batch.stats
        Stats(records=3, accepted=1, rejected=1, empty=1, normalized=0)
        >>> batch.rejects[0].line, batch.rejects[0].raw
        (3, b'r2 "-" x')
        """
        from . import parallel

        offset = 0
        if isinstance(data, str):
            if data.startswith("\ufeff"):
                data, offset = data[1:], 3
        else:
            view = memoryview(data)
            if view.nbytes >= 3 and view.ndim == 1 and view.itemsize == 1 and view[:3] == b"\xef\xbb\xbf":
                data, offset = view[3:], 3
        # a UTF-8 byte-order mark before the first record (an editor's, PowerShell's) is not
        # part of it, as fastctx.read skips it too; byte offsets still count it
        return parallel.parse(self._get_parser(), self.program, data, on_error, threads,
                              offset_base=offset)


@lru_cache(maxsize=64)
def _cached(template: str, api: str, escape: str, strict: bool) -> Format:
    return Format(template, api, escape, strict, _warn=False)


def compile(template: str, api: str = "websocket", escape: str = "auto", strict: bool = True) -> Format:
    """Compile a template into a reusable ``Format`` (cached: the same arguments give the same object).

    Examples
    --------
    >>> import fastctx
    >>> fastctx.compile("$context.requestId,$context.status").shape
    'csv'
    """
    fmt = _cached(template, api, escape, strict)
    if fmt._warning:  # every call, at its caller: the cache must not swallow it
        warnings.warn(fmt._warning, FormatWarning, stacklevel=2)
    return fmt


def render(template: str, batch, api: str = "websocket", escape: str = "auto", strict: bool = True,
           threads=None) -> bytes:
    """``compile(template, ...).render(batch)``, with the compiled format cached."""
    return compile(template, api, escape, strict).render(batch, threads)


def parse(template: str, data, api: str = "websocket", escape: str = "auto", strict: bool = True,
          on_error: str = "raise", threads=None) -> Batch:
    """``compile(template, ...).parse(data)``, with the compiled format cached."""
    return compile(template, api, escape, strict).parse(data, on_error, threads)
