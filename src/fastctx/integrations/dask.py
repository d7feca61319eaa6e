"""Dask: parse access logs spread over many files, local or in object storage, into a Dask DataFrame.

``read_logs`` cuts every file into byte ranges of about ``blocksize`` bytes and builds one
partition per range with ``dask.dataframe.from_map``; each partition is parsed by fastctx on
one thread (Dask already runs one task per worker thread) and becomes a pandas DataFrame with
the types of ``Batch.to_pandas()``. ``stats`` gives the record counts of the same partitions.

Byte ranges
    A range ``[start, stop)`` of a file owns every record that *starts* inside it: unless
    ``start == 0``, the partial record at its beginning belongs to the range before and is
    skipped, and the last record is read past ``stop`` to its newline. So every record is read
    exactly once, however the ranges fall. Only newlines cut records here, so formats whose
    records may span lines (``auto`` CSV, where a quoted field may hold a newline) are read one
    partition per file, as are compressed files (a gzip stream cannot be entered midway).

Files are opened with fsspec (a dependency of Dask), so ``paths`` may be local paths, globs,
or any URL fsspec knows (``s3://bucket/logs/*.gz`` with s3fs installed, ``gcs://``, ...);
``storage_options`` go to the filesystem.

``partitions``, ``read_range`` and ``read_partition`` need only fsspec, so other engines (the
PySpark recipe in ``docs/scaling.md``) can use the same byte ranges; ``read_logs`` and
``stats`` import Dask when called. fastctx itself never imports this module.
"""

from __future__ import annotations

import os

from fsspec.core import get_fs_token_paths
from fsspec.utils import infer_compression

from ..api import Format
from ..batch import Batch
from ..errors import InputError, ParseError
from ..io import _BOM, _detect, read_all
from ..parallel import needs_quote_tracking

__all__ = ["read_logs", "stats", "partitions", "read_range", "read_partition", "PartitionParseError",
           "STATS_COLUMNS"]

#: Columns of the frame ``stats`` returns, one row per partition.
STATS_COLUMNS = ("path", "start", "stop", "records", "accepted", "rejected", "empty", "normalized")

_GZIP_MAGIC = b"\x1f\x8b"
#: Bytes read at a time while looking for the newline that ends a partial record.
_SCAN = 1 << 16


class PartitionParseError(ParseError):
    """A bad record in one partition of ``read_logs`` (``on_error="raise"``).

    A ``ParseError`` that also names the file and the partition. ``offset`` is the byte
    offset in the file (in the decompressed stream for a compressed file); ``line`` counts
    lines from the start of the partition, since a partition does not know how many lines the
    ranges before it hold. Unlike its base class it survives pickling, which Dask needs to
    bring the error from a worker to the client.

    Attributes
    ----------
    path : str
        The file.
    partition_start : int
        Byte offset in the file where the partition's first record starts.
    """

    def __init__(self, path: str, partition_start: int, reason: str, line: int, offset: int,
                 column: int, expected: str, raw: bytes):
        super().__init__(reason, line, offset, column, expected, raw)
        self.path = path
        self.partition_start = partition_start
        self.args = (f"{path}, partition from byte {partition_start} (lines counted from there): "
                     f"{self.args[0]}",)

    def __reduce__(self):
        return (type(self), (self.path, self.partition_start, self.reason, self.line, self.offset,
                             self.column, self.expected, self.raw))


# -- planning: files -> byte ranges ------------------------------------------------------------


def _format(format, api: str, escape: str) -> Format:
    if isinstance(format, Format):
        return format
    if isinstance(format, str):
        from ..presets import PRESETS

        # A preset name ("clf", "json", ...) or a template.
        template = PRESETS.get(api, {}).get(format, format)
        return Format(template, api, escape)
    raise TypeError(f"format must be a fastctx.Format or a template string, got {type(format).__name__}")


def _compression_of(path: str, compression):
    if compression == "infer":
        return infer_compression(path)
    return compression


