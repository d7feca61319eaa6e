"""Throughput of fastctx against the Python peers, measured side by side in one run.

This is the measurement core behind ``benchmarks/compare.py``, the pytest-benchmark suite and
``fastctx bench``. For every shape of the WebSocket presets (``clf``, ``json``, ``xml``,
``csv``) it builds one data set with :mod:`fastctx.generate` (1,000,000 events by default,
~2% nulls, ~5% of the free-text values needing escaping), hands each implementation the same
data in its own natural form (prepared outside the timed call), and times the call that
renders lines or parses them.

Fairness rules, stated in the table's footnotes:

- every peer produces equivalent output: the same fields, escaped so that every line is
  valid for its shape (``verify=True`` checks that on the data, line by line);
- peers get ``requestTime`` already formatted as CLF text and parse peers leave values as
  text, which only favours them; fastctx formats and parses times and integers itself;
- every implementation is prepared and run once untimed, then all are timed round-robin
  (call 1 of each, call 2 of each, ...), so a spell of load from elsewhere is shared, and
  each round in its own order (a seeded shuffle), so no implementation always follows the
  same one;
- everything runs on one thread unless a row says otherwise: polars with
  ``POLARS_MAX_THREADS`` (it reads that once, at import: ``main`` sets it before importing
  polars, otherwise polars runs in a subprocess started with it), pyarrow with
  ``set_cpu_count`` and ``use_threads=False``, DuckDB with ``SET threads``, fastctx with
  ``threads=1``;
- the garbage collector is off during a timed call (as :mod:`timeit` does), and each figure
  is the median of ``repeat`` calls.

Examples
--------
>>> from fastctx import bench
>>> rows = bench.run("render", rows=200, repeat=1, shapes=["csv"], peers=["csv module"], polars=False)
>>> [(r.shape, r.name) for r in rows]
[('csv', 'fastctx render (auto)'), ('csv', 'fastctx render (none)'), ('csv', 'fastctx render_into (auto)'), ('csv', 'csv module')]
>>> all(r.lines_per_s > 0 for r in rows)
True
"""

from __future__ import annotations

import argparse
import csv as _csv
import datetime as _dt
import gc
import importlib
import inspect
import io
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape as _xml_escape

import numpy as np

from . import __version__, release_memory
from ._memory import _held_bytes, _held_peak
from .generate import clf_time_column, events
from .parallel import MAX_THREADS
from .presets import preset

__all__ = [
    "SHAPES",
    "OPERATIONS",
    "Result",
    "Workload",
    "Peer",
    "peers_for",
    "fastctx_cases",
    "run",
    "format_table",
    "environment",
    "main",
]

SHAPES = ("clf", "json", "xml", "csv")
OPERATIONS = ("render", "parse")
DEFAULT_ROWS = 1_000_000
POLARS_LIBRARY = "polars"


# -- results ----------------------------------------------------------------------------------


@dataclass
class Result:
    """One implementation on one shape: the median time and what it produced.

    Attributes
    ----------
    operation, shape, name, library : str
        ``name`` is the table label (``"fastctx render (auto)"``, ``"csv module"``);
        ``library`` the package measured (``fastctx``, ``python``, ``polars``, ...).
    threads : int
        Threads the implementation was allowed to use.
    lines : int
        Records rendered or parsed per call.
    nbytes : int
        Bytes of output (render: each implementation's own output) or of input (parse).
    seconds : float or None
        Median seconds per call; None when the row was skipped (see ``error``).
    runs : list of float
        Every timed call.
    memory : float or None
        fastctx rows: peak allocation during the call (see ``_peak_memory``) divided by the
        output size (render) or by the output columns' size (parse; the input was already in
        memory).
    error : str or None
        Why the row has no figure (library missing, kernel not built, wrong output).
    ratio : float or None
        Lines per second divided by that of the fastest one-thread peer of the shape.
    """

    operation: str
    shape: str
    name: str
    library: str
    threads: int = 1
    lines: int = 0
    nbytes: int = 0
    seconds: float | None = None
    runs: list = field(default_factory=list)
    memory: float | None = None
    error: str | None = None
    ratio: float | None = None

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def is_fastctx(self) -> bool:
        return self.library == "fastctx"


# -- the data ---------------------------------------------------------------------------------

_EVENTS_CACHE: dict = {}
_COLUMNS_CACHE: dict = {}


def _shared_events(rows: int, seed: int):
    """The four WebSocket presets use the same nine variables: generate them once."""
    key = (rows, seed)
    if key not in _EVENTS_CACHE:
        _EVENTS_CACHE.clear()
        _EVENTS_CACHE[key] = events(preset("websocket", "clf"), rows, seed=seed)
    return _EVENTS_CACHE[key]


def _column_pylist(column) -> list:
    """A column as Python values, fast: one decode per value, no per-row numpy access."""
    valid = column.valid_mask().tolist()
    if column.kind == "string":
        raw = column.data.tobytes()
        offsets = column.values.tolist()
        return [raw[a:b].decode("utf-8") if ok else None
                for a, b, ok in zip(offsets, offsets[1:], valid)]
    return [v if ok else None for v, ok in zip(column.values.tolist(), valid)]


def _digest(batch) -> int:
    """A checksum of a batch's buffers: proves a subprocess measured the same data."""
    crc = 0
    for name in batch.column_names:
        column = batch.column(name)
        for buffer in (column.values, column.data, column.validity):
            if buffer is not None:
                crc = zlib.crc32(buffer.tobytes(), crc)
    return crc


