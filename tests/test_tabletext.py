"""The command line's CSV and JSON Lines writers: the kernel gives the same bytes as the
row-by-row reference (the csv module, json.dumps), and every field reads back through real
readers."""

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

TRICKY = ["plain", "a,b", 'say "hi"', "cr\ronly", "lf\nonly", "crlf\r\n", "", None, " pad ", "tab\t",
          "ünï©ødé", "-", "'", '"', ",", "\r", "\n", "x" * 3000]


def both(batch, epoch_ms=False):
    fast = tabletext.csv_rows(batch, epoch_ms)
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


def test_quotes_double_at_every_position_and_at_the_column_end():
    # 16 bytes a step where the column's bytes allow, byte by byte near their end
    values = ["a" * at + '"' + "b" * (n - at - 1) for n in range(1, 41) for at in range(n)]
    for order in (values, values[::-1]):
        rows = read_back(both(Batch.from_pydict({"s": order})))
        assert [r[0] for r in rows] == order


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
    fast = tabletext.json_rows(batch, epoch_ms)
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


def test_every_character_is_escaped_as_json_dumps_does():
    chars = [chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF]
    # alone, and inside values long enough for the sixteen-byte steps
    values = chars + ["x" * 20 + c + "y" * (k % 19) for k, c in enumerate(chars[:300])]
    batch = Batch.from_pydict({"s": values})
    assert tabletext.json_rows(batch).decode("utf-8").split("\n")[:-1] == [
        json.dumps({"s": v}, ensure_ascii=False) for v in values]


@pytest.mark.parametrize("json_lines", [False, True])
def test_values_near_the_end_of_the_column_bytes(json_lines):
    # the scans read sixteen bytes at a time only where the column's bytes go on that far
    for n in range(40):
        for tail in ["", ",", '"', "\n", "\x01"]:
            batch = Batch.from_pydict({"s": ["a" * 3, "b" * n + tail]})
            write, reference = ((tabletext.json_rows, tabletext._json_python) if json_lines
                                else (tabletext.csv_rows, tabletext._rows_csv_module))
            assert write(batch) == reference(batch, False)


def test_iso_times_as_numpy_writes_them():
    rng = np.random.default_rng(5)
    edges = [tabletext._textout.ISO_MIN_MS, tabletext._textout.ISO_MAX_MS, 0, -1, 1,
             -86_400_000, 951_782_400_000, 4_107_542_400_000]  # 2000-02-29, 2100-02-28
    values = np.concatenate([rng.integers(tabletext._textout.ISO_MIN_MS,
                                          tabletext._textout.ISO_MAX_MS, 20_000), edges])
    batch = Batch.from_pydict({"t": values.astype("datetime64[ms]")})
    assert tabletext._iso_in_kernel(batch.column("t"))
    expected = np.datetime_as_string(values.astype("datetime64[ms]"), unit="ms", timezone="UTC")
    assert tabletext.csv_rows(batch).decode().split("\n")[:-1] == expected.tolist()


def test_years_outside_0_to_9999_are_numpy_text():
    for outside in (tabletext._textout.ISO_MIN_MS - 1, tabletext._textout.ISO_MAX_MS + 1):
        times = np.array([0, outside], dtype="datetime64[ms]")
        batch = Batch.from_pydict({"t": times, "n": [1, None]})
        assert not tabletext._iso_in_kernel(batch.column("t"))
        both(batch)
        json_both(batch)
    # a null's value is not looked at
    from fastctx.batch import Column

    column = Column("timestamp", np.array([0, 2**62]), validity=np.array([1], dtype=np.uint8))
    assert tabletext._iso_in_kernel(column)
    batch = Batch({"t": column}, 2)
    assert tabletext.csv_rows(batch) == b'1970-01-01T00:00:00.000Z\n""\n'


def test_times_numpy_writes_wrongly_are_mended():
    # numpy writes the lowest int64 as NaT (it is a time, not a null) and year -1 as -001
    from fastctx.batch import Column

    values = [-(2**63), -62_167_219_200_001, -93_692_592_000_000, -93_692_592_000_001,
              -62_167_219_200_000, 2**63 - 1]
    batch = Batch({"t": Column("timestamp", np.array(values))}, len(values))
    expected = ["-292275055-05-16T16:47:04.192Z", "-0001-12-31T23:59:59.999Z",
                "-0999-01-01T00:00:00.000Z", "-1000-12-31T23:59:59.999Z",
                "0000-01-01T00:00:00.000Z", "292278994-08-17T07:12:55.807Z"]
    assert tabletext.iso_text(batch.column("t")).tolist() == expected
    assert tabletext.csv_rows(batch).decode().split("\n")[:-1] == expected
    assert [json.loads(line)["t"] for line in tabletext.json_rows(batch).splitlines()] == expected


def test_json_keys_are_the_column_names_which_must_be_text():
    batch = Batch.from_pydict({"0": [1, 2], "é \"q\"": ["a", None]})
    lines = tabletext.json_rows(batch).splitlines()
    assert [json.loads(line) for line in lines] == [{"0": 1, "é \"q\"": "a"},
                                                   {"0": 2, "é \"q\"": None}]
    with pytest.raises(TypeError, match="a column name must be a str, got 0"):
        Batch.from_pydict({0: [1, 2]})


def test_output_grows_past_its_first_reservation():
    # reserved at the size of rows without escapes: six bytes a control character here
    values = ["\x01" * 100_000, 'q"' * 50_000, "plain"]
    batch = Batch.from_pydict({"s": values})
    assert len(json_both(batch)) > 6 * 100_000
    assert len(both(batch)) > 150_000


@pytest.mark.parametrize("offsets", [[0, 5, 3], [0, 2, 99], [-1, 0, 2]])
def test_malformed_columns_are_errors_not_reads(offsets):
    from fastctx import _textout

    key = b'{"s": '
    data = np.frombuffer(b"abcdef", dtype=np.uint8)
    for json_lines in (False, True):
        with pytest.raises(ValueError, match="offsets"):
            _textout.write_rows([(0, np.array(offsets, dtype=np.int64), data, None, key)], 2,
                                json_lines)
    with pytest.raises(ValueError, match="shorter"):
        _textout.write_rows([(1, np.arange(2, dtype=np.int64), None, None, key)], 3, False)
    with pytest.raises(TypeError, match="bytes"):
        _textout.write_rows([(1, np.arange(2, dtype=np.int64), None, None, "s")], 2, True)
    with pytest.raises(ValueError, match="rows must not be negative, got -1"):
        _textout.write_rows([(1, np.arange(2, dtype=np.int64), None, None, key)], -1, True)
    with pytest.raises(ValueError, match="column 0: kind 3 is not 0, 1 or 2"):
        _textout.write_rows([(3, np.arange(2, dtype=np.int64), None, None, key)], 2, True)
