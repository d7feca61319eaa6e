"""The command line's CSV writer: pyarrow's column kernels and the csv module give the same
bytes, and every field reads back through real CSV readers."""

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastctx
from fastctx import tabletext
from fastctx.batch import Batch

pytest.importorskip("pyarrow")

TRICKY = ["plain", "a,b", 'say "hi"', "cr\ronly", "lf\nonly", "crlf\r\n", "", None, " pad ", "tab\t",
          "ünï©ødé", "-", "'", '"', ",", "\r", "\n", "x" * 3000]


def both(batch, epoch_ms=False):
    fast = tabletext._rows_arrow(batch, epoch_ms)
    slow = tabletext._rows_csv_module(batch, epoch_ms)
    assert fast == slow
    return fast


def read_back(data: bytes):
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_tricky_text_is_quoted_where_needed_and_reads_back():
    batch = Batch.from_pydict({"s": TRICKY, "n": list(range(len(TRICKY)))})
    data = both(batch)
    rows = read_back(data)
    assert [r[0] for r in rows] == ["" if v is None else v for v in TRICKY]
    assert [int(r[1]) for r in rows] == list(range(len(TRICKY)))
    assert data.startswith(b'plain,0\n"a,b",1\n"say ""hi""",2\n"cr\ronly",3\n')


def test_a_lone_cr_does_not_split_the_row_for_pandas_or_polars():
    pd = pytest.importorskip("pandas")
    batch = Batch.from_pydict({"a": ["x\ry", "z"], "b": [1, 2]})
    data = tabletext.csv_header(["a", "b"]) + both(batch)
    frame = pd.read_csv(io.BytesIO(data))
    assert frame["a"].tolist() == ["x\ry", "z"]
    pl = pytest.importorskip("polars")
    assert pl.read_csv(io.BytesIO(data))["a"].to_list() == ["x\ry", "z"]


def test_one_column_of_empty_values_is_not_blank_lines():
    batch = Batch.from_pydict({"s": ["a", None, "", "b"]})
    data = both(batch)
    assert data == b'a\n""\n""\nb\n'
    assert read_back(data) == [["a"], [""], [""], ["b"]]


def test_ints_and_times_iso_or_epoch_ms():
    times = np.array([0, 1700000000123, -1, 253402300800000], dtype="datetime64[ms]")
    batch = Batch.from_pydict({"t": times, "n": [5, None, 0, 2**62]})
    data = both(batch)
    assert data.split(b"\n")[:4] == [b"1970-01-01T00:00:00.000Z,5", b"2023-11-14T22:13:20.123Z,",
                                     b"1969-12-31T23:59:59.999Z,0",
                                     b"10000-01-01T00:00:00.000Z,4611686018427387904"]
    assert both(batch, epoch_ms=True).split(b"\n")[0] == b"0,5"


def test_a_parsed_batch_writes_the_same_both_ways():
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    from fastctx import generate

    batch = fmt.parse(generate.lines(fmt, 2000, seed=3))
    data = both(batch)
    assert len(read_back(data)) == 2000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=20),
       st.booleans())
def test_any_text_reads_back(values, one_column):
    columns = {"s": values} if one_column else {"s": values, "k": list(range(len(values)))}
    data = both(Batch.from_pydict(columns))
    rows = read_back(data)
    assert [r[0] for r in rows] == ["" if v is None else v for v in values]


# -- JSON Lines ------------------------------------------------------------------------------


def json_both(batch, epoch_ms=False):
    fast = tabletext._json_arrow(batch, epoch_ms)
    slow = tabletext._json_python(batch, epoch_ms)
    assert fast == slow
    return fast


def test_json_lines_are_json_dumps_of_each_row():
    values = TRICKY + ["\x00\x01\x1f\x7f", "\b\f\t", "\u2028", "back\\slash"]
    batch = Batch.from_pydict({"s": values, "n": list(range(len(values)))})
    data = json_both(batch)
    rows = [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]
    assert rows == [{"s": v, "n": i} for i, v in enumerate(values)]
    assert data.startswith(b'{"s": "plain", "n": 0}\n{"s": "a,b", "n": 1}\n')


def test_json_lines_times_and_nulls():
    times = np.array([0, 1700000000123, 253402300800000], dtype="datetime64[ms]")
    batch = Batch.from_pydict({"t": times, "n": [5, None, 2**62]})
    assert json_both(batch).split(b"\n")[:2] == [b'{"t": "1970-01-01T00:00:00.000Z", "n": 5}',
                                                b'{"t": "2023-11-14T22:13:20.123Z", "n": null}']
    assert json_both(batch, epoch_ms=True).split(b"\n")[0] == b'{"t": 0, "n": 5}'


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=20))
def test_json_any_text(values):
    batch = Batch.from_pydict({"s": values, "k": list(range(len(values)))})
    data = json_both(batch)
    rows = [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]
    assert [r["s"] for r in rows] == values


def test_the_escape_table_is_json_dumps():
    for char, escape in tabletext._JSON_ESCAPES.items():
        assert json.dumps(char, ensure_ascii=False) == f'"{escape}"'
    assert all(json.dumps(chr(c), ensure_ascii=False) == f'"{chr(c)}"'
               for c in range(32, 0x3000) if chr(c) not in tabletext._JSON_ESCAPES
               and not 0xD800 <= c <= 0xDFFF)