class Workload:
    """One shape's data in every form the implementations take, each built on first use.

    Parameters
    ----------
    shape : {"clf", "json", "xml", "csv"}
        Which WebSocket preset.
    rows : int
        Events (render) or lines (parse).
    seed : int
        Passed to :func:`fastctx.generate.events`.
    """

    def __init__(self, shape: str, rows: int = DEFAULT_ROWS, seed: int = 0):
        import fastctx

        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
        self.shape = shape
        self.rows = int(rows)
        self.seed = seed
        self.template = preset("websocket", shape)
        self.fmt = fastctx.compile(self.template, api="websocket", escape="auto")
        self.fmt_none = fastctx.compile(self.template, api="websocket", escape="none")
        self.names = list(self.fmt.variables)
        self._cache: dict = {}

    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def batch(self):
        """The events as a ``fastctx.Batch`` (requestTime as timestamp[ms])."""
        return _shared_events(self.rows, self.seed)

    @property
    def digest(self) -> int:
        return self._get("digest", lambda: _digest(self.batch))

    @property
    def text_batch(self):
        """The events with requestTime as CLF text: what the text-building peers start from."""
        from .batch import Batch

        def make():
            columns = dict(self.batch.columns)
            time_column = columns["requestTime"]
            columns["requestTime"] = clf_time_column(time_column.values, time_column.valid_mask())
            return Batch({name: columns[name] for name in self.names}, self.rows)

        return self._get("text_batch", make)

    @property
    def columns(self) -> dict:
        """``{name: list}`` of Python values (str, int, None), requestTime as CLF text."""
        key = (self.rows, self.seed)
        if key not in _COLUMNS_CACHE:  # the same for every shape: built once
            _COLUMNS_CACHE.clear()
            _COLUMNS_CACHE[key] = {n: _column_pylist(c) for n, c in self.text_batch.columns.items()}
        return _COLUMNS_CACHE[key]

    @property
    def tuples(self) -> list:
        """One tuple per event, in the template's variable order."""
        return self._get("tuples", lambda: list(zip(*(self.columns[n] for n in self.names))))

    @property
    def json_keys(self) -> list:
        """The JSON preset's key for each variable, in variable order."""
        def make():
            found = dict((var, key) for key, var in re.findall(r'"(\w+)":\s*"\$context\.([\w.]+)"', preset("websocket", "json")))
            return [found[name] for name in self.names]

        return self._get("json_keys", make)

    @property
    def dicts(self) -> list:
        """One dict per event keyed like the JSON preset (what an application would log)."""
        return self._get("dicts", lambda: [dict(zip(self.json_keys, row)) for row in self.tuples])

    def arrow_table(self):
        """A pyarrow Table over the text batch's buffers (zero-copy)."""
        return self._get("arrow", lambda: _to_arrow(self.text_batch, self.names))

    @property
    def data(self) -> bytes:
        """The log lines fastctx renders in ``auto`` mode: the parse input."""
        def make():
            try:
                return self.fmt.render(self.batch)
            except ImportError:  # the render kernel is not built: the reference writes the same
                from . import _reference

                return _reference.render(self.fmt.program, self.batch)[0]

        return self._get("data", make)

    @property
    def data_digest(self) -> int:
        return self._get("data_digest", lambda: zlib.crc32(self.data))

    def data_path(self) -> str:
        """The parse input in a temporary file (for readers that take only paths)."""
        def make():
            handle = tempfile.NamedTemporaryFile(prefix=f"fastctx-bench-{self.shape}-", suffix=".log", delete=False)
            with handle:
                handle.write(self.data)
            return handle.name

        return self._get("path", make)

    def close(self) -> None:
        """Remove the temporary file and close the sink, if they were made."""
        sink = self._cache.pop("devnull", None)
        if sink is not None:
            sink.close()
        path = self._cache.pop("path", None)
        if path and os.path.exists(path):
            os.unlink(path)


def _to_arrow(batch, names):
    import pyarrow as pa

    arrays = []
    for name in names:
        column = batch.column(name)
        validity = None if column.validity is None else pa.py_buffer(column.validity)
        if column.kind == "string":
            array = pa.Array.from_buffers(pa.large_string(), column.length,
                                          [validity, pa.py_buffer(column.values), pa.py_buffer(column.data)])
        else:
            array = pa.Array.from_buffers(pa.int64(), column.length, [validity, pa.py_buffer(column.values)])
        arrays.append(array)
    return pa.table(arrays, names=names)


# -- Python escaping, for the peers that build text themselves ---------------------------------

