"""The ``fastctx`` command: check, render, parse, convert, generate and bench access logs.

Exit codes: 0 success; 1 the input holds a bad record under ``--on-error raise``, or cannot be
read (truncated gzip, a bad CloudWatch payload), or an event cannot be rendered; 2 usage or
template errors. User errors print one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io as _io
import json
import math
import os
import re
import signal
import stat
import sys
import time
import warnings

from . import __version__, _signals
from .errors import FastctxError, FormatError, InputError, ParseError, RenderError
from .presets import PRESETS
from .parallel import MAX_THREADS as _MAX_THREADS  # a larger count is a typo, not a request

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_TABLE_FORMATS = ("parquet", "csv", "jsonl")
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
               ".ndjson": "jsonl", ".json": "jsonl"}
_GENERATE_ROWS_PER_CHUNK = 200_000


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


# -- helpers ----------------------------------------------------------------------------------


class Progress:
    """A one-line progress indicator on stderr, shown only when stderr is a terminal.

    Updates at most five times a second and only after the work has run for a second, so
    short commands print nothing.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "lines", stream=None):
        """``total``: the count ``update`` goes up to, if known (shown as a bar)."""
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.total, self.unit = label, total, unit
        self.start = self.last = time.monotonic()
        self.shown = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < 1.0 or now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            share = min(done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"{self.label} [{bar:<30}] {share:6.1%} {done:,} {self.unit} ({rate / 1e6:.2f} M/s)"
        else:
            text = f"{self.label} {done:,} {self.unit} ({rate / 1e6:.2f} M/s)"
        self.stream.write("\r" + text[:120])
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _template(args, prefix: str = "") -> str:
    preset = getattr(args, f"{prefix}preset")
    template = getattr(args, f"{prefix}template")
    template_file = getattr(args, f"{prefix}template_file")
    given = [x for x in (preset, template, template_file) if x is not None]
    dash = "--" + prefix.replace("_", "-")
    if len(given) != 1:
        raise UsageError(f"give exactly one of {dash}preset, {dash}template or {dash}template-file")
    if preset is not None:
        from .presets import preset as get_preset

        api = getattr(args, f"{prefix}api", None) or args.api
        try:
            return get_preset(api, preset)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if template is not None:
        # bytes of the command line that are not UTF-8 arrive as U+DC80..U+DCFF
        # (surrogateescape): name the byte, not a "lone surrogate"
        bad = next((i for i, ch in enumerate(template) if "\udc80" <= ch <= "\udcff"), None)
        if bad is not None:
            raise UsageError(f"{dash}template is not UTF-8 text: byte 0x{ord(template[bad]) - 0xDC00:02x} "
                             f"at character {bad + 1}")
        return template
    try:
        with open(template_file, encoding="utf-8-sig") as handle:  # an editor's BOM dropped
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read template file {template_file!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"template file {template_file!r} is not UTF-8 text (byte {exc.start})") from None
    # A template file may end with the editor's newline (CRLF arrives here as "\n"); the
    # template itself never does.
    return text[:-1] if text.endswith("\n") else text


def _compile(args, prefix: str = ""):
    from .api import Format

    api = getattr(args, f"{prefix}api", None) or args.api
    escape = getattr(args, f"{prefix}escape", None) or args.escape
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fmt = Format(_template(args, prefix), api=api, escape=escape, strict=not args.no_strict)
    for item in caught:
        print(f"fastctx: warning: {item.message}", file=sys.stderr)
    return fmt


def _threads(args):
    return None if args.threads is None else args.threads


class _Output:
    """``-o FILE`` or stdout, opened in binary mode; a FILE named ``*.gz`` is written gzip
    compressed (level 6, as gzip's own default; no name or time in its header, so the same
    output gives the same bytes).

    A regular file (or a new one) is written under a temporary name beside it and renamed
    over it only when the command succeeds: a failed run leaves no half-written file and an
    existing one as it was (yesterday's output is not lost to a typo in a template). An
    existing file in a folder that takes no new files can only be written in place: a failed
    run removes it, or empties it and says so (``_discard``). A device, a pipe or a symbolic
    link (``/dev/stdout``) is written in place and never removed."""

    def __init__(self, path):
        self.path = path if path not in (None, "-") else None
        self.handle = None
        self.file = None  # the file under a gzip stream (``handle``) for a name ending .gz
        self.temporary = None  # the name written while the command runs, renamed at the end
        self.in_place = False  # a regular file written under its own name

    def __enter__(self):
        if self.path is None:
            if sys.stdout is None:  # started with stdout closed (>&-)
                raise UsageError("stdout is closed; name an output file with -o")
            self.handle = sys.stdout.buffer
            return self.handle
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise UsageError(f"cannot write {self.path!r}: {exc.strerror}") from None
        try:
            if st is None or stat.S_ISREG(st.st_mode):
                try:
                    self.handle = self._temporary(st)
                except PermissionError:
                    if st is None:
                        raise
                    # a writable file in a folder that takes no new files: written in place,
                    # and taken back if the command fails (_discard), as nothing else can be
                    # promised
                    self.handle = open(self.path, "wb")
                    self.in_place = True
            else:
                self.handle = open(self.path, "wb")
        except OSError as exc:
            raise UsageError(f"cannot write {self.path!r}: {exc.strerror}") from None
        if _gzipped(self.path):
            import gzip

            self.file = self.handle
            self.handle = gzip.GzipFile(filename="", mode="wb", fileobj=self.file,
                                        compresslevel=6, mtime=0)
        return self.handle

    def _temporary(self, st):
        """A new file beside ``path`` with the mode ``path`` has (or a new file would get)."""
        import tempfile

        folder, name = os.path.split(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(2, os.strerror(2), self.path)
        fd, self.temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        try:
            os.chmod(self.temporary, mode)
        except OSError:
            pass  # a file system without modes
        return os.fdopen(fd, "wb")

    def _discard(self):
        """Take back the output of a failed command written in place. A folder that takes
        no new files usually lets none be removed either: the file is then emptied, so that
        what was written is never taken for the whole, and the user is told."""
        try:
            os.unlink(self.path)
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        try:
            os.truncate(self.path, 0)
            what = "emptied"
        except OSError:
            what = "left incomplete"
        print(f"fastctx: warning: {self.path!r} was written in place (its folder takes no new "
              f"files) and could not be removed; the command failed, so it was {what}",
              file=sys.stderr)

    def __exit__(self, kind, exc, tb):
        name = "stdout" if self.path is None else repr(self.path)
        failed = None
        try:
            if self.path is None:
                self.handle.flush()
            else:
                try:
                    self.handle.close()  # a gzip stream writes its trailer
                finally:
                    if self.file is not None:
                        self.file.close()
        except BrokenPipeError:
            if self.path is not None:
                raise
        except OSError as error:  # a full disk shows itself at the last flush
            failed = error
        if self.temporary is not None:
            try:
                if kind is None and failed is None:
                    os.replace(self.temporary, self.path)
                else:
                    os.unlink(self.temporary)
            except OSError as error:
                failed = failed or error
                try:
                    os.unlink(self.temporary)
                except OSError:
                    pass
        if self.in_place and (kind is not None or failed is not None):
            self._discard()
        if kind is not None:
            if issubclass(kind, OSError) and not issubclass(kind, BrokenPipeError) and exc.filename is None:
                failed = exc  # a write that failed (no space left, an I/O error): name the output
            elif failed is not None:
                return False  # the error that stopped the command is the one to report
        if failed is not None:
            raise FastctxError(f"cannot write {name}: {failed.strerror or failed}") from None
        return False


def _table_format(args, path) -> str:
    if args.to:
        kind = args.to
    elif path in (None, "-"):
        return "jsonl"
    else:
        ext = os.path.splitext(_ungzipped(path))[1].lower()
        if ext not in _EXTENSIONS:
            raise UsageError(f"cannot tell the output format from {path!r}; use --to parquet, csv or jsonl")
        kind = _EXTENSIONS[ext]
    if kind == "parquet" and _gzipped(path):
        raise UsageError(f"{path!r}: Parquet compresses its own pages; name the output .parquet")
    return kind


def _gzipped(path) -> bool:
    """An output named ``*.gz`` is written gzip compressed (and such events read so)."""
    return path not in (None, "-") and str(path).lower().endswith(".gz")


def _ungzipped(path) -> str:
    """The name without a ``.gz`` ending, whose extension tells the format."""
    return path[:-3] if _gzipped(path) else path


# -- table writers (parse output, generate events) ----------------------------------------------


class _RowsWriter:
    """JSON Lines or CSV, one batch at a time (see ``tabletext``: timestamps as ISO 8601 UTC,
    nulls as null / empty), written by the text kernel as bytes straight to the file."""

    def __init__(self, handle, kind: str, epoch_ms: bool = False):
        self.handle = handle
        self.kind = kind
        self.epoch_ms = epoch_ms
        self.header = False
        self.rows = 0

    def write(self, batch) -> None:
        from .tabletext import csv_header, csv_rows, json_rows

        if self.kind == "csv":
            _same_columns(self, batch)
            if not self.header:
                self.handle.write(csv_header(batch.column_names))
                self.header = True
            self.handle.write(csv_rows(batch, self.epoch_ms))
        else:
            self.handle.write(json_rows(batch, self.epoch_ms))
        self.rows += batch.num_rows

    def close(self) -> None:
        self.handle.flush()


class _ParquetWriter:
    """Parquet through pyarrow (streamed, one row group per batch) or else polars (written at the end)."""

    def __init__(self, handle):
        self.handle = handle
        self.writer = None
        self.frames = []
        try:
            import pyarrow
            import pyarrow.parquet  # noqa: F401

            self.engine = "pyarrow"
        except ImportError:
            try:
                import polars  # noqa: F401

                self.engine = "polars"
            except ImportError:
                raise UsageError(
                    "writing Parquet needs pyarrow or polars: pip install pyarrow "
                    "(or choose --to csv / --to jsonl)") from None

    def write(self, batch) -> None:
        _same_columns(self, batch)
        if self.engine == "pyarrow":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(batch)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.handle, table.schema)
            self.writer.write_table(table)
        else:
            import polars as pl

            self.frames.append(pl.DataFrame(batch))

    def close(self) -> None:
        if self.engine == "pyarrow":
            if self.writer is not None:
                self.writer.close()
        else:
            import polars as pl

            if self.frames:
                pl.concat(self.frames).write_parquet(self.handle)


def _same_columns(writer, batch) -> None:
    """A CSV or Parquet table has one header: every batch must bring the first one's columns
    (inputs of different kinds add different envelope columns, e.g. ``eventTimestamp``)."""
    names = list(batch.column_names)
    first = getattr(writer, "names", None)
    if first is None:
        writer.names = names
    elif names != first:
        extra = [n for n in names if n not in first] + [n for n in first if n not in names]
        raise UsageError(
            f"the inputs do not give the same columns ({', '.join(extra) or 'order'} differ"
            f"{'s' if len(extra) == 1 else ''}), so they cannot share one CSV or Parquet table: "
            "parse them separately, or write JSON Lines")


def _table_writer(handle, kind: str, epoch_ms: bool = False):
    if kind == "parquet":
        return _ParquetWriter(handle)
    return _RowsWriter(handle, kind, epoch_ms)


_PLAIN_VALUE = re.compile(r'[^\s="\\\x00-\x1f\x7f]+\Z')


def _header_value(text: str) -> str:
    """``text`` as it is when it splits cleanly, else as a JSON string."""
    return text if _PLAIN_VALUE.match(text) else json.dumps(text)


class _RejectsFile:
    """Every rejected record verbatim, each after a header line with its line number and reason.

    ``#fastctx-reject source=access.log line=17 offset=1234 bytes=87 reason=...`` then the raw
    record bytes and a newline. ``bytes`` is the length of the record, so a record that holds
    a newline itself (a quoted CSV field) is read back whole. A source name holding a blank,
    ``=``, a quote, a backslash or a control character is written as a JSON string
    (``source="my file.log"``), so the header always splits the same way.
    """

    def __init__(self, path):
        self.path = path
        self.handle = None
        self.count = 0
        # written as -o is: under a temporary name, renamed when the command succeeds
        self.output = None if path is None else _Output(path)
        if path == "-" and sys.stdout is None:
            raise UsageError("stdout is closed; name a file for --rejects")

    def __enter__(self):
        if self.output is not None:
            self.handle = self.output.__enter__()
        return self

    def __exit__(self, kind, exc, tb):
        return False if self.output is None else self.output.__exit__(kind, exc, tb)

    def finish(self) -> None:
        """Flush now, so that a rejects file that cannot be written fails the command before
        its output is committed."""
        if self.handle is not None:
            try:
                self.handle.flush()
            except BrokenPipeError:
                self._gone()
            except OSError as exc:
                name = "stdout" if self.path == "-" else repr(self.path)
                raise FastctxError(f"cannot write {name}: {exc.strerror or exc}") from None

    def write(self, rejects, source: str) -> None:
        if self.handle is None:
            return
        try:
            for reject in rejects:
                reason = reject.reason.replace("\n", " ").replace("\r", " ")
                head = (f"#fastctx-reject source={_header_value(source)} line={reject.line} "
                        f"offset={reject.offset} "
                        f"bytes={len(reject.raw)} reason={reason}\n")
                self.handle.write(head.encode("utf-8", "backslashreplace"))
                self.handle.write(reject.raw)
                self.handle.write(b"\n")
                self.count += 1
        except BrokenPipeError:
            self._gone()

    def _gone(self):
        """The reader of ``--rejects -`` went away. Unlike a closed pipe on the output itself
        (``| head``, a quiet stop), rejected records are lost, and -o is a file: an error."""
        _drop_stdout()
        raise FastctxError("stdout was closed before every rejected record was written to it "
                           "(--rejects -), so the output was not written either") from None



def _on_error(args) -> str:
    if args.on_error is not None:
        if args.rejects and args.on_error != "collect":
            raise UsageError("--rejects keeps the rejected records: use it with --on-error collect")
        return args.on_error
    return "collect" if args.rejects else "raise"


def _summary(stats, label: str) -> None:
    if stats is None:  # no input records at all: say so rather than print nothing
        from .batch import Stats

        stats = Stats()
    print(
        f"fastctx: {label}: {stats.records:,} records, {stats.accepted:,} accepted, "
        f"{stats.rejected:,} rejected, {stats.empty:,} empty, {stats.normalized:,} normalized",
        file=sys.stderr,
    )


def _sources(args):
    return args.inputs or ["-"]


def _check_outputs(args, sources) -> None:
    """Refuse an output that would overwrite an input (opening it for writing empties it
    before it is read) or that shares stdout or a file with the other output."""
    outputs = [("-o", getattr(args, "output", None)), ("--rejects", getattr(args, "rejects", None))]
    outputs = [(flag, path) for flag, path in outputs if path is not None]
    on_stdout = [flag for flag, path in outputs if path == "-"]
    if len(on_stdout) > 1:
        raise UsageError("-o and --rejects both write to stdout; name a file for one of them")
    files = [(flag, path) for flag, path in outputs if path != "-" and os.path.exists(path)]
    for flag, path in files:
        for source in sources:
            if source != "-" and os.path.exists(source) and os.path.samefile(source, path):
                raise UsageError(f"{flag} {path!r} is also an input; writing it would destroy it")
    if len(files) == 2 and os.path.samefile(files[0][1], files[1][1]):
        raise UsageError("-o and --rejects name the same file")
    if len(outputs) == 2 and outputs[0][1] != "-" and \
            os.path.abspath(outputs[0][1]) == os.path.abspath(outputs[1][1]):
        raise UsageError("-o and --rejects name the same file")


def _check_sources(sources):
    """The input paths, each checked to be a readable file (a usage error, exit code 2, if
    not), before any output is written."""
    for source in sources:
        if source == "-":
            if sys.stdin is None:  # started with stdin closed (<&-)
                raise UsageError("stdin is closed; name an input file")
            continue
        if not os.path.exists(source):
            raise UsageError(f"cannot read {source!r}: no such file")
        if os.path.isdir(source):
            raise UsageError(f"cannot read {source!r}: it is a directory")
        if not os.access(source, os.R_OK):
            raise UsageError(f"cannot read {source!r}: permission denied")
    return sources


def _read_batches(args, fmt, on_error, envelope=None):
    """``(source, batch)`` for every input; a progress line on a terminal. ``envelope``, a
    list if given, gets the envelope columns of the inputs (a table with no row has them)."""
    from .io import read

    for source in _check_sources(_sources(args)):
        name = "stdin" if source == "-" else source
        progress = Progress(f"parse {os.path.basename(name)}")
        done = 0
        batches = read(source, fmt, kind=args.kind, on_error=on_error, threads=_threads(args),
                       batch_size=args.batch_size << 20)
        try:
            while True:
                # errors name the input they come from (line numbers are per input)
                try:
                    batch = next(batches, None)
                except ParseError as exc:
                    exc.source = name
                    raise
                except InputError as exc:
                    raise InputError(f"{name}: {exc}") from None
                except OSError as exc:  # a read that failed; an OSError left for _Output is a write's
                    raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
                if batch is None:
                    break
                done += batch.num_rows
                yield name, batch
                progress.update(done)
            if envelope is not None:
                envelope[:] = batches.reader.envelope
        finally:
            batches.close()
            progress.close()


def _add_stats(total, stats):
    from .batch import Stats

    total = total or Stats()
    if stats is not None:
        for field in Stats.__slots__:
            setattr(total, field, getattr(total, field) + getattr(stats, field))
    return total


# -- subcommands --------------------------------------------------------------------------------


def cmd_check(args) -> int:
    fmt = _compile(args)
    program = fmt.program
    literals = program.literals()
    out = sys.stdout
    if out is None:  # started with stdout closed (>&-)
        raise UsageError("stdout is closed")
    out.write(f"template: {fmt.template}\n")
    out.write(f"api: {fmt.api}  escape: {fmt.escape}  shape: {fmt.shape}\n")
    out.write(f"variables ({len(fmt.variables)}): {', '.join(fmt.variables)}\n")
    if getattr(fmt, "unsupported", None):
        out.write(f"rendered as '-' by AWS: {', '.join(fmt.unsupported)}\n")
    out.write("slots:\n")
    for index, slot in enumerate(program.slots):
        before = literals[index].decode("utf-8", "backslashreplace")
        after = literals[index + 1].decode("utf-8", "backslashreplace")
        out.write(
            f"  {index + 1:>3}  $context.{slot.name:<28} {slot.vtype.name.lower():<9} "
            f"escape {slot.esc.name.lower():<12} between {before[-12:]!r} and {after[:12]!r}\n")
    out.write("bytecode:\n")
    for line in fmt.dis().splitlines():
        out.write(f"  {line}\n")
    return EXIT_OK


def cmd_parse(args) -> int:
    fmt = _compile(args)
    on_error = _on_error(args)
    kind = _table_format(args, args.output)
    _check_outputs(args, _check_sources(_sources(args)))
    total = None
    # the output is committed first, the rejects file last: both, or neither
    with _RejectsFile(args.rejects) as rejects, _Output(args.output) as handle:
        writer = _table_writer(handle, kind)
        wrote = False
        envelope = []
        try:
            for source, batch in _read_batches(args, fmt, on_error, envelope):
                writer.write(batch)
                wrote = True
                rejects.write(batch.rejects, source)
                total = _add_stats(total, batch.stats)
            if not wrote:  # no records at all: still write the (empty) table with its columns
                from .io import empty_batch

                writer.write(empty_batch(fmt, envelope))
        finally:
            writer.close()
        rejects.finish()
    if args.stats or on_error != "raise" or args.rejects:
        _summary(total, "parse")
    return EXIT_OK


def cmd_convert(args) -> int:
    source_fmt = _compile(args)
    target_fmt = _compile(args, "to_")
    on_error = _on_error(args)
    _check_outputs(args, _check_sources(_sources(args)))
    total = None
    with _RejectsFile(args.rejects) as rejects, _Output(args.output) as handle:
        for source, batch in _read_batches(args, source_fmt, on_error):
            rejects.write(batch.rejects, source)
            total = _add_stats(total, batch.stats)
            if batch.num_rows:
                try:
                    lines = target_fmt.render(batch, threads=_threads(args))
                except RenderError as exc:  # a value the target's type cannot hold
                    if exc.row is None:
                        raise InputError(f"{source}: {exc}") from None
                    # the batch's rows are its accepted records: show the record itself
                    record = source_fmt.render(batch.slice(exc.row, exc.row + 1), threads=1)
                    shown = record.rstrip(b"\n").decode("utf-8", "backslashreplace")
                    shown = shown if len(shown) <= 80 else shown[:77] + "..."
                    raise InputError(f"{source}: {exc.reason} (column {exc.column!r}) in the "
                                     f"record {shown!r}") from None
                handle.write(lines)
        rejects.finish()
    if args.stats or on_error != "raise" or args.rejects:
        _summary(total, "convert")
    return EXIT_OK


def _read_events(path, kind: str, typed=None, chunk_rows: int = _GENERATE_ROWS_PER_CHUNK):
    """Batches of events from JSON Lines, CSV or Parquet.

    CSV values are text, an empty field is missing. ``typed`` maps the template's int and
    time variables to ``"int"`` or ``"time"``: their columns are read as integers when every
    value is one (epoch milliseconds for a time), and a time column of ISO 8601 times as
    timestamps (see ``_typed_column``).
    """

    if kind == "parquet":
        if path == "-":  # Parquet keeps its footer at the end: a pipe has to be read whole
            path = _io.BytesIO(sys.stdin.buffer.read())
        try:
            import pyarrow.parquet as pq
        except ImportError:
            try:
                import polars as pl
            except ImportError:
                raise UsageError("reading Parquet needs pyarrow or polars: pip install pyarrow") from None
            yield pl.read_parquet(path)
            return
        source = pq.ParquetFile(path)
        for group in range(source.num_row_groups):
            yield source.read_row_group(group)
        return
    name = "stdin" if path == "-" else path
    if path == "-":
        handle = sys.stdin.buffer
    elif _gzipped(path):
        import gzip

        handle = gzip.open(path, "rb")
    else:
        handle = open(path, "rb")
    try:
        if kind == "csv":
            yield from _csv_batches(handle, name, typed, chunk_rows)
            return
        records = []
        done = 0  # events in the batches yielded
        # Bytes, one line at a time: a line that is not UTF-8 is named by its number.
        for line, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:  # UnicodeDecodeError included
                raise InputError(f"{name}: line {line} is not JSON: {exc}") from None
            except RecursionError:
                raise InputError(f"{name}: line {line} nests JSON too deeply to read") from None
            if not isinstance(record, dict):
                raise InputError(f"{name}: line {line} is not a JSON object")
            records.append(record)
            if len(records) >= chunk_rows:
                yield _json_batch(records, name, typed, done)
                done += len(records)
                records = []
        if records:
            yield _json_batch(records, name, typed, done)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _csv_batches(handle, name, typed, chunk_rows):
    """CSV events with a header row; a malformed file is an error naming its line, never a
    silently different table (an unclosed quote would otherwise swallow the rest of the file,
    a short row would render its missing fields as ``-``)."""
    # Bytes that are not UTF-8 come through as lone surrogates, found per row below, so the
    # error names the line (a strict decoder fails on a whole read block instead). A byte
    # order mark (Excel, PowerShell) is dropped: it would become part of the first field name.
    text = _io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # Event values may be long (a User-Agent, a request body); the csv module's default
    # limit of 128 KiB per field would stop at the first such value.
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, 1 << 30))
    reader = csv.reader(text, strict=True)
    try:
        try:
            header = next(reader, None)
            if header is None:
                return
            if _ESCAPED_BYTE.search("".join(header)):
                raise InputError(f"{name}: the header line is not UTF-8 text")
            twice = sorted({field for field in header if header.count(field) > 1})
            if twice:  # one of the two columns would be dropped without a word
                raise InputError(f"{name}: the header names {', '.join(map(repr, twice))} more than once")
            rows = []
            done = 0  # events in the batches yielded
            for row in reader:
                if not row:  # a blank line holds no event
                    continue
                if not all(field.isascii() for field in row) and _ESCAPED_BYTE.search("".join(row)):
                    raise InputError(f"{name}: line {reader.line_num} is not UTF-8 text")
                if len(row) != len(header):
                    raise InputError(
                        f"{name}: line {reader.line_num} has {len(row)} fields, the header has "
                        f"{len(header)}")
                rows.append(row)
                if len(rows) >= chunk_rows:
                    yield _csv_batch(header, rows, name, typed, done)
                    done += len(rows)
                    rows = []
        except csv.Error as exc:
            raise InputError(f"{name}: line {reader.line_num} is not valid CSV: {exc}") from None
        if rows:
            yield _csv_batch(header, rows, name, typed, done)
    finally:
        csv.field_size_limit(previous)
        text.detach()