def partitions(paths, format, *, api: str = "websocket", escape: str = "auto", blocksize="64MiB",
               compression="infer", storage_options=None):
    """The byte ranges ``read_logs`` makes partitions of: ``(fs, [(path, start, stop, compression), ...])``.

    A plain file larger than ``blocksize`` gives ranges ``[0, b), [b, 2b), ...``; a compressed
    file, a file of a format whose records may span lines, or any file when ``blocksize`` is
    None gives one range ``[0, size)``. An empty file gives ``[0, 0)``.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastctx.integrations.dask import partitions
    >>> path = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"r1 200\\nr2 404\\nr3 500\\n")
    >>> fs, parts = partitions(path, "$context.requestId $context.status", blocksize=8)
    >>> [(start, stop) for _, start, stop, _ in parts]
    [(0, 8), (8, 16), (16, 21)]
    """
    fmt = _format(format, api, escape)
    if isinstance(paths, os.PathLike):
        paths = os.fspath(paths)
    elif not isinstance(paths, str):
        paths = [os.fspath(p) for p in paths]
    fs, _, expanded = get_fs_token_paths(paths, mode="rb", storage_options=storage_options or {})
    if not expanded:
        raise FileNotFoundError(f"no files match {paths!r}")
    if blocksize is not None:
        if isinstance(blocksize, str):
            from dask.utils import parse_bytes

            blocksize = parse_bytes(blocksize)
        blocksize = int(blocksize)
        if blocksize < 1:
            raise ValueError(f"blocksize must be positive, got {blocksize}")
    whole_files = blocksize is None or needs_quote_tracking(fmt.program)
    parts = []
    for path in expanded:
        size = fs.size(path)
        comp = _compression_of(path, compression)
        if whole_files or comp is not None or size <= blocksize:
            parts.append((path, 0, size, comp))
            continue
        parts.extend((path, start, min(start + blocksize, size), None) for start in range(0, size, blocksize))
    return fs, parts


# -- reading one partition -----------------------------------------------------------------------


def _after_newline(f, pos: int) -> int | None:
    """Position just past the first ``\\n`` at or after ``pos`` (None if there is none)."""
    f.seek(pos)
    while True:
        block = f.read(_SCAN)
        if not block:
            return None
        hit = block.find(b"\n")
        if hit >= 0:
            return pos + hit + 1
        pos += len(block)


def read_range(f, start: int, stop: int) -> tuple[int, bytes]:
    """The records that start in ``[start, stop)`` of the open binary file ``f``: ``(begin, data)``.

    ``begin`` is the file offset of ``data``'s first byte. A record starts at offset 0 and
    after every ``\\n``; the last record runs to its ``\\n`` (or the end of the file), even
    past ``stop``.

    Examples
    --------
    >>> import io
    >>> f = io.BytesIO(b"aa\\nbbbb\\ncc\\n")
    >>> [read_range(f, lo, lo + 4) for lo in (0, 4, 8)]
    [(0, b'aa\\nbbbb\\n'), (8, b''), (8, b'cc\\n')]
    """
    begin = start
    if start > 0:
        # The record that owns byte `start` began in an earlier range unless the byte before
        # it is a newline: look from start - 1 for the first record boundary.
        begin = _after_newline(f, start - 1)
        if begin is None or begin >= stop:
            return (stop if begin is None else begin), b""
    f.seek(begin)
    body = f.read(stop - begin)
    if len(body) < stop - begin or body.endswith(b"\n"):
        return begin, body
    rest = _after_newline(f, stop)
    f.seek(stop)
    tail = f.read() if rest is None else f.read(rest - stop)
    return begin, body + tail