_CONTROLS = [*range(0x20), 0x7F]
_CLF_QUOTED = {c: f"\\x{c:02x}" for c in _CONTROLS} | {ord('"'): '\\"', ord("\\"): "\\\\"}
_CLF_BARE = {c: f"\\x{c:02x}" for c in _CONTROLS + [0x20]} | {ord("\\"): "\\\\"}
_JSON = {c: f"\\u{c:04x}" for c in range(0x20)} | {
    ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_XML_EXTRA = {'"': "&quot;", "'": "&apos;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_field(value):
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


# -- render peers -----------------------------------------------------------------------------
# Each builder prepares its inputs (outside the timed call) and returns the timed callable.
# The hand-written ones follow the WebSocket presets' variable order (Workload.names):
#   clf, csv:  sourceIp caller user requestTime eventType routeKey connectionId status requestId
#   json, xml: requestId sourceIp caller user requestTime eventType routeKey status connectionId


def _render_clf_python(w: Workload):
    rows, quoted, bare = w.tuples, _CLF_QUOTED, _CLF_BARE

    def run():
        out = []
        append = out.append
        for ip, caller, user, when, event, route, conn, status, rid in rows:
            append(
                f"{ip or '-'} {caller.translate(bare) if caller else '-'} "
                f"{user.translate(bare) if user else '-'} [{when or '-'}] "
                f"\"{event or '-'} {route.translate(quoted) if route else '-'} {conn or '-'}\" "
                f"{'-' if status is None else status} {rid or '-'}\n"
            )
        return "".join(out).encode()

    return run


def _render_json_python(w: Workload):
    rows, table = w.tuples, _JSON

    def run():
        out = []
        append = out.append
        for rid, ip, caller, user, when, event, route, status, conn in rows:
            append(
                f'{{ "requestId":"{rid or "-"}", "ip": "{ip or "-"}", '
                f'"caller":"{caller.translate(table) if caller else "-"}", '
                f'"user":"{user.translate(table) if user else "-"}", "requestTime":"{when or "-"}", '
                f'"eventType":"{event or "-"}", "routeKey":"{route.translate(table) if route else "-"}", '
                f'"status":"{"-" if status is None else status}", "connectionId":"{conn or "-"}" }}\n'
            )
        return "".join(out).encode()

    return run


def _render_json_orjson(w: Workload):
    import orjson

    dicts, dumps, newline = w.dicts, orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def run():
        return b"".join([dumps(d, option=newline) for d in dicts])

    return run


def _render_xml_python(w: Workload):
    rows, extra, esc = w.tuples, _XML_EXTRA, _xml_escape

    def run():
        out = []
        append = out.append
        for rid, ip, caller, user, when, event, route, status, conn in rows:
            append(
                f'<request id="{rid or "-"}"> <ip>{ip or "-"}</ip> '
                f'<caller>{esc(caller, extra) if caller else "-"}</caller> '
                f'<user>{esc(user, extra) if user else "-"}</user> <requestTime>{when or "-"}</requestTime> '
                f'<eventType>{event or "-"}</eventType> <routeKey>{esc(route, extra) if route else "-"}</routeKey> '
                f'<status>{"-" if status is None else status}</status> '
                f"<connectionId>{conn or '-'}</connectionId> </request>\n"
            )
        return "".join(out).encode()

    return run


def _render_csv_python(w: Workload):
    rows, field_ = w.tuples, _csv_field

    def run():
        return "".join([",".join([field_(v) for v in row]) + "\n" for row in rows]).encode()

    return run


def _render_csv_module(w: Workload):
    rows = w.tuples

    def run():
        out = io.StringIO()
        _csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode()

    return run


def _render_csv_pyarrow(w: Workload, threads: int = 1):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = w.arrow_table()
    options = pacsv.WriteOptions(include_header=False)

    def run():
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, write_options=options)
        return sink.getvalue()

    return run


def _polars_frame(w: Workload):
    import polars as pl

    return w._get("polars", lambda: pl.from_arrow(w.arrow_table()))


def _pl_escape(expr, shape: str, position: str):
    """Escaping with polars string expressions, for the characters of the peer footnotes."""
    if shape == "clf":
        expr = expr.str.replace_all("\\", "\\\\", literal=True)
        if position == "quoted":
            expr = expr.str.replace_all('"', '\\"', literal=True)
        else:
            expr = expr.str.replace_all(" ", "\\x20", literal=True)
        expr = expr.str.replace_all("\t", "\\x09", literal=True)
    elif shape == "json":
        expr = (expr.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
                .str.replace_all("\t", "\\t", literal=True).str.replace_all("\n", "\\n", literal=True)
                .str.replace_all("\r", "\\r", literal=True))
    elif shape == "xml":
        expr = expr.str.replace_all("&", "&amp;", literal=True)
        for char, entity in (("<", "&lt;"), (">", "&gt;"), *_XML_EXTRA.items()):
            expr = expr.str.replace_all(char, entity, literal=True)
    return expr


def _render_concat_str(w: Workload):
    """polars ``concat_str`` over the template's literals, text columns escaped first."""
    import polars as pl

    frame = _polars_frame(w)
    literals = w.fmt.program.literals()
    parts = []
    for index, slot in enumerate(w.fmt.program.slots):
        if literals[index]:
            parts.append(pl.lit(literals[index].decode()))
        expr = pl.col(slot.name).cast(pl.String)
        if slot.vtype.name in ("TEXT", "QUOTED"):
            expr = _pl_escape(expr, w.shape, "quoted" if slot.esc.name == "CLF_QUOTED" else "bare")
        parts.append(expr.fill_null("-"))
    if literals[-1]:
        parts.append(pl.lit(literals[-1].decode()))
    line = pl.concat_str(parts).alias("line")

    def run():
        out = io.BytesIO()
        frame.select(line).write_csv(out, include_header=False, quote_style="never")
        return out.getvalue()

    return run


def _render_ndjson_polars(w: Workload):
    frame = _polars_frame(w).rename(dict(zip(w.names, w.json_keys)))

    def run():
        out = io.BytesIO()
        frame.write_ndjson(out)
        return out.getvalue()

    return run


def _render_csv_polars(w: Workload):
    frame = _polars_frame(w)

    def run():
        out = io.BytesIO()
        frame.write_csv(out, include_header=False, null_value="-")
        return out.getvalue()

    return run


# -- parse peers ------------------------------------------------------------------------------

_GROUPS = {
    "clf": r'^(?P<ip>\S+) (?P<caller>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] '
           r'"(?P<event>\S+) (?P<route>(?:[^"\\]|\\.)*) (?P<conn>\S+)" (?P<status>\S+) (?P<rid>\S+)$',
    "xml": r'^<request id="(?P<rid>[^"]*)"> <ip>(?P<ip>[^<]*)</ip> <caller>(?P<caller>[^<]*)</caller> '
           r'<user>(?P<user>[^<]*)</user> <requestTime>(?P<time>[^<]*)</requestTime> '
           r'<eventType>(?P<event>[^<]*)</eventType> <routeKey>(?P<route>[^<]*)</routeKey> '
           r'<status>(?P<status>[^<]*)</status> <connectionId>(?P<conn>[^<]*)</connectionId> </request>$',
}


def _line_array(data: bytes):
    """The input's lines as an Arrow large_string array over the input's own memory (newlines
    found with numpy, inside the timed call). Each value keeps its trailing newline, since
    Arrow offsets are contiguous; the patterns allow it."""
    import pyarrow as pa

    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    offsets = np.empty(len(ends) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    return pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def _parse_re(w: Workload):
    pattern = re.compile(_GROUPS[w.shape])
    data = w.data

    def run():
        match = pattern.match
        return [match(line).groups() for line in data.decode("utf-8").split("\n")[:-1]]

    return run


def _parse_pyarrow_regex(w: Workload):
    import pyarrow.compute as pc

    data = w.data
    pattern = _GROUPS[w.shape]

    def run():
        return pc.extract_regex(_line_array(data), pattern[:-1] + r"\n?$")

    return run


def _parse_polars_regex(w: Workload):
    import polars as pl

    data = w.data
    pattern = _GROUPS[w.shape]

    def run():
        return pl.from_arrow(_line_array(data)).str.extract_groups(pattern[:-1] + r"\n?$")

    return run


def _parse_orjson(w: Workload):
    import orjson

    data = w.data

    def run():
        loads = orjson.loads
        return [loads(line) for line in data.split(b"\n")[:-1]]

    return run


def _parse_msgspec(w: Workload):
    import msgspec

    data = w.data
    decoder = msgspec.json.Decoder()

    def run():
        return decoder.decode_lines(data)

    return run


def _parse_pyarrow_json(w: Workload, threads: int = 1):
    import pyarrow as pa
    import pyarrow.json as pajson

    data = w.data
    options = pajson.ReadOptions(use_threads=threads > 1, block_size=1 << 22)

    def run():
        return pajson.read_json(pa.BufferReader(data), read_options=options)

    return run


def _parse_polars_ndjson(w: Workload):
    import polars as pl

    data = w.data

    def run():
        return pl.read_ndjson(io.BytesIO(data))

    return run


def _parse_duckdb_ndjson(w: Workload, threads: int = 1):
    import duckdb

    path = w.data_path()
    connection = duckdb.connect()
    connection.execute(f"SET threads={int(threads)}")
    query = "SELECT * FROM read_ndjson('{}')".format(path.replace("'", "''"))

    def run():
        relation = connection.sql(query)
        # a relation's Arrow result, without the DB-API cursor's extra copy;
        # DuckDB 2.x names it to_arrow_table(), 1.x arrow()
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        return fetch()

    return run


def _parse_pyarrow_csv(w: Workload, threads: int = 1):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = w.data
    read = pacsv.ReadOptions(use_threads=threads > 1, column_names=w.names, block_size=1 << 22)
    convert = pacsv.ConvertOptions(null_values=["-"], strings_can_be_null=True)

    def run():
        return pacsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=convert)

    return run


def _parse_polars_csv(w: Workload):
    import polars as pl

    data, names = w.data, w.names

    def run():
        return pl.read_csv(io.BytesIO(data), has_header=False, new_columns=names, null_values="-")

    return run


def _parse_pandas_csv(w: Workload):
    import pandas as pd

    data, names = w.data, w.names

    def run():
        return pd.read_csv(io.BytesIO(data), header=None, names=names, na_values=["-"], keep_default_na=False)

    return run


@dataclass(frozen=True)
class Peer:
    """A peer implementation: a label, the library it needs, and how to set it up.

    ``build(workload)`` (or ``build(workload, threads)`` when ``threaded``) prepares inputs
    and returns the callable that is timed.
    """

    name: str
    library: str
    build: object
    note: str
    threaded: bool = False  # takes a thread count (pyarrow, DuckDB)
    operation: str = "render"
    shapes: tuple = SHAPES


_PEERS = (
    Peer("f-string + str.translate", "python", _render_clf_python, "fstring", shapes=("clf",)),
    Peer("f-string + str.translate", "python", _render_json_python, "fstring", shapes=("json",)),
    Peer("orjson.dumps per row", "orjson", _render_json_orjson, "orjson", shapes=("json",)),
    Peer("f-string + saxutils.escape", "python", _render_xml_python, "saxutils", shapes=("xml",)),
    Peer("str.join per row", "python", _render_csv_python, "csvjoin", shapes=("csv",)),
    Peer("csv module", "python", _render_csv_module, "csvmodule", shapes=("csv",)),
    Peer("pyarrow.csv.write_csv", "pyarrow", _render_csv_pyarrow, "pyarrowcsv", threaded=True, shapes=("csv",)),
    Peer("polars concat_str", POLARS_LIBRARY, _render_concat_str, "concat", shapes=("clf", "json", "xml")),
    Peer("polars write_ndjson", POLARS_LIBRARY, _render_ndjson_polars, "ndjson", shapes=("json",)),
    Peer("polars write_csv", POLARS_LIBRARY, _render_csv_polars, "polarscsv", shapes=("csv",)),
    Peer("re per line", "python", _parse_re, "re", operation="parse", shapes=("clf", "xml")),
    Peer("pyarrow.compute.extract_regex", "pyarrow", _parse_pyarrow_regex, "paregex", operation="parse",
         shapes=("clf", "xml")),
    Peer("polars str.extract_groups", POLARS_LIBRARY, _parse_polars_regex, "plregex", operation="parse",
         shapes=("clf", "xml")),
    Peer("orjson.loads per line", "orjson", _parse_orjson, "orjsonloads", operation="parse", shapes=("json",)),
    Peer("msgspec decode_lines", "msgspec", _parse_msgspec, "msgspec", operation="parse", shapes=("json",)),
    Peer("pyarrow.json.read_json", "pyarrow", _parse_pyarrow_json, "pajson", threaded=True, operation="parse",
         shapes=("json",)),
    Peer("polars.read_ndjson", POLARS_LIBRARY, _parse_polars_ndjson, "plndjson", operation="parse", shapes=("json",)),
    Peer("DuckDB read_ndjson", "duckdb", _parse_duckdb_ndjson, "duckdb", threaded=True, operation="parse",
         shapes=("json",)),
    Peer("pyarrow.csv.read_csv", "pyarrow", _parse_pyarrow_csv, "pacsv", threaded=True, operation="parse",
         shapes=("csv",)),
    Peer("polars.read_csv", POLARS_LIBRARY, _parse_polars_csv, "plcsv", operation="parse", shapes=("csv",)),
    Peer("pandas.read_csv", "pandas", _parse_pandas_csv, "pandascsv", operation="parse", shapes=("csv",)),
)

FOOTNOTES = {
    "fastctx-render": "fastctx: `Format.render(batch, threads=1)` from typed columns (requestTime as int64 "
                      "epoch ms, formatted by the kernel); `render_into` into a reused buffer; memory = peak "
                      "allocation during a render() that finds no pooled memory (the largest of tracemalloc, "
                      "the bytes its output mapping holds, and resident-set growth) / output bytes.",
    "fastctx-parse": "fastctx: `Format.parse(data, threads=1)` into typed columns (int64, timestamp[ms] from the "
                     "CLF time, strings with every escape undone, '-' as null); memory = peak allocation "
                     "during a parse() that finds no pooled memory (the largest of tracemalloc, the bytes its "
                     "column buffers were sized to, and resident-set growth) / output column bytes (the input "
                     "was already in memory).",
    "fstring": "f-string + str.translate: one f-string per row over Python tuples, text fields escaped as "
               "fastctx's auto mode does (byte-identical output).",
    "orjson": "orjson.dumps per row: one dict per event keyed like the preset, OPT_APPEND_NEWLINE; "
              "nulls as JSON null, status as a number.",
    "saxutils": "f-string + saxutils.escape: & < > \" ' and tab/CR/LF as entities on text fields "
                "(byte-identical output).",
    "csvjoin": "str.join per row: fields quoted with \"\" doubling when they hold , \" CR or LF (RFC 4180); "
               "nulls empty.",
    "csvmodule": "csv module: csv.writer(lineterminator='\\n').writerows over Python tuples; nulls empty.",
    "pyarrowcsv": "pyarrow.csv.write_csv: no header, into a BufferOutputStream; quotes every string value.",
    "concat": "polars concat_str: the template's literals around the columns, text columns escaped with "
              "str.replace_all (the escapes this data needs: \\ \" space tab & < > '), nulls '-', "
              "written with write_csv(quote_style='never').",
    "ndjson": "polars write_ndjson: keys as in the preset; nulls as JSON null.",
    "polarscsv": "polars write_csv: no header, nulls '-', quoting as needed.",
    "re": "re per line: a compiled pattern's groups for each line of the decoded input (strings; no "
          "unescaping, no int/time conversion).",
    "paregex": "pyarrow.compute.extract_regex: lines as an Arrow string array over the input (newlines found "
               "with numpy, in the timed call); struct of strings, nothing unescaped or converted.",
    "plregex": "polars str.extract_groups: the same line array through pl.from_arrow; strings, nothing "
               "unescaped or converted.",
    "orjsonloads": "orjson.loads per line: a list of dicts.",
    "msgspec": "msgspec decode_lines: msgspec.json.Decoder().decode_lines, a list of dicts.",
    "pajson": "pyarrow.json.read_json from a BufferReader, use_threads per the threads column; typed by inference.",
    "plndjson": "polars.read_ndjson from BytesIO.",
    "duckdb": "DuckDB read_ndjson from a file in the page cache (it reads only paths), fetched as an Arrow "
              "table; SET threads per the threads column.",
    "pacsv": "pyarrow.csv.read_csv from a BufferReader, null_values ['-'], use_threads per the threads column.",
    "plcsv": "polars.read_csv from BytesIO, null_values '-'.",
    "pandascsv": "pandas.read_csv (C engine) from BytesIO, na_values ['-'].",
    "common": "All implementations get the same events (seed-determined, ~2% nulls, ~5% of text values "
              "needing escaping), prepared outside the timed call; peers get requestTime as CLF text and "
              "parse peers leave every value as text, which favours them. Polars runs with POLARS_MAX_THREADS "
              "set before its import; pyarrow with set_cpu_count. One untimed warm-up call each, then "
              "the timed calls round-robin over all implementations, each round in its own order; "
              "GC off during timed calls; median.",
}


def peers_for(operation: str, shape: str, names=None) -> list:
    """The peers of one (operation, shape), optionally only those whose name is in ``names``."""
    return [p for p in _PEERS if p.operation == operation and shape in p.shapes
            and (names is None or p.name in names)]


# -- fastctx cases ------------------------------------------------------------------------------


def _threads_kw(method, threads: int) -> dict:
    """``threads=`` when the method takes it (all cores otherwise), so one thread is measured."""
    try:
        return {"threads": threads} if "threads" in inspect.signature(method).parameters else {}
    except (TypeError, ValueError):
        return {}


def fastctx_cases(operation: str, workload: Workload, threads: int = 1, extended: bool = False) -> list:
    """``[(name, build)]`` for fastctx: ``build()`` prepares and returns the timed callable.

    Render: ``render`` in ``auto`` and ``none`` modes and ``render_into`` a reused buffer;
    ``extended`` adds ``render_to`` (chunked writes to ``os.devnull``). Parse: ``parse`` in
    ``auto`` mode. With ``threads`` above 1, those in ``auto`` mode.
    """
    w = workload
    if operation == "render":
        def render(fmt):
            def build():
                kw = _threads_kw(fmt.render, threads)
                batch = w.batch
                return lambda: fmt.render(batch, **kw)
            return build

        def render_into():
            batch = w.batch
            size = len(w.fmt.render(batch, **_threads_kw(w.fmt.render, threads)))
            buffer = bytearray(size + (1 << 20))  # allocated and touched once, reused by every call
            kw = _threads_kw(w.fmt.render_into, threads)
            return lambda: memoryview(buffer)[: w.fmt.render_into(batch, buffer, **kw)]

        def render_to():
            batch = w.batch
            sink = w._get("devnull", lambda: open(os.devnull, "wb"))
            kw = _threads_kw(w.fmt.render_to, threads)
            return lambda: w.fmt.render_to(batch, sink, **kw)

        cases = [("fastctx render (auto)", render(w.fmt)), ("fastctx render (none)", render(w.fmt_none)),
                 ("fastctx render_into (auto)", render_into)]
        if extended:
            cases.append(("fastctx render_to (auto)", render_to))
        if threads == 1:
            return cases
        return [cases[0]] + cases[2:]  # render, render_into (and render_to)
    if operation == "parse":
        def parse():
            data = w.data
            kw = _threads_kw(w.fmt.parse, threads)
            return lambda: w.fmt.parse(data, **kw)

        return [("fastctx parse (auto)", parse)]
    raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")


# -- checking peers' output ---------------------------------------------------------------------


def _same_value(expected, got) -> bool:
    if expected is None:
        return got in (None, "-", "")
    return str(expected) == str(got)


def verify_render(workload: Workload, output) -> None:
    """Raise ``AssertionError`` unless ``output`` holds every event's fields, validly escaped.

    CLF output must equal fastctx's byte for byte; JSON lines must load, XML lines parse and
    CSV records read back to the events' values (a null may be null, ``-`` or empty).
    """
    w = workload
    raw = bytes(output)
    if w.shape == "clf":
        if raw != w.data:
            got, want = raw.split(b"\n"), w.data.split(b"\n")
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)) - 1)
            raise AssertionError(f"line {first + 1} differs from fastctx's: {got[first][:200]!r}")
        return
    text = raw.decode("utf-8")
    if w.shape == "csv":
        records = list(_csv.reader(io.StringIO(text, newline="")))
        got_rows = records
    elif w.shape == "json":
        keys = w.json_keys
        got_rows = []
        for line in text.split("\n")[:-1]:
            obj = json.loads(line)
            got_rows.append([obj.get(key) for key in keys])
    else:
        import xml.etree.ElementTree as ET

        tags = {"requestId": None, "identity.sourceIp": "ip", "identity.caller": "caller",
                "identity.user": "user", "requestTime": "requestTime", "eventType": "eventType",
                "routeKey": "routeKey", "status": "status", "connectionId": "connectionId"}
        got_rows = []
        for line in text.split("\n")[:-1]:
            element = ET.fromstring(line)
            got_rows.append([element.get("id") if tags[n] is None else element.find(tags[n]).text for n in w.names])
    if len(got_rows) != w.rows:
        raise AssertionError(f"{len(got_rows)} records, expected {w.rows}")
    for index, (expected, got) in enumerate(zip(w.tuples, got_rows)):
        if len(got) != len(expected) or not all(_same_value(e, g) for e, g in zip(expected, got)):
            raise AssertionError(f"record {index + 1}: {got!r} != {expected!r}")