_INTEGER = re.compile(r"-?[0-9]+\Z")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape holds it
# The timestamps that `parse` and `generate` write to CSV and JSON Lines: ISO 8601 in UTC
# ("Z", as numpy writes them, any year), or with a UTC offset as other tools write them.
_ISO_UTC = re.compile(r"[+-]?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z\Z")
# (polars writes nanoseconds and "+0000", DuckDB and PostgreSQL "+00"; below a millisecond
# is dropped, as a parse of a CLF or epoch time never holds it)
_ISO_TIME = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?\Z")
_WHOLE_FLOAT = re.compile(r"-?[0-9]+\.0*\Z")  # pandas writes an int column with NaN as 200.0


def _event_number(value, name: str, event: int) -> int:
    """An int-or-time event field that the column's first value showed to be a number: an
    int, a whole float (pandas writes integers with missing values as floats), or their text.
    Anything else is an ``InputError`` naming the column and the (1-based) event."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, str) and (_INTEGER.match(value) or _WHOLE_FLOAT.match(value)):
        value = value.split(".")[0]
        if len(value.lstrip("-").lstrip("0")) <= 19:  # int() refuses over 4,300 digits
            value = int(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool) and _INTEGER.match(str(value)):
        if isinstance(value, int) and -(2**63) <= value < 2**63:
            return value
        text = str(value)
        shown = text if len(text) <= 40 else f"{text[:24]}... ({len(text)} characters)"
        raise InputError(f"event {event}: {shown} does not fit in int64 (column {name!r})")
    raise InputError(f"event {event}: {_shown(value)} is not an integer, as the column's other "
                     f"values are (column {name!r})")


def _shown(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return not isinstance(value, float) or (math.isfinite(value) and value == int(value))
    return isinstance(value, str) and bool(_INTEGER.match(value) or _WHOLE_FLOAT.match(value))


def _typed_column(name, values, typed, base: int, source: str):
    """``_typed_values`` with its errors naming ``source`` (the file) first."""
    try:
        return _typed_values(name, values, typed, base)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _typed_values(name, values, typed, base: int = 0):
    """The column of an event field that a template slot reads as a number or a time.

    ``typed`` maps field names to ``"int"`` or ``"time"``; ``base`` is the number of events
    before ``values`` in the file (errors name events 1-based, file-wide). The column's first
    value decides what it holds, and every other value must hold the same, or the event is
    named in an ``InputError`` (a silently mixed column would render some lines wrong):

    - integers (a time column of integers is epoch milliseconds), whole floats or their text;
    - for a time, ISO 8601 times (what ``fastctx parse`` writes to CSV and JSON Lines): a
      timestamp column, so ``parse`` then ``render`` gives back the same lines;
    - other text (a CLF time written out): None, the values kept as text, which the renderer
      writes as they are into a time slot (an int slot checks them itself).
    """
    from .batch import Column, _pack_validity

    kind = typed.get(name)
    if kind is None:
        return None
    # `-` is a missing value, as a parse reads it (a log table read as text holds it)
    values = [None if v == "-" else v for v in values]
    present = [(row, v) for row, v in enumerate(values) if v is not None]
    if not present:
        return None
    first = present[0][1]
    if _is_number(first):
        return Column.from_ints([None if v is None else _event_number(v, name, base + row + 1)
                                 for row, v in enumerate(values)], name)
    for row, v in present:
        if not isinstance(v, str):
            what = "text, as the column's first value is" if isinstance(first, str) else \
                ("an integer" if kind == "int" else "an integer, a time or text")
            raise InputError(f"event {base + row + 1}: {_shown(v)} is not {what} "
                             f"(column {name!r})")
    if kind == "time" and _ISO_UTC.match(first) and all(_ISO_UTC.match(v) for _, v in present):
        # numpy, fast, and for any year (what parse writes for the years a datetime lacks)
        import numpy as np

        valid = np.array([v is not None for v in values], dtype=bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note that it drops the "Z"
            try:
                ms = np.array([v[:-1] if v is not None else "NaT" for v in values],
                              dtype="datetime64[ms]").view(np.int64)
            except ValueError:  # shaped like a time but not one (month 13): found below
                ms = None
        if ms is not None:
            return Column("timestamp", np.where(valid, ms, 0), validity=_pack_validity(valid))
    if kind == "time" and (_ISO_TIME.match(first) or _ISO_UTC.match(first)):
        times = []
        for row, v in enumerate(values):
            if v is None:
                times.append(None)
                continue
            try:
                if not _ISO_TIME.match(v):
                    raise ValueError
                moment = _dt.datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v)
            except ValueError:
                raise InputError(f"event {base + row + 1}: {_shown(v)} is not an ISO 8601 time, "
                                 f"as the column's first value is (column {name!r})") from None
            times.append(moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC))
        return Column.from_datetimes(times, name)
    if kind == "time":
        # other text, such as CLF times: written as they are, so none may be a number or an
        # ISO time (the renderer would write the number raw where a time belongs)
        for row, v in present:
            if _is_number(v) or _ISO_TIME.match(v) or _ISO_UTC.match(v):
                raise InputError(f"event {base + row + 1}: {_shown(v)} is a number or an ISO "
                                 f"time, but the column's first value is other text (column "
                                 f"{name!r})")
    return None


def _csv_batch(header, rows, source: str, typed=None, base: int = 0):
    from .batch import Batch, Column

    typed = typed or {}
    columns = {}
    for index, name in enumerate(header):
        values = [(row[index] if index < len(row) and row[index] != "" else None) for row in rows]
        column = _typed_column(name, values, typed, base, source)
        columns[name] = column if column is not None else Column.from_strings(values, name)
    return Batch(columns, len(rows))


def _json_batch(records, path, typed=None, base: int = 0):
    from .batch import Batch, Column

    typed = typed or {}
    names = {}
    for record in records:
        for key in record:
            names.setdefault(key, None)
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        kinds = {type(v) for v in values if v is not None}
        column = _typed_column(name, values, typed, base, path)
        if column is not None:
            columns[name] = column
        elif kinds <= {int} and all(v is None or -(2**63) <= v < 2**63 for v in values):
            columns[name] = Column.from_ints(values, name)
        elif kinds <= {str}:
            columns[name] = Column.from_strings(values, name)
        else:
            # mixed or nested values of a text variable (or ints past int64): their JSON text
            columns[name] = Column.from_strings(
                [v if isinstance(v, str) or v is None else json.dumps(v) for v in values], name)
    return Batch(columns, len(records))


# How a column conversion names the row of a bad value (batch.py, _arrow.pyx)
def _event_of(exc: Exception, base: int) -> str:
    """A column conversion's error (``errors.value_error``) with its row as the 1-based event
    number of a file whose batch starts after ``base`` events."""
    row = getattr(exc, "row", None)
    if row is None:
        return str(exc)
    return f"event {base + row + 1}: {exc.reason} (column {exc.column!r})"


def _typed_text_columns(table, typed, base: int, source: str):
    """A Parquet table (pyarrow or polars) whose text columns of number and time variables
    are read as ``_typed_column`` reads JSON Lines and CSV (ISO 8601 times as times, numbers
    as numbers), so an event renders the same from any of the three; the other columns stay
    Arrow data. The table itself when there is nothing to convert."""
    names = [str(n) for n in (table.column_names if hasattr(table, "column_names") else table.columns)]
    text = [n for n in names if n in typed and _is_text_column(table, n)]
    if not text:
        return table
    columns = {}
    for n in names:
        column = table.column(n) if hasattr(table, "column_names") else table.get_column(n)
        if n in text:
            converted = _typed_column(n, column.to_list() if hasattr(column, "to_list")
                                      else column.to_pylist(), typed, base, source)
            column = converted if converted is not None else column
        columns[n] = column
    return columns


def _is_text_column(table, name: str) -> bool:
    if hasattr(table, "column_names"):  # pyarrow
        import pyarrow as pa

        kind = table.schema.field(name).type
        if pa.types.is_dictionary(kind):  # pandas' and polars' categories
            kind = kind.value_type
        return pa.types.is_string(kind) or pa.types.is_large_string(kind) or \
            getattr(pa.types, "is_string_view", lambda _: False)(kind)
    kind = str(table.schema[name])  # polars
    return kind in ("String", "Utf8") or kind.startswith(("Categorical", "Enum"))


def _check_event_columns(fmt, batch, name) -> None:
    """Events none of whose fields is a variable of the template would render as lines of
    ``-`` only: a wrong template or file (JSON Lines read with --from csv), not a result."""
    names = getattr(batch, "column_names", None)
    if names is None:
        names = getattr(batch, "columns", ())  # polars
    if len(batch) and not set(fmt.variables) & set(names):
        shown = ", ".join(str(n) for n in list(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(
            f"{name}: no event field is a variable of the template (fields: {shown}; "
            f"variables: {', '.join(fmt.variables[:5])}{', ...' if len(fmt.variables) > 5 else ''})")


def cmd_render(args) -> int:
    from .program import VType

    fmt = _compile(args)
    typed = {slot.name: "int" if slot.vtype == VType.INT else "time" for slot in fmt.program.slots
             if slot.vtype in (VType.INT, VType.EPOCH_MS, VType.CLF_TIME)}
    sources = _check_sources(_sources(args))
    _check_outputs(args, sources)
    kinds = {}
    for path in sources:
        # events.jsonl.gz: JSON Lines, gzipped
        ext = os.path.splitext(_ungzipped(path))[1].lower()
        kinds[path] = args.source_format or _EXTENSIONS.get(ext)
        if kinds[path] is None:
            raise UsageError(f"cannot tell the event format of {path!r}; use --from jsonl, csv or parquet")
    with _Output(args.output) as handle:
        for path in sources:
            name = "stdin" if path == "-" else path
            progress = Progress("render", None, "events")
            rows = 0
            events = _read_events(path, kinds[path], typed)
            try:
                while True:
                    try:
                        batch = next(events, None)
                    except (FastctxError, UsageError):
                        raise
                    except (OSError, EOFError, ValueError, TypeError, ArithmeticError) as exc:
                        # unreadable Parquet or gzip, a value that does not fit its column: name
                        # the file, and the event (the chunk read starts after `rows` of them)
                        raise InputError(f"{name}: {_event_of(exc, rows)}") from None
                    if batch is None:
                        break
                    if rows == 0:
                        _check_event_columns(fmt, batch, name)
                    # counted before a Parquet table's text columns become a dict of columns
                    count = batch.num_rows if hasattr(batch, "num_rows") else len(batch)
                    if kinds[path] == "parquet":
                        batch = _typed_text_columns(batch, typed, rows, name)
                    try:
                        # in row order, the lines before a bad event included
                        fmt.render_to(batch, handle, threads=_threads(args))
                    except RenderError as exc:
                        if exc.row is None:
                            raise InputError(f"{name}: {exc}") from None
                        raise InputError(f"{name}: event {rows + exc.row + 1}: {exc.reason} "
                                         f"(column {exc.column!r})") from None
                    except (TypeError, ValueError, OverflowError) as exc:
                        # a column of a type fastctx does not render (Arrow booleans), or a
                        # value its column cannot hold (a float 7.5 for an int): the event
                        raise InputError(f"{name}: {_event_of(exc, rows)}") from None
                    rows += count
                    progress.update(rows)
            finally:
                events.close()
                progress.close()
    return EXIT_OK


def cmd_generate(args) -> int:
    from . import generate

    fmt = _compile(args)
    if args.n < 0:
        raise UsageError("-n must be zero or more")
    if args.format is None:
        # log lines may well go to .csv or .jsonl (the CSV and JSON presets); never to Parquet
        parquet = args.output and _EXTENSIONS.get(os.path.splitext(args.output)[1].lower()) == "parquet"
        args.format = "parquet" if parquet else "lines"
    progress = Progress("generate", args.n, "events")
    # The chunks, their seeds and time windows do not depend on --rate (same seed, same
    # output); a rate writes each chunk in pieces of a tenth of a second's events.
    chunk = _GENERATE_ROWS_PER_CHUNK
    interval = None if not args.rate else 1.0 / args.rate
    piece = chunk if interval is None else max(1, min(chunk, int(args.rate // 10) or 1))
    start = time.monotonic()
    written = 0
    with _Output(args.output) as handle:
        writer = None if args.format == "lines" else _table_writer(handle, args.format, epoch_ms=True)
        try:
            done = 0
            index = 0
            while done < args.n or (done == 0 and writer is not None and index == 0):
                rows = min(chunk, args.n - done)
                # Each chunk has its own seed derived from --seed (same seed, same output) and
                # its own slice of the time range, so times keep increasing across chunks.
                low, high = generate.TIME_RANGE_MS
                span = high - low
                window = (low + span * done // max(args.n, 1), low + span * (done + rows) // max(args.n, 1) + 1)
                batch = generate.events(fmt, rows, seed=args.seed * 1_000_003 + index,
                                        missing=args.missing, escaped=args.escaped, time_range=window)
                for lo in range(0, max(rows, 1), piece):
                    part = batch if piece >= rows else batch.slice(lo, min(lo + piece, rows))
                    if writer is None:
                        handle.write(fmt.render(part, threads=_threads(args)))
                    else:
                        writer.write(part)
                    written += part.num_rows
                    progress.update(written)
                    if interval is not None:
                        ahead = start + written * interval - time.monotonic()
                        if ahead > 0:
                            handle.flush()
                            time.sleep(ahead)
                done += rows
                index += 1
                if rows == 0:
                    break
        finally:
            if writer is not None:
                writer.close()
            progress.close()
    return EXIT_OK


def cmd_bench(args) -> int:
    from . import bench

    return bench.main(args.bench_args)


# -- argument parsing ---------------------------------------------------------------------------


def _add_template_options(parser, prefix: str = "", what: str = "") -> None:
    dest = prefix.replace("-", "_")
    group = parser.add_argument_group(f"{what}template".strip() if what else "template")
    group.add_argument(f"--{prefix}preset", dest=f"{dest}preset", metavar="NAME",
                       help="a console preset of the API type: " + "; ".join(
                           f"{api} {', '.join(names)}" for api, names in PRESETS.items()))
    group.add_argument(f"--{prefix}template", dest=f"{dest}template", metavar="STR",
                       help="the access-log format string")
    group.add_argument(f"--{prefix}template-file", dest=f"{dest}template_file", metavar="FILE",
                       help="read the format string from a file")
    group.add_argument(f"--{prefix}escape", dest=f"{dest}escape", choices=("auto", "json", "none"),
                       default=None if prefix else "auto",
                       help="none: as API Gateway writes (WebSocket, HTTP); json: JSON string "
                            "positions escaped (REST); auto: every line valid for its shape "
                            + ("(default: as the input)" if prefix else "(default)"))
    if not prefix:
        group.add_argument("--api", choices=("websocket", "rest", "http"), default="websocket",
                           help="API type whose $context variables apply (default websocket)")
        group.add_argument("--no-strict", action="store_true",
                           help="accept templates that AWS would refuse (no requestId, over 3 KB)")
    else:
        group.add_argument(f"--{prefix}api", dest=f"{dest}api", choices=("websocket", "rest", "http"),
                           default=None, help="API type of the output template (default: as the input)")


def _add_parse_options(parser) -> None:
    group = parser.add_argument_group("input")
    group.add_argument("inputs", nargs="*", metavar="FILE",
                       help="log files (plain, gzip, CloudWatch export / subscription / Firehose); "
                            "- or nothing for stdin")
    group.add_argument("--kind", choices=("auto", "lines", "export", "subscription", "firehose"),
                       default="auto", help="what the input holds (default: detected)")
    group.add_argument("--on-error", choices=("raise", "skip", "collect"), default=None,
                       help="a bad record: raise stops with exit code 1 (default), skip counts it, "
                            "collect keeps it for --rejects")
    group.add_argument("--rejects", metavar="FILE",
                       help="write every rejected record verbatim (its line ending, a CR "
                            "before the newline included, aside), after a header line "
                            "'#fastctx-reject source=... line=N offset=N bytes=N reason=...' "
                            "(implies --on-error collect)")
    group.add_argument("--batch-size", type=_positive, default=16, metavar="MB",
                       help="input megabytes per batch; bounds memory (default 16)")
    group.add_argument("--stats", action="store_true",
                       help="print the record counts on stderr (always printed with "
                            "--on-error skip or collect, or --rejects)")


def _add_common(parser) -> None:
    parser.add_argument("--threads", type=_thread_count, default=None, metavar="N",
                        help="threads for parse and render (default: all cores)")
    parser.add_argument("-o", "--output", metavar="FILE", default="-",
                        help="output file, gzip compressed when its name ends .gz "
                             "(default - : stdout)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _rate(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected lines per second, got {text!r}") from None
    if math.isnan(value) or value < 1e-6:  # slower would sleep past what the OS can time
        raise argparse.ArgumentTypeError("the rate must be at least 0.000001 per second")
    return None if math.isinf(value) else value  # inf: as fast as possible


def _thread_count(text: str) -> int:
    value = _positive(text)
    if value > _MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {_MAX_THREADS} threads, got {text!r}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


_EXAMPLES = {
    "check": """examples:
  fastctx check --preset clf
  fastctx check --api http --template '$context.requestId "$context.routeKey" $context.status'
  fastctx check --api rest --template-file format.txt --escape json""",
    "render": """examples:
  fastctx render --preset json events.jsonl -o access.log
  fastctx render --preset clf --escape none events.parquet
  cat events.csv | fastctx render --preset csv --from csv -""",
    "parse": """examples:
  fastctx parse --preset clf access.log -o out.parquet
  fastctx generate --preset clf -n 1000000 | fastctx parse --preset clf - -o out.parquet
  fastctx parse --api rest --preset json --escape json logs.gz -o out.csv --rejects bad.txt
  fastctx parse --preset json --kind subscription payload.json -o events.jsonl""",
    "convert": """examples:
  fastctx convert --preset json --escape none --to-preset json --to-escape auto raw.log
  fastctx convert --preset clf --to-preset csv access.log -o access.csv""",
    "generate": """examples:
  fastctx generate --preset clf -n 1000 --seed 7
  fastctx generate --api http --preset clf -n 100 --format jsonl -o events.jsonl
  fastctx generate --template '$context.requestId $context.status' -n 50 --rate 10""",
    "bench": """examples:
  fastctx bench render --rows 1000000
  fastctx bench parse --shapes clf,json --threads 1,2
  fastctx bench --help      (the options of the benchmark runner)""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastctx",
        description="Render and parse Amazon API Gateway access logs at native speed.",
        epilog="exit codes: 0 success, 1 bad input records (--on-error raise) or unreadable input, "
               "2 usage or template error.\nRun 'fastctx COMMAND --help' for a command's options "
               "and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastctx {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name, help_text):
        return commands.add_parser(name, help=help_text, description=help_text, epilog=_EXAMPLES[name],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)

    check = command("check", "validate a template; show its shape, variables, slots and bytecode")
    _add_template_options(check)
    check.set_defaults(run=cmd_check)

    render = command("render", "events (JSON Lines, CSV, Parquet) -> access-log lines")
    _add_template_options(render)
    render.add_argument("inputs", nargs="*", metavar="FILE", help="event files; - or nothing for stdin")
    render.add_argument("--from", dest="source_format", choices=_TABLE_FORMATS,
                        help="event format (default: from the file extension)")
    _add_common(render)
    render.set_defaults(run=cmd_render)

    parse = command("parse", "access-log lines -> Parquet, CSV or JSON Lines")
    _add_template_options(parse)
    _add_parse_options(parse)
    parse.add_argument("--to", choices=_TABLE_FORMATS,
                       help="output format (default: from the -o extension; jsonl on stdout)")
    _add_common(parse)
    parse.set_defaults(run=cmd_parse)

    convert = command("convert", "parse with one template, render with another")
    _add_template_options(convert, what="input ")
    _add_template_options(convert, "to-", what="output ")
    _add_parse_options(convert)
    _add_common(convert)
    convert.set_defaults(run=cmd_convert)

    gen = command("generate", "realistic synthetic events or log lines for any template")
    _add_template_options(gen)
    gen.add_argument("-n", type=int, default=1000, help="how many events (default 1000)")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same output (default 0)")
    gen.add_argument("--format", choices=("lines",) + _TABLE_FORMATS, default=None,
                     help="log lines (default; events as Parquet for -o FILE.parquet, which "
                          "cannot hold lines), or the events as JSON Lines / CSV / Parquet")
    gen.add_argument("--missing", type=_share, default=0.02, help="share of missing values (default 0.02)")
    gen.add_argument("--escaped", type=_share, default=0.05,
                     help="share of text values that need escaping (default 0.05)")
    gen.add_argument("--rate", type=_rate, default=None, metavar="PER_SECOND",
                     help="write at most this many events per second (default: as fast as possible)")
    _add_common(gen)
    gen.set_defaults(run=cmd_generate)

    bench = command("bench", "throughput against the Python peers, side by side, as a table")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="options of the benchmark runner")
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv=None) -> int:
    """Run the ``fastctx`` command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark runner parses its own options
        from . import bench

        return _guard(lambda: bench.main(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    signals = {signal.SIGINT: KeyboardInterrupt}
    if hasattr(signal, "SIGTERM"):
        signals[signal.SIGTERM] = _Terminated
    with warnings.catch_warnings(), _signals.raised_where_safe(signals):
        # A warning (XML characters dropped in a render) is one line on stderr like the
        # errors, not Python's file:line report with a line of fastctx source under it.
        warnings.showwarning = _show_warning
        return _guard(lambda: args.run(args), parser)


class _Terminated(BaseException):
    """SIGTERM (``timeout``, a service stop), raised so that outputs are cleaned up as on
    Ctrl-C: the temporary file of ``-o`` removed, an existing file kept."""


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"fastctx: warning: {message}", file=sys.stderr)


def _drop_stdout() -> None:
    """Point sys.stdout at /dev/null once its reader has gone, so that Python's flush at
    exit does not complain a second time."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


def _guard(run, parser=None) -> int:
    try:
        code = run()
        return EXIT_OK if code is None else code
    except UsageError as exc:
        print(f"fastctx: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FormatError as exc:
        print(f"fastctx: template error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ParseError as exc:
        source = getattr(exc, "source", None)
        print(f"fastctx: bad record{f' in {source}' if source else ''}: {exc}", file=sys.stderr)
        print("fastctx: use --on-error skip or collect (with --rejects FILE) to go on past bad records",
              file=sys.stderr)
        return EXIT_DATA
    except (InputError, RenderError) as exc:
        print(f"fastctx: error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except FastctxError as exc:
        print(f"fastctx: error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, as other command-line tools do
        _drop_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("fastctx: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("fastctx: terminated", file=sys.stderr)
        return 143
    except (OSError, ValueError, TypeError, ArithmeticError) as exc:
        # Unreadable files, event values of the wrong type: one line, no traceback.
        print(f"fastctx: error: {exc}", file=sys.stderr)
        return EXIT_DATA


if __name__ == "__main__":
    raise SystemExit(main())