def read_partition(fs, part, format, on_error: str = "skip") -> Batch:
    """Parse one range ``(path, start, stop, compression)`` of ``partitions`` on one thread.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem ``partitions`` returned.
    part : tuple
        ``(path, start, stop, compression)``: the records that start in ``[start, stop)``
        (see ``read_range``), or the whole file when ``compression`` is not None (gzip,
        multi-member too, is read by fastctx; other codecs by fsspec).
    format : Format
    on_error : {"skip", "raise", "collect"}
        As for ``Format.parse``. A bad record raises ``PartitionParseError`` (byte offset in
        the file, line counted from the partition's first record).

    Returns
    -------
    Batch
        With ``stats``, and ``rejects`` under ``collect`` (their offsets are the file's).

    Examples
    --------
    >>> import fsspec, fastctx
    >>> fs = fsspec.filesystem("memory")
    >>> fs.pipe_file("/doc/read_partition.log", b"r1 200\\nr2 404\\nr3 500\\n")
    >>> fmt = fastctx.compile("$context.requestId $context.status")
    >>> read_partition(fs, ("/doc/read_partition.log", 5, 10, None), fmt).to_pydict()
    {'requestId': ['r2'], 'status': [404]}
    """
    path, start, stop, comp = part
    if comp is not None:
        return _read_whole(fs, path, comp, format, on_error)
    with fs.open(path, "rb") as f:
        begin, data = read_range(f, start, stop)
    if begin == 0 and data[:2] == _GZIP_MAGIC:
        raise InputError(
            f"{path} holds gzip data but its name does not say so: pass compression='gzip' "
            "(compressed files cannot be cut into byte ranges)")
    if begin == 0 and data[:3] == _BOM:  # no part of the first record, as fastctx.read says
        begin, data = 3, data[3:]
    try:
        # One thread: Dask and Spark already run one task per worker thread. Plain lines go
        # straight to the kernel (read_all would copy the range into blocks of its own first);
        # the reader's two other rules for a file, the BOM above and export prefixes, are
        # applied here as it applies them.
        if _detect(bytes(data[:4096])) == "export":
            # a CloudWatch export object: its records without their timestamp prefixes (the
            # prefix is no variable of the format, so no column; fastctx.read gives it)
            batch = read_all(data, format, kind="export", columns=(), on_error=on_error,
                             threads=1)
        else:
            batch = format.parse(data, on_error, threads=1)
    except ParseError as exc:
        raise PartitionParseError(path, begin, exc.reason, exc.line, begin + exc.offset,
                                  exc.column, exc.expected, exc.raw) from None
    for reject in batch.rejects:
        reject.offset += begin
    return batch


def _read_whole(fs, path: str, comp: str, fmt: Format, on_error: str) -> Batch:
    # fastctx's own reader decompresses gzip (multi-member too) in bounded blocks; other
    # codecs go through fsspec.
    with fs.open(path, "rb", compression=None if comp == "gzip" else comp) as f:
        try:
            # whatever fastctx.read detects (plain lines, a CloudWatch export object or
            # subscription payloads), without the envelope columns: the format's alone
            return read_all(f, fmt, columns=(), on_error=on_error, threads=1)
        except ParseError as exc:
            raise PartitionParseError(path, 0, exc.reason, exc.line, exc.offset, exc.column,
                                      exc.expected, exc.raw) from None
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


class _Partition:
    """Parses one ``(path, start, stop, compression)`` range; picklable, shipped to the workers."""

    def __init__(self, fs, fmt: Format, on_error: str, columns):
        self.fs = fs
        self.fmt = fmt
        self.on_error = on_error
        self.columns = columns

    def __dask_tokenize__(self):
        # fsspec filesystems tokenize by their class and options.
        return (type(self).__name__, self.fs, self.fmt.template, self.fmt.api, self.fmt.escape,
                self.fmt.strict, self.on_error, None if self.columns is None else tuple(self.columns))

    def batch(self, part, on_error: str) -> Batch:
        return read_partition(self.fs, part, self.fmt, on_error)

    def __call__(self, part, columns):
        # `columns` without a default: Dask then always passes the projection, an empty one
        # included (with a default it left `df[[]]` to the default, every column)
        batch = self.batch(part, self.on_error)
        wanted = self.columns if columns is None else list(columns)
        return _frame(batch, wanted)


def _frame(batch: Batch, columns):
    if columns is not None:
        batch = Batch({name: batch.column(name) for name in columns}, batch.num_rows)
    return batch.to_pandas()


class _PartitionStats(_Partition):
    def __call__(self, part):
        import pandas

        batch = self.batch(part, "skip")
        path, start, stop, _ = part
        row = {"path": [path], "start": [start], "stop": [stop]}
        row.update({name: [value] for name, value in batch.stats.as_dict().items()})
        return pandas.DataFrame(row).astype({name: "int64" for name in STATS_COLUMNS[1:]})


def _check_columns(fmt: Format, columns):
    if columns is None:
        return None
    columns = [columns] if isinstance(columns, str) else list(columns)
    unknown = [name for name in columns if name not in fmt.variables]
    if unknown:
        raise ValueError(f"columns {unknown} are not variables of the format; it has {list(fmt.variables)}")
    return columns


# -- the public functions --------------------------------------------------------------------------