def _count(result) -> int:
    for attr in ("num_rows", "height"):
        if hasattr(result, attr):
            return int(getattr(result, attr))
    return len(result)


def verify_parse(workload: Workload, result) -> None:
    """Raise ``AssertionError`` unless every line came back as a record (no failed match)."""
    count = _count(result)
    if count != workload.rows:
        raise AssertionError(f"{count} records, expected {workload.rows}")
    nulls = None
    if hasattr(result, "type") and hasattr(result, "field"):  # pyarrow struct array
        nulls = result.null_count
    elif type(result).__name__ == "Series":  # polars struct series
        nulls = result.struct.field("rid").null_count()
    if nulls:
        raise AssertionError(f"{nulls} lines did not match the pattern")


# -- timing -------------------------------------------------------------------------------------


def _timed_call(fn) -> float:
    """Seconds for one call, garbage collector off (as timeit does); the result is dropped."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def _nbytes(result) -> int:
    if isinstance(result, (bytes, bytearray)):
        return len(result)
    if isinstance(result, memoryview):
        return result.nbytes
    if hasattr(result, "size"):  # pyarrow Buffer
        return int(result.size)
    if isinstance(result, int):  # render_to: bytes written
        return result
    return 0


def _batch_nbytes(batch) -> int:
    total = 0
    for column in batch.columns.values():
        for buffer in (column.values, column.data, column.validity):
            if buffer is not None:
                total += buffer.nbytes
    return total


def _proc_status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_rss_peak() -> bool:
    """Reset the process's resident-set high-water mark (Linux: ``5`` to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_memory(fn) -> tuple[int, object]:
    """Peak bytes allocated while ``fn`` runs: the largest of what tracemalloc traces (Python's
    allocators, ``bytes`` objects, numpy arrays), the most bytes the parse kernel's column
    buffers were sized to at once (its ``malloc``/``mmap`` memory, which a small parse may take
    from memory malloc kept, unseen by the resident set), and the growth of the resident-set
    high-water mark (Linux)."""
    gc.collect()
    rss = _proc_status_kb("VmRSS") if _reset_rss_peak() else None
    base = _held_bytes()
    _held_peak(reset=True)
    tracemalloc.start()
    try:
        result = fn()
        traced = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    peak = max(traced, _held_peak() - base)
    if rss is not None:
        high = _proc_status_kb("VmHWM")
        if high is not None:
            peak = max(peak, (high - rss) * 1024)
    return peak, result


def _set_pyarrow_threads(threads: int):
    try:
        import pyarrow as pa
    except ImportError:
        return None
    previous = (pa.cpu_count(), pa.io_thread_count())
    pa.set_cpu_count(threads)
    pa.set_io_thread_count(max(1, threads))
    return previous


def _restore_pyarrow_threads(previous) -> None:
    if previous is not None:
        import pyarrow as pa

        pa.set_cpu_count(previous[0])
        pa.set_io_thread_count(previous[1])


@dataclass
class _Entry:
    """One implementation to measure: its result row, how to build its callable, and the
    pyarrow thread count its calls run under."""

    result: Result
    build: object
    threads: int = 1
    memory: bool = False
    fn: object = None


def _fail(result: Result, exc: Exception) -> None:
    if isinstance(exc, ImportError):
        result.error = f"not available ({exc})"
    else:  # a peer that fails is reported, not fatal to the table
        result.error = f"{type(exc).__name__}: {exc}"[:200]


def _prepare(operation: str, workload: Workload, entry: _Entry, verify: bool) -> None:
    """Build, run once untimed (lazy imports, first-use set-up), size, check, measure memory."""
    result = entry.result
    try:
        entry.fn = entry.build()
        out = entry.fn()
    except Exception as exc:
        _fail(result, exc)
        return
    result.nbytes = len(workload.data) if operation == "parse" else _nbytes(out)
    # fastctx's `none` mode is plain substitution by design: its lines are not valid JSON/XML/CSV
    if verify and "(none)" not in result.name:
        try:
            if operation == "render":
                verify_render(workload, out)
            else:
                verify_parse(workload, out)
        except Exception as exc:  # AssertionError, or the JSON/XML/CSV reader's own error
            result.error = f"wrong output: {type(exc).__name__}: {exc}"[:300]
            return
    if entry.memory:
        out = None
        release_memory()  # a call that finds no pooled memory: all it needs is new
        peak, out = _peak_memory(entry.fn)
        if operation == "render":
            result.memory = peak / max(1, _nbytes(out))
        else:
            result.memory = peak / max(1, _batch_nbytes(out))  # the input is already resident