def read_logs(paths, format, *, api: str = "websocket", escape: str = "auto", blocksize="64MiB",
              on_error: str = "skip", storage_options=None, columns=None, compression="infer"):
    """Parse access logs in many files into a lazy ``dask.dataframe.DataFrame``.

    Parameters
    ----------
    paths : str, os.PathLike or list of them
        Files, globs, or fsspec URLs (``s3://bucket/logs/2024/*.log``).
    format : Format or str
        A compiled ``Format``, a template, or the name of a preset of ``api``
        (``"clf"``, ``"json"``, ``"xml"``, ``"csv"``).
    api, escape : str
        Used to compile ``format`` when it is a string (see ``fastctx.compile``).
    blocksize : int, str or None
        Bytes per partition of a plain file (``16_000_000``, or ``"64MiB"`` parsed by Dask's
        ``parse_bytes``); None for one partition per file. Compressed files are always one
        partition each.
    on_error : {"skip", "raise"}
        ``skip`` drops bad records (count them with ``stats``); ``raise`` fails the
        computation with a ``PartitionParseError`` naming the file and the byte offset in
        it. Line numbers in errors count from the start of their partition, not of the file
        (a partition does not know how many lines the ranges before it hold); byte offsets
        are the file's.
    storage_options : dict, optional
        Passed to the fsspec filesystem (credentials, endpoint, ...).
    columns : list of str, optional
        The variables to keep (default: all, in the format's order). Selecting columns on the
        result later is pushed down the same way.
    compression : "infer", str or None
        ``infer`` goes by the file name (``.gz``, ``.bz2``, ``.xz``, ``.zst``, ...), as Dask does.

    Returns
    -------
    dask.dataframe.DataFrame
        One column per variable, typed as ``Batch.to_pandas()`` types it: ``Int64`` for
        integers, ``datetime64[ms, UTC]`` for times, pandas strings for the rest (Dask may
        make those its own string dtype, as its ``dataframe.convert-string`` option says: the
        same values, with ``pd.NA`` for a missing one). The metadata comes from the format,
        without reading any data. Rows of a file keep their
        order; the index restarts at 0 in every partition.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastctx.integrations.dask import read_logs
    >>> path = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"r1 200\\nr2 404\\nr3 -\\n")
    >>> df = read_logs(path, "$context.requestId $context.status", blocksize=8)
    >>> df.npartitions, df.dtypes["status"]
    (3, Int64Dtype())
    >>> df.compute(scheduler="sync")["status"].tolist()
    [200, 404, <NA>]
    """
    import dask.dataframe as dd

    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    fmt = _format(format, api, escape)
    columns = _check_columns(fmt, columns)
    fs, parts = partitions(paths, fmt, blocksize=blocksize, compression=compression,
                           storage_options=storage_options)
    # Parsing nothing gives the empty columns with their final types: meta without reading data.
    meta = _frame(fmt.parse(b"", "skip", threads=1), columns)
    return dd.from_map(_Partition(fs, fmt, on_error, columns), parts, meta=meta,
                       label="fastctx-read-logs", enforce_metadata=True)


def stats(paths, format, *, api: str = "websocket", escape: str = "auto", blocksize="64MiB",
          storage_options=None, compression="infer"):
    """Record counts per partition of ``read_logs`` with the same arguments but ``columns`` and
    ``on_error`` (lazy).

    Parses the same ranges again with ``on_error="skip"``; each partition gives one row:
    ``path``, ``start`` and ``stop`` (the byte range), ``records``, ``accepted``,
    ``rejected``, ``empty``, ``normalized`` (see ``fastctx.Stats``). For every partition
    ``accepted + rejected + empty == records``; ``accepted`` is the number of rows that
    partition of ``read_logs`` holds.

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``STATS_COLUMNS``; ``.compute()`` it, or ``.sum()`` the counts.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastctx.integrations.dask import stats
    >>> path = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"r1 200\\nr2 oops\\n\\nr3 500\\n")
    >>> counts = stats(path, "$context.requestId $context.status", blocksize=10).compute(scheduler="sync")
    >>> counts[["start", "records", "accepted", "rejected", "empty"]].values.tolist()
    [[0, 2, 1, 1, 0], [10, 2, 1, 0, 1], [20, 0, 0, 0, 0]]
    """
    import dask.dataframe as dd
    import pandas

    fmt = _format(format, api, escape)
    fs, parts = partitions(paths, fmt, blocksize=blocksize, compression=compression,
                           storage_options=storage_options)
    meta = pandas.DataFrame({"path": pandas.Series([], dtype="str")}).assign(
        **{name: pandas.Series([], dtype="int64") for name in STATS_COLUMNS[1:]})
    return dd.from_map(_PartitionStats(fs, fmt, "skip", None), parts, meta=meta,
                       label="fastctx-stats", enforce_metadata=True)