def _measure_entries(operation: str, workload: Workload, entries: list, repeat: int, verify: bool) -> list:
    """Prepare every entry, then time them round-robin: call 1 of each, call 2 of each, ...

    On a machine shared with other work, load comes and goes over seconds; interleaving the
    calls spreads it over every implementation instead of penalising whichever ran during a
    busy spell, so the ratios in one table are measured under the same conditions.

    Each round runs in its own order, a shuffle seeded by the round's number (the same in
    every run). In a fixed order, every call of an entry follows the same entry: here,
    fastctx's first row of every table always followed the peers that run for seconds and
    free what they allocated, and on a VM whose balloon hands freed memory back to the host,
    the next call that allocates pays for memory the host must back again (CSV ``render()``
    290 ms a call after them, 85-120 ms otherwise). Shuffled, that place falls on different
    entries in different rounds. It does not remove the cost: with such peers in every round,
    most calls that allocate their output come within seconds of those frees, and the
    fastctx-only table (``--peers none``) is the one without them.
    """
    for entry in entries:
        previous = _set_pyarrow_threads(entry.threads)
        try:
            _prepare(operation, workload, entry, verify)
        finally:
            _restore_pyarrow_threads(previous)
    live = [entry for entry in entries if entry.result.error is None]
    for round_ in range(max(1, repeat)):
        order = list(live)
        random.Random(round_).shuffle(order)
        for entry in order:
            if entry.result.error is not None:
                continue
            previous = _set_pyarrow_threads(entry.threads)
            try:
                entry.result.runs.append(_timed_call(entry.fn))
            except Exception as exc:
                _fail(entry.result, exc)
            finally:
                _restore_pyarrow_threads(previous)
    for entry in entries:
        entry.fn = None
        if entry.result.error is None and entry.result.runs:
            entry.result.seconds = statistics.median(entry.result.runs)
        else:
            entry.result.runs = []
    return [entry.result for entry in entries]


def _measure(operation, workload, name, library, build, repeat, threads=1, verify=False, memory=False) -> Result:
    """One implementation alone (see ``_measure_entries``)."""
    result = Result(operation, workload.shape, name, library, threads, lines=workload.rows)
    return _measure_entries(operation, workload, [_Entry(result, build, threads, memory)], repeat, verify)[0]


def _entries(operation: str, workload: Workload, thread_counts, peers, memory: bool, libraries=None) -> list:
    """fastctx's cases and the peers (those of ``libraries`` only, when given) for one shape."""
    entries = []
    if libraries is None or "fastctx" in libraries:
        for count in thread_counts:
            for name, build in fastctx_cases(operation, workload, count):
                label = name if count == 1 else f"{name} ({count} threads)"
                result = Result(operation, workload.shape, label, "fastctx", count, lines=workload.rows)
                entries.append(_Entry(result, build, 1, memory and count == 1 and "render_into" not in name))
    for count in thread_counts:
        for peer in peers_for(operation, workload.shape, peers):
            if (libraries is not None and peer.library not in libraries) or (count > 1 and not peer.threaded):
                continue
            if libraries is None and peer.library == POLARS_LIBRARY and not (count == 1 and _polars_in_process()):
                continue  # measured in a subprocess started with POLARS_MAX_THREADS=count
            build = (lambda p=peer, c=count: p.build(workload, c)) if peer.threaded else (lambda p=peer: p.build(workload))
            label = peer.name if count == 1 else f"{peer.name} ({count} threads)"
            result = Result(operation, workload.shape, label, peer.library, count, lines=workload.rows)
            entries.append(_Entry(result, build, count))
    return entries


def _polars_in_process() -> bool:
    """True when polars is already imported here with a one-thread pool (``main`` arranges
    that by setting POLARS_MAX_THREADS=1 before anything imports polars): its one-thread
    rows are then timed in this process, interleaved with the others."""
    module = sys.modules.get(POLARS_LIBRARY)
    try:
        return module is not None and module.thread_pool_size() == 1
    except AttributeError:
        return False


def _polars_rows(operation, shapes, rows, repeat, seed, threads, names, verify, digests) -> list:
    """Run the polars peers in a subprocess started with POLARS_MAX_THREADS=threads."""
    wanted = {shape: [p for p in peers_for(operation, shape, names) if p.library == POLARS_LIBRARY] for shape in shapes}
    wanted = {shape: peers for shape, peers in wanted.items() if peers}
    if not wanted:
        return []
    label = "" if threads == 1 else f" ({threads} threads)"
    try:
        importlib.import_module("polars")
    except ImportError as exc:
        return [Result(operation, shape, p.name + label, POLARS_LIBRARY, threads, rows, error=f"not available ({exc})")
                for shape, peers in wanted.items() for p in peers]
    request = {"operation": operation, "shapes": list(wanted), "rows": rows, "repeat": repeat, "seed": seed,
               "names": names, "verify": verify}
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-m", "fastctx.bench", "--worker", json.dumps(request)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [Result(operation, shape, p.name + label, POLARS_LIBRARY, threads, rows, error=f"worker failed: {message}")
                for shape, peers in wanted.items() for p in peers]
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    results = []
    for item in reply["results"]:
        item["name"] += label
        item["threads"] = threads
        result = Result(**item)
        if reply["digests"].get(result.shape) != digests.get(result.shape):
            result.error = "the subprocess generated different data"
            result.seconds = None
        results.append(result)
    return results


def _worker(request: dict) -> dict:
    """Subprocess side of ``_polars_rows``: the polars peers, on regenerated identical data."""
    results, digests = [], {}
    for shape in request["shapes"]:
        workload = Workload(shape, request["rows"], request["seed"])
        digests[shape] = workload.digest if request["operation"] == "render" else workload.data_digest
        entries = _entries(request["operation"], workload, [1], request["names"], False, {POLARS_LIBRARY})
        for result in _measure_entries(request["operation"], workload, entries, request["repeat"], request["verify"]):
            results.append({k: v for k, v in asdict(result).items() if k != "ratio"})
        workload.close()
    return {"results": results, "digests": digests}


def run(operation: str, rows: int = DEFAULT_ROWS, repeat: int = 3, shapes=SHAPES, seed: int = 0, peers=None,
        threads=(1,), polars: bool = True, verify: bool = False, memory: bool = True, progress=None) -> list:
    """Measure fastctx and its peers on every shape; the rows of the side-by-side table.

    Parameters
    ----------
    operation : {"render", "parse"}
    rows : int
        Events rendered / lines parsed per call.
    repeat : int
        Timed calls per implementation; the median is reported.
    shapes : sequence of str
        Any of ``SHAPES``.
    seed : int
        Data seed (the same data for every implementation).
    peers : sequence of str or None
        Only the peers with these names (all when None).
    threads : sequence of int
        Thread counts to measure; ``1`` is always measured, and each count above it adds
        rows for fastctx and for the peers that can use threads (labelled).
    polars : bool
        Measure the polars peers (in a subprocess).
    verify : bool
        Check each output (see ``verify_render`` / ``verify_parse``); a wrong output turns
        the row into an error.
    memory : bool
        Measure fastctx's peak allocation with tracemalloc.
    progress : callable or None
        Called with a short message before each shape.

    Returns
    -------
    list of Result
        fastctx rows first, then the peers, shape by shape; ``ratio`` filled in.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    thread_counts = sorted({1, *threads})
    shapes = list(shapes)
    for shape in shapes:
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    results: list[Result] = []
    digests = {}
    for shape in shapes:
        if progress:
            progress(f"{operation} {shape}: preparing {rows:,} {'events' if operation == 'render' else 'lines'}")
        workload = Workload(shape, rows, seed)
        try:
            digests[shape] = workload.digest if operation == "render" else workload.data_digest
            if progress:
                progress(f"{operation} {shape}: measuring")
            entries = _entries(operation, workload, thread_counts, peers, memory)
            results.extend(_measure_entries(operation, workload, entries, repeat, verify))
        finally:
            workload.close()
    if polars:
        if progress:
            progress(f"{operation}: polars peers (subprocess)")
        for count in thread_counts:
            if count == 1 and _polars_in_process():
                continue
            results.extend(_polars_rows(operation, shapes, rows, repeat, seed, count, peers, verify, digests))
    order = {shape: index for index, shape in enumerate(shapes)}
    results.sort(key=lambda r: (order[r.shape], not r.is_fastctx, r.threads > 1))
    for shape in shapes:
        peer_speeds = [r.lines_per_s for r in results
                       if r.shape == shape and not r.is_fastctx and r.threads == 1 and r.seconds and not r.error]
        fastest = max(peer_speeds, default=0.0)
        for r in results:
            if r.shape == shape and r.seconds and fastest:
                r.ratio = r.lines_per_s / fastest
    return results


# -- presenting ---------------------------------------------------------------------------------


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Versions and machine: the table's header."""
    info = {"fastctx": __version__, "Python": platform.python_version(), "numpy": np.__version__}
    for library in ("pyarrow", "polars", "pandas", "duckdb", "orjson", "msgspec"):
        try:
            module = importlib.import_module(library)
            info[library] = getattr(module, "__version__", "?")
        except ImportError:
            info[library] = "not installed"
    info["CPU"] = f"{_cpu()} ({os.cpu_count()} cores)"
    info["OS"] = f"{platform.system()} {platform.release()}"
    info["date"] = _dt.date.today().isoformat()
    return info


def _note_key(result: Result) -> str:
    if result.is_fastctx:
        return "fastctx-" + result.operation
    base = result.name.split(" (")[0]
    for peer in _PEERS:
        if peer.name == base and peer.operation == result.operation and result.shape in peer.shapes:
            return peer.note
    return ""


def format_table(results, markdown: bool = False, title: str | None = None, env: dict | None = None) -> str:
    """The side-by-side table of ``run``'s results (plain text or Markdown) with footnotes.

    Examples
    --------
    >>> from fastctx.bench import Result, format_table
    >>> rows = [Result("render", "csv", "fastctx render (auto)", "fastctx", 1, 1000, 30000, 0.001, [0.001], ratio=2.0),
    ...         Result("render", "csv", "csv module", "python", 1, 1000, 29000, 0.002, [0.002], ratio=1.0)]
    >>> print(format_table(rows, env={"Python": "3.11"}).splitlines()[2])
    shape  implementation         threads  M lines/s  MB/s  vs fastest peer  memory  note
    """
    results = list(results)
    env = environment() if env is None else env
    operation = results[0].operation if results else "?"
    rows = results[0].lines if results else 0
    title = title or f"fastctx bench: {operation}, {rows:,} lines per shape, median of {max((len(r.runs) for r in results), default=0)}"
    stamp = ", ".join(f"{k} {v}" for k, v in env.items())
    notes: list[str] = []
    table = []
    for r in results:
        key = _note_key(r)
        if key and key not in notes:
            notes.append(key)
        mark = f"[{notes.index(key) + 1}]" if key else ""
        if r.error:
            table.append([r.shape, r.name, str(r.threads), "-", "-", "-", "-", f"{mark} skipped: {r.error}"])
            continue
        ratio = f"{r.ratio:.2f}x" if r.ratio else "-"
        if r.is_fastctx and r.ratio:
            ratio = f"**{ratio}**" if markdown else ratio
        memory = f"{r.memory:.2f}x" if r.memory is not None else ""
        table.append([r.shape, r.name, str(r.threads), f"{r.lines_per_s / 1e6:.2f}", f"{r.mb_per_s:,.0f}",
                      ratio, memory, mark])
    header = ["shape", "implementation", "threads", "M lines/s", "MB/s", "vs fastest peer", "memory", "note"]
    lines = [title, stamp]
    if markdown:
        lines = [f"**{title}**", "", stamp, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---", "---", "--:", "--:", "--:", "--:", "--:", "---"]) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in table]
        lines.append("")
    else:
        widths = [max(len(row[i]) for row in [header] + table) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        previous = None
        for row in table:
            if previous is not None and row[0] != previous:
                lines.append("")
            previous = row[0]
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        lines.append("")
    for index, key in enumerate(notes):
        lines.append(f"[{index + 1}] {FOOTNOTES[key]}" + ("  " if markdown else ""))
    lines.append(FOOTNOTES["common"])
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m fastctx.bench {render,parse} [--rows N] [--repeat R] [--shapes clf,json] [--markdown]``."""
    parser = argparse.ArgumentParser(
        prog="fastctx bench",
        description="Throughput of fastctx against the Python peers, side by side, measured in one run.",
        epilog="examples:\n"
               "  fastctx bench render --rows 1000000\n"
               "  fastctx bench parse --shapes clf,json --threads 1,2\n"
               "  fastctx bench all --peers none      (fastctx alone)\n"
               "  python benchmarks/compare.py render --markdown   (the same, in a source checkout)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operation", choices=OPERATIONS + ("all",))
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="events / lines per shape (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per implementation; the median is shown (default 3)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated subset of clf,json,xml,csv")
    parser.add_argument("--peers", default=None, help="comma-separated peer names (default: all)")
    parser.add_argument("--threads", default="1", help="thread counts, e.g. 1,2: rows above 1 are labelled (default 1)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the generated sample data: same seed, same data (default 0)")
    parser.add_argument("--no-polars", action="store_true", help="skip the polars subprocess")
    parser.add_argument("--verify", action="store_true", help="check every output line (slow at large sizes)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
        return 0
    args = parser.parse_args(argv)
    if not args.no_polars and POLARS_LIBRARY not in sys.modules:
        # polars sizes its pool once, at import: one thread, so its rows run in this process
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            importlib.import_module(POLARS_LIBRARY)
        except ImportError:
            pass
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    peers = [p.strip() for p in args.peers.split(",")] if args.peers else None
    known = sorted({peer.name for peer in _PEERS})
    unknown = [p for p in peers or () if p not in known and p != "none"]
    if unknown:
        parser.error(f"unknown peer {unknown[0]!r}; expected 'none' or some of: {', '.join(known)}")
    try:
        threads = tuple(int(t) for t in args.threads.split(","))
    except ValueError:
        parser.error(f"--threads takes integers, got {args.threads!r}")
    for shape in shapes:
        if shape not in SHAPES:
            parser.error(f"unknown shape {shape!r}; expected some of {', '.join(SHAPES)}")
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    if any(t < 1 or t > MAX_THREADS for t in threads):
        parser.error(f"--threads takes counts from 1 to {MAX_THREADS}, got {args.threads!r}")
    operations = OPERATIONS if args.operation == "all" else (args.operation,)
    env = environment()
    progress = (lambda message: print(message, file=sys.stderr, flush=True)) if sys.stderr.isatty() else None
    for operation in operations:
        results = run(operation, rows=args.rows, repeat=args.repeat, shapes=shapes, seed=args.seed, peers=peers,
                      threads=threads, polars=not args.no_polars, verify=args.verify, progress=progress)
        if args.json:
            print(json.dumps([asdict(r) for r in results]))
        else:
            print(format_table(results, markdown=args.markdown, env=env))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
