"""The Arrow C data interface of Batch (SPEC section 5): export without copying, import from
pyarrow, polars, pandas and DuckDB, and rendering straight from Arrow data."""

from __future__ import annotations

import datetime as dt
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import fastctx
from fastctx import Batch, Column
from fastctx import _reference

UTC = dt.timezone.utc


def T(*args):
    return dt.datetime(*args, tzinfo=UTC)


def sample_batch() -> Batch:
    return Batch.from_pydict(
        {
            "status": [200, None, 404, -7],
            "requestId": ["a", None, "héllo \"q\"", ""],
            "requestTime": [T(2024, 1, 1, 12, 30, 45, 123000), None, T(1969, 12, 31, 23, 59), T(2038, 1, 19)],
        }
    )


def address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


# ---------------------------------------------------------------------------------------
# capsules, no third-party library involved
# ---------------------------------------------------------------------------------------


def test_capsules_have_the_protocol_names():
    b = sample_batch()
    assert "arrow_schema" in repr(b.__arrow_c_schema__())
    schema, array = b.__arrow_c_array__()
    assert "arrow_schema" in repr(schema) and "arrow_array" in repr(array)
    assert "arrow_array_stream" in repr(b.__arrow_c_stream__())


def test_round_trip_through_own_capsules():
    b = sample_batch()
    assert Batch.from_arrow(b).to_pydict() == b.to_pydict()
    # and the import is zero-copy over the exporter's buffers
    back = Batch.from_arrow(b)
    for name in b.column_names:
        assert address(back.column(name).values) == address(b.column(name).values)


def test_export_keeps_buffers_alive_and_drops_them_on_release():
    b = sample_batch()
    values = b.column("status").values
    before = sys.getrefcount(values)
    capsule = b.__arrow_c_stream__()
    assert sys.getrefcount(values) == before + 1
    del capsule
    gc.collect()
    assert sys.getrefcount(values) == before


# ---------------------------------------------------------------------------------------
# export to pyarrow
# ---------------------------------------------------------------------------------------


def test_pyarrow_table_types_values_and_nulls():
    pa = pytest.importorskip("pyarrow")
    b = sample_batch()
    table = pa.table(b)
    assert table.schema == pa.schema(
        [("status", pa.int64()), ("requestId", pa.large_string()), ("requestTime", pa.timestamp("ms", tz="UTC"))]
    )
    assert all(field.nullable for field in table.schema)
    assert table.to_pydict() == b.to_pydict()
    assert table.column("status").null_count == 1
    assert pa.schema(b) == table.schema


def test_pyarrow_shares_every_buffer():
    pa = pytest.importorskip("pyarrow")
    b = sample_batch()
    for table in (pa.table(b), pa.record_batch(b)):
        for name in b.column_names:
            col = b.column(name)
            chunk = table.column(name)
            chunk = chunk.chunk(0) if hasattr(chunk, "chunk") else chunk
            validity, *buffers = chunk.buffers()
            assert validity.address == address(col.validity)
            assert buffers[0].address == address(col.values)
            if col.kind == "string":
                assert buffers[1].address == address(col.data)


def test_stream_can_be_consumed_more_than_once():
    pa = pytest.importorskip("pyarrow")
    b = sample_batch()
    first = pa.RecordBatchReader.from_stream(b).read_all()
    second = pa.RecordBatchReader.from_stream(b).read_all()
    assert first.equals(second) and first.to_pydict() == b.to_pydict()
    assert pa.table(b).equals(pa.table(b))


def test_one_stream_capsule_is_consumed_once():
    pa = pytest.importorskip("pyarrow")

    class Holder:
        def __init__(self, capsule):
            self.capsule = capsule

        def __arrow_c_stream__(self, requested_schema=None):
            return self.capsule

    holder = Holder(sample_batch().__arrow_c_stream__())
    assert pa.table(holder).num_rows == 4
    with pytest.raises(ValueError, match="already consumed"):
        Batch.from_arrow(holder)


def test_zero_rows_and_zero_columns():
    pa = pytest.importorskip("pyarrow")
    empty = Batch.from_pydict({"status": np.zeros(0, np.int64), "requestId": []})
    table = pa.table(empty)
    assert table.num_rows == 0
    assert table.schema.types == [pa.int64(), pa.large_string()]
    assert Batch.from_arrow(table).to_pydict() == {"status": [], "requestId": []}
    no_columns = Batch({}, 5)
    table = pa.table(no_columns)
    assert (table.num_rows, table.num_columns) == (5, 0)
    back = Batch.from_arrow(table)
    assert (back.num_rows, back.column_names) == (5, [])


def test_exported_data_outlives_the_batch_and_releases_from_another_thread():
    pa = pytest.importorskip("pyarrow")
    b = sample_batch()
    expected = b.to_pydict()
    data = weakref.ref(b.column("requestId").data)
    table = pa.table(b)
    del b
    gc.collect()
    assert data() is not None  # held by the export, not by the (gone) Batch
    assert table.to_pydict() == expected
    holder = [table]
    del table
    worker = threading.Thread(target=holder.clear)  # the release callback runs on this thread
    worker.start()
    worker.join()
    gc.collect()
    assert data() is None


def test_to_pyarrow_to_pandas():
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    b = sample_batch()
    assert b.to_pyarrow().equals(pa.table(b))
    df = b.to_pandas()
    assert str(df["requestTime"].dtype) == "datetime64[ms, UTC]"
    assert str(df["status"].dtype) == "Int64"
    assert df["status"].isna().tolist() == [False, True, False, False]
    assert df["requestId"][2] == 'héllo "q"'
    assert df["requestTime"][0].to_pydatetime() == T(2024, 1, 1, 12, 30, 45, 123000)


# ---------------------------------------------------------------------------------------
# export to polars and DuckDB
# ---------------------------------------------------------------------------------------


def test_polars_dataframe():
    pl = pytest.importorskip("polars")
    b = sample_batch()
    df = pl.DataFrame(b)
    assert df.schema == pl.Schema(
        {"status": pl.Int64, "requestId": pl.String, "requestTime": pl.Datetime("ms", "UTC")}
    )
    assert df.to_dict(as_series=False) == b.to_pydict()
    assert b.to_polars().equals(df)
    # from_arrow of a PyCapsule exporter is a struct Series in polars; its fields are the columns
    assert pl.from_arrow(b).struct.unnest().equals(df)


def test_polars_shares_int_buffers():
    pl = pytest.importorskip("polars")
    b = Batch.from_pydict({"status": np.arange(1000, dtype=np.int64)})
    series = pl.DataFrame(b)["status"]
    assert address(series.to_numpy(allow_copy=False)) == address(b.column("status").values)


def test_polars_shares_the_bytes_of_strings_and_the_times():
    # polars keeps strings as 16-byte views into buffers of bytes: it builds the views and
    # points them into the Batch's own bytes, which are not copied
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    ids = [f"request-{i:08d}-longer-than-twelve-bytes" for i in range(1000)]
    b = Batch.from_pydict({
        "requestId": ids,
        "requestTime": [T(2024, 1, 1) + dt.timedelta(seconds=i) for i in range(1000)],
    })
    df = pl.DataFrame(b)
    assert df["requestId"].to_list() == ids
    table = df.to_arrow(compat_level=pl.CompatLevel.newest())
    strings = table.column("requestId").chunk(0)
    assert strings.type == pa.string_view()
    assert address(b.column("requestId").data) in [buf.address for buf in strings.buffers()[2:]]
    times = df["requestTime"].to_physical().to_numpy(allow_copy=False)
    assert address(times) == address(b.column("requestTime").values)


def test_duckdb_sql_on_a_batch():
    duckdb = pytest.importorskip("duckdb")
    b = sample_batch()
    con = duckdb.connect()
    relation = con.sql("from b")
    assert [str(t) for t in relation.types] == ["BIGINT", "VARCHAR", "TIMESTAMP WITH TIME ZONE"]
    rows = con.sql("select status, requestId, epoch_ms(requestTime) from b").fetchall()
    ms = [None if v is None else (v - T(1970, 1, 1)) // dt.timedelta(milliseconds=1)
          for v in b.to_pydict()["requestTime"]]
    assert rows == list(zip(b.to_pydict()["status"], b.to_pydict()["requestId"], ms))
    # a second scan of the same Batch works: each scan takes a new stream
    assert con.sql("select count(*), count(status) from b").fetchall() == [(4, 3)]


# ---------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------


def pyarrow_cases():
    pa = pytest.importorskip("pyarrow")
    long = "a string longer than twelve bytes"
    return {
        "int32": (pa.array([1, None, -3], pa.int32()), [1, None, -3]),
        "int64": (pa.array([2**62, None, -1], pa.int64()), [2**62, None, -1]),
        "int8": (pa.array([-128, 127, None], pa.int8()), [-128, 127, None]),
        "uint8": (pa.array([255, 0, None], pa.uint8()), [255, 0, None]),
        "uint64": (pa.array([2**63 - 1, None, 0], pa.uint64()), [2**63 - 1, None, 0]),
        "float_whole": (pa.array([1.0, None, -3.0]), [1, None, -3]),
        "ts_us_tz": (
            pa.array([T(2024, 5, 6, 7, 8, 9, 123456), None, T(1969, 12, 31, 23, 59, 59, 999999)],
                     pa.timestamp("us", tz="America/New_York")),
            [T(2024, 5, 6, 7, 8, 9, 123000), None, T(1969, 12, 31, 23, 59, 59, 999000)],
        ),
        "ts_s_naive": (pa.array([0, 1, None], pa.timestamp("s")), [T(1970, 1, 1), T(1970, 1, 1, 0, 0, 1), None]),
        "ts_ns": (pa.array([1_500_000, None, -1], pa.timestamp("ns", tz="UTC")),
                  [T(1970, 1, 1, 0, 0, 0, 1000), None, T(1969, 12, 31, 23, 59, 59, 999000)]),
        "ts_ms": (pa.array([5, None, 6], pa.timestamp("ms", tz="+01:00")),
                  [T(1970, 1, 1, 0, 0, 0, 5000), None, T(1970, 1, 1, 0, 0, 0, 6000)]),
        "date32": (pa.array([dt.date(2024, 2, 29), None, dt.date(1900, 1, 1)], pa.date32()),
                   [T(2024, 2, 29), None, T(1900, 1, 1)]),
        "date64": (pa.array([dt.date(2024, 2, 29), None, dt.date(1900, 1, 1)], pa.date64()),
                   [T(2024, 2, 29), None, T(1900, 1, 1)]),
        "string": (pa.array(["a", None, "ünï"], pa.string()), ["a", None, "ünï"]),
        "large_string": (pa.array(["a", None, ""], pa.large_string()), ["a", None, ""]),
        "string_view": (pa.array([long, None, "short", ""], pa.string_view()), [long, None, "short", ""]),
        "dictionary": (pa.array(["x", None, "yy", "x"]).dictionary_encode(), ["x", None, "yy", "x"]),
        "dictionary_int": (pa.array([7, None, 7]).dictionary_encode(), [7, None, 7]),
        "dictionary_view": (
            pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], pa.int8()),
                                           pa.array(["short", long], pa.string_view())),
            [long, "short", None, long],
        ),
        "nulls": (pa.nulls(3), [None, None, None]),
    }


@pytest.mark.parametrize(
    "case",
    ["int32", "int64", "int8", "uint8", "uint64", "float_whole", "ts_us_tz", "ts_s_naive", "ts_ns",
     "ts_ms", "date32", "date64", "string", "large_string", "string_view", "dictionary",
     "dictionary_int", "dictionary_view", "nulls"],
)
def test_import_pyarrow_types(case):
    pa = pytest.importorskip("pyarrow")
    array, expected = pyarrow_cases()[case]
    table = pa.table({"col": array})
    batch = Batch.from_arrow(table)
    assert batch.to_pydict() == {"col": expected}
    kind = batch.column("col").kind
    assert kind == ("timestamp" if case.startswith(("ts", "date")) else
                    "string" if case in ("string", "large_string", "string_view", "dictionary",
                                         "dictionary_view", "nulls") else "int64")
    # the same through __arrow_c_array__ (RecordBatch) and sliced at every offset
    assert Batch.from_arrow(table.to_batches()[0]).to_pydict() == {"col": expected}
    for start in range(len(expected)):
        assert Batch.from_arrow(table.slice(start)).to_pydict() == {"col": expected[start:]}


def test_import_is_zero_copy_where_layouts_match_and_keeps_memory_alive():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({
        "n": pa.array(range(1000), pa.int64()),
        "s": pa.array([f"value {i}" if i % 7 else None for i in range(1000)], pa.large_string()),
        "t": pa.array(range(1000), pa.timestamp("ms", tz="UTC")),
    })
    expected = table.to_pydict()
    batch = Batch.from_arrow(table)
    for name in ("n", "t"):
        validity, values = table.column(name).chunk(0).buffers()
        assert address(batch.column(name).values) == values.address
    validity, offsets, data = table.column("s").chunk(0).buffers()
    col = batch.column("s")
    assert (address(col.validity), address(col.values), address(col.data)) == (
        validity.address, offsets.address, data.address)
    held = pa.total_allocated_bytes()
    del table
    gc.collect()
    assert pa.total_allocated_bytes() == held  # the Batch keeps the producer's memory
    assert Batch.from_pydict(batch.to_pydict()).to_pydict() == {
        "n": expected["n"], "s": expected["s"],
        "t": [T(1970, 1, 1) + dt.timedelta(milliseconds=v) for v in range(1000)]}
    del batch, col
    gc.collect()
    assert pa.total_allocated_bytes() < held  # ... and releases it with the last array


def test_import_sliced_bitmaps_at_bit_offsets():
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(7)
    values = [None if rng.random() < 0.3 else int(v) for v in rng.integers(-1000, 1000, 45)]
    strings = [None if v is None else f"s{v}" for v in values]
    table = pa.table({"i": pa.array(values, pa.int32()), "l": pa.array(values, pa.int64()),
                      "s": pa.array(strings, pa.string()), "v": pa.array(strings, pa.string_view())})
    for start in range(0, 20):
        for length in (0, 1, 7, 8, 9, 25):
            sliced = table.slice(start, length)
            got = Batch.from_arrow(sliced).to_pydict()
            want = values[start:start + length]
            assert got == {"i": want, "l": want, "s": strings[start:start + length],
                           "v": strings[start:start + length]}


def test_import_chunked_stream_is_concatenated():
    pa = pytest.importorskip("pyarrow")
    part = pa.table({"s": pa.array(["a", None, "bcd"], pa.string()), "n": pa.array([1, 2, None], pa.int16()),
                     "d": pa.array(["x", "y", None]).dictionary_encode()})
    table = pa.concat_tables([part, part.slice(1, 1), part.slice(2)])
    assert table.column("s").num_chunks == 3
    batch = Batch.from_arrow(table)
    assert batch.num_rows == 5
    assert batch.to_pydict() == {"s": ["a", None, "bcd", None, "bcd"], "n": [1, 2, None, 2, None],
                                 "d": ["x", "y", None, "y", None]}
    # an empty stream gives empty columns of the right kinds
    empty = Batch.from_arrow(pa.RecordBatchReader.from_batches(part.schema, []))
    assert empty.num_rows == 0 and [empty.column(n).kind for n in "snd"] == ["string", "int64", "string"]


def test_import_struct_array_with_null_rows():
    pa = pytest.importorskip("pyarrow")
    struct = pa.StructArray.from_arrays(
        [pa.array([1, 2, 3, 4]), pa.array(["a", "b", None, "d"])], names=["x", "y"],
        mask=pa.array([False, True, False, False]))
    assert Batch.from_arrow(struct).to_pydict() == {"x": [1, None, 3, 4], "y": ["a", None, None, "d"]}
    assert Batch.from_arrow(struct.slice(1)).to_pydict() == {"x": [None, 3, 4], "y": [None, None, "d"]}


def test_import_only_the_named_columns():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"keep": [1, 2], "flag": [True, False], "other": ["x", "y"]})
    batch = Batch.from_arrow(table, names=["keep", "missing"])
    assert batch.column_names == ["keep"] and batch.num_rows == 2
    assert Batch.from_arrow(table, names=[]).num_rows == 2


def test_import_two_columns_of_one_name_is_an_error_not_a_guess():
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array(["x"])],
                                 names=["status", "status", "other"])
    with pytest.raises(ValueError, match="two columns are named 'status'; rename or drop one"):
        Batch.from_arrow(table)
    # a duplicate the caller does not ask for does not matter
    assert Batch.from_arrow(table, names=["other"]).to_pydict() == {"other": ["x"]}


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ("bool", "column 'bad': Arrow format 'b' (boolean)"),
        ("list", "column 'bad': Arrow format '+l' (list)"),
        ("binary", "column 'bad': Arrow format 'z' (binary)"),
        ("float", "column 'bad' row 0: 1.5 is not a whole number"),
    ],
)
def test_unsupported_types_name_the_column_and_format(array, message):
    pa = pytest.importorskip("pyarrow")
    arrays = {"bool": pa.array([True]), "list": pa.array([[1]]), "binary": pa.array([b"x"]),
              "float": pa.array([1.5])}
    with pytest.raises(TypeError) as info:
        Batch.from_arrow(pa.table({"ok": [1], "bad": arrays[array]}))
    assert message in str(info.value)


def test_uint64_overflow_is_an_error():
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(OverflowError, match="'big'"):
        Batch.from_arrow(pa.table({"big": pa.array([2**63], pa.uint64())}))


def test_import_errors_name_the_row_of_the_column_not_of_its_chunk():
    pa = pytest.importorskip("pyarrow")
    fmt = fastctx.compile("$context.requestId $context.status [$context.requestTime]")

    def two_chunks(name, first, second, arrow_type):
        return pa.table({name: pa.chunked_array([first, second], arrow_type)})

    cases = [
        (two_chunks("status", [1.0, 2.0, 3.0], [4.0, 5.5], pa.float64()),
         TypeError, r"'status' row 4: 5\.5 is not a whole number"),
        (two_chunks("status", [1, 2, 3], [4, 2**63], pa.uint64()),
         OverflowError, r"'status' row 4: 9223372036854775808 \(uint64\)"),
        (two_chunks("requestTime", [1, 2, 3], [4, 2**62], pa.timestamp("s", "UTC")),
         OverflowError, r"'requestTime' row 4: the timestamp of 4611686018427387904 seconds"),
        (two_chunks("status", pa.DictionaryArray.from_arrays(pa.array([0, 0, 0], pa.int32()), [1.0, 2.5]),
                    pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), [1.0, 2.5]),
                    pa.dictionary(pa.int32(), pa.float64())),
         TypeError, r"'status' row 4: 2\.5 is not a whole number"),
    ]
    for table, error, message in cases:
        with pytest.raises(error, match=message):
            fmt.render(table)
        with pytest.raises(error, match=message):
            Batch.from_arrow(table)
        with pytest.raises(error, match=message):  # one column of several chunks
            Batch.from_pydict({name: table.column(name) for name in table.column_names})
    bad = pa.DictionaryArray.from_arrays(pa.array([0, 2], pa.int32()), pa.array(["a", "b"]), safe=False)
    good = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"'d': dictionary index 2 out of range \(size 2\) at row 4"):
        Batch.from_arrow(pa.table({"d": pa.chunked_array([good, bad])}))


def test_numeric_dictionaries_check_only_the_entries_rows_use():
    pa = pytest.importorskip("pyarrow")

    def dictionary(indices, entries, entry_type):
        return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()),
                                              pa.array(entries, entry_type))
    # a filtered pandas category keeps its unused entries: 0.5, NaN, 2**64 - 1 are never read
    cases = [
        (dictionary([0, None, 2], [3.0, 0.5, 4.0], pa.float64()), [3, None, 4]),
        (dictionary([1, 1, 0], [float("nan"), 7.0], pa.float32()), [7, 7, None]),
        (dictionary([0, None], [5, 2**64 - 1], pa.uint64()), [5, None]),
        (dictionary([0, 1], [1.0, None], pa.float64()), [1, None]),  # a null entry
    ]
    for array, expected in cases:
        assert Batch.from_arrow(pa.table({"d": array})).to_pydict() == {"d": expected}, array
    # a used entry that is no integer is named at the first row that uses it
    with pytest.raises(TypeError, match=r"'d' row 2: 0\.5 is not a whole number"):
        Batch.from_arrow(pa.table({"d": dictionary([0, None, 1], [3.0, 0.5], pa.float64())}))
    with pytest.raises(OverflowError, match=r"'d' row 1: 18446744073709551615 \(uint64\)"):
        Batch.from_arrow(pa.table({"d": dictionary([0, 1], [5, 2**64 - 1], pa.uint64())}))


def test_import_not_a_record_batch():
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(TypeError, match="struct"):
        Batch.from_arrow(pa.array([1, 2, 3]))
    with pytest.raises(TypeError, match="does not export Arrow data"):
        Batch.from_arrow([1, 2, 3])


@pytest.mark.parametrize("values", [["a", "b"], [10, 20], [10.0, 20.0]])
def test_import_dictionary_index_out_of_range(values):
    pa = pytest.importorskip("pyarrow")
    good = pa.DictionaryArray.from_arrays(pa.array([1, None, 0], pa.int32()), pa.array(values))
    assert Batch.from_arrow(pa.table({"d": good})).to_pydict() == {"d": [values[1], None, values[0]]}
    for bad in ([0, 2], [-1, 0]):
        array = pa.DictionaryArray.from_arrays(pa.array(bad, pa.int32()), pa.array(values), safe=False)
        with pytest.raises(ValueError, match="'d': dictionary index"):
            Batch.from_arrow(pa.table({"d": array}))
    # null slots may hold any index
    indices = pa.Array.from_buffers(pa.int32(), 2, [pa.py_buffer(bytes([0b01])),
                                                     pa.py_buffer(np.array([0, 99], np.int32))])
    masked = pa.DictionaryArray.from_arrays(indices, pa.array(values), safe=False)
    assert Batch.from_arrow(pa.table({"d": masked})).to_pydict() == {"d": [values[0], None]}
    # a dictionary with null entries
    nullable = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int8()), pa.array([values[0], None]))
    assert Batch.from_arrow(pa.table({"d": nullable})).to_pydict() == {"d": [values[0], None, values[0]]}


def test_import_polars():
    pl = pytest.importorskip("polars")
    long = "a string longer than twelve bytes"
    df = pl.DataFrame({
        "n": [1, None, 3],
        "small": pl.Series([1, 2, None], dtype=pl.UInt16),
        "s": ["x", long, None],  # polars exports string_view
        "c": pl.Series(["u", None, long], dtype=pl.Categorical),
        "e": pl.Series(["u", "v", None], dtype=pl.Enum(["u", "v"])),
        "t": pl.Series([T(2024, 1, 1, 0, 0, 0, 1500), None, T(1999, 12, 31)], dtype=pl.Datetime("us", "UTC")),
        "naive": pl.Series([dt.datetime(2024, 1, 1), None, None], dtype=pl.Datetime("ns")),
        "d": [dt.date(2020, 1, 1), None, dt.date(2020, 1, 2)],
    })
    batch = Batch.from_arrow(df)
    assert batch.to_pydict() == {
        "n": [1, None, 3], "small": [1, 2, None], "s": ["x", long, None], "c": ["u", None, long],
        "e": ["u", "v", None], "t": [T(2024, 1, 1, 0, 0, 0, 1000), None, T(1999, 12, 31)],
        "naive": [T(2024, 1, 1), None, None], "d": [T(2020, 1, 1), None, T(2020, 1, 2)],
    }
    # several chunks
    chunked = pl.concat([df, df.slice(1)], rechunk=False)
    assert Batch.from_arrow(chunked).to_pydict()["c"] == ["u", None, long, None, long]
    # round trip Batch -> polars -> Batch
    b = sample_batch()
    assert Batch.from_arrow(b.to_polars()).to_pydict() == b.to_pydict()


def test_import_pandas():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({
        "status": [200.0, None, 404.0],  # integers with a missing value: float64 + NaN
        "i": [1, 2, 3],
        "s": ["x", None, "zz"],
        "t": pd.to_datetime(["2024-01-01", None, "2024-01-02 03:04:05.678"], utc=True, format="ISO8601"),
    })
    batch = Batch.from_arrow(df)
    assert batch.to_pydict() == {
        "status": [200, None, 404], "i": [1, 2, 3], "s": ["x", None, "zz"],
        "t": [T(2024, 1, 1), None, T(2024, 1, 2, 3, 4, 5, 678000)],
    }
    b = sample_batch()
    assert Batch.from_arrow(b.to_pandas()).to_pydict() == b.to_pydict()


def test_import_duckdb():
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    con = duckdb.connect()
    query = ("select i::int as i, i::ubigint as u, 'value ' || i || ' of a longer string' as s, "
             "timestamptz '2024-01-01 00:00:00+00' + (i * interval 1500 millisecond) as t, "
             "case when i = 1 then null else i end as n from range(3) r(i)")
    expected = {
        "i": [0, 1, 2], "u": [0, 1, 2], "s": [f"value {i} of a longer string" for i in range(3)],
        "t": [T(2024, 1, 1), T(2024, 1, 1, 0, 0, 1, 500000), T(2024, 1, 1, 0, 0, 3)],
        "n": [0, None, 2],
    }
    assert Batch.from_arrow(con.sql(query)).to_pydict() == expected
    assert Batch.from_arrow(con.sql(query).arrow()).to_pydict() == expected
    con.execute("set produce_arrow_string_view = true")
    assert Batch.from_arrow(con.sql(query)).to_pydict() == expected
    # a sum() of integers is a HUGEINT, which DuckDB exports as decimal(38, 0)
    assert Batch.from_arrow(con.sql("select sum(i) as s from range(4) r(i)")).to_pydict() == {"s": [6]}
    # a Batch goes into DuckDB and back unchanged
    b = sample_batch()
    assert Batch.from_arrow(con.sql("from b")).to_pydict() == b.to_pydict()


# ---------------------------------------------------------------------------------------
# rendering straight from Arrow data
# ---------------------------------------------------------------------------------------


def clf_events():
    return {
        "identity.sourceIp": ["192.0.2.1", None, "2001:db8::1"],
        "identity.caller": [None, "caller", "-"],
        "identity.user": ["user", None, None],
        "requestTime": [T(2024, 7, 10, 18, 15, 21, 799000), T(1999, 1, 1), None],
        "eventType": ["MESSAGE", "CONNECT", "DISCONNECT"],
        "routeKey": ["$default", 'say "hi"', None],
        "connectionId": ["L0SM9cOFvHcCIhw=", "abc", ""],
        "status": [200, None, 500],
        "requestId": ["r1", "r2", "r3"],
    }


def test_render_pyarrow_table_equals_render_of_the_same_dict():
    pa = pytest.importorskip("pyarrow")
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    events = clf_events()
    table = pa.table({
        **{k: pa.array(v, pa.string()) for k, v in events.items() if k not in ("status", "requestTime")},
        "status": pa.array(events["status"], pa.int32()),
        "requestTime": pa.array(events["requestTime"], pa.timestamp("us", tz="UTC")),
        "unused": pa.array([True, False, None]),  # not a variable of the format: never converted
    })
    expected = _reference.render(fmt.program, Batch.from_pydict(events))[0]
    assert fmt.render(events) == expected
    assert fmt.render(table) == expected
    assert fmt.render(table.to_batches()[0]) == expected
    # a slice: string offsets that do not start at 0, bitmaps at a bit offset
    assert fmt.render(table.slice(1)) == _reference.render(fmt.program, Batch.from_pydict(events).slice(1, 3))[0]


def test_render_polars_dataframe():
    pl = pytest.importorskip("polars")
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    events = clf_events()
    df = pl.DataFrame(events).with_columns(pl.col("eventType").cast(pl.Categorical))
    assert fmt.render(df) == fmt.render(events)
    with pytest.raises(TypeError, match=r"cannot render a LazyFrame: .*; collect\(\) it first"):
        fmt.render(df.lazy())
    assert fmt.render(df.lazy().collect()) == fmt.render(events)


def test_render_duckdb_relation_and_pandas_dataframe():
    duckdb = pytest.importorskip("duckdb")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    events = clf_events()
    expected = fmt.render(events)
    frame = pd.DataFrame(events)
    frame["requestTime"] = pd.to_datetime(frame["requestTime"], utc=True)
    assert fmt.render(frame) == expected
    con = duckdb.connect()
    relation = con.sql('select * replace (status::int as status) from frame')
    assert fmt.render(relation) == expected


def test_timestamp_seconds_past_the_int64_millisecond_range_raise_instead_of_wrapping():
    pa = pytest.importorskip("pyarrow")
    fmt = fastctx.compile("$context.requestId [$context.requestTime]")
    limit = (2**63 - 1) // 1000
    for bad in (limit + 1, (2**64 + 1720635321384) // 1000, -limit - 1):
        table = pa.table({"requestId": ["r0", "r1"],
                          "requestTime": pa.array([1720635321, bad], pa.timestamp("s"))})
        with pytest.raises(OverflowError, match=rf"'requestTime' row 1: the timestamp of {bad} seconds"):
            fmt.render(table)
        with pytest.raises(OverflowError, match="requestTime"):
            Batch.from_arrow(table)
    # the edges themselves convert, and a null slot's value is never looked at
    edges = pa.array([limit, -limit], pa.timestamp("s"))
    assert Batch.from_arrow(pa.table({"t": edges})).column("t").values.tolist() == [limit * 1000, -limit * 1000]
    values = np.array([1, limit + 5], dtype=np.int64)
    holed = pa.Array.from_buffers(pa.timestamp("s"), 2, [pa.py_buffer(np.packbits([1, 0], bitorder="little")),
                                                        pa.py_buffer(values)])
    column = Batch.from_arrow(pa.table({"t": holed})).column("t")
    assert column.values[0] == 1000 and column.null_count == 1


def test_float_integers_out_of_range_and_fractions_give_their_own_errors():
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(OverflowError, match=r"'status' row 1: 1e\+19 does not fit in int64"):
        Batch.from_arrow(pa.table({"status": pa.array([200.0, 1e19])}))
    with pytest.raises(TypeError, match=r"'status' row 1: 1\.5 is not a whole number"):
        Batch.from_arrow(pa.table({"status": pa.array([200.0, 1.5])}))
    with pytest.raises(TypeError, match=r"'status' row 2: inf is not a whole number"):
        Batch.from_arrow(pa.table({"status": pa.array([float("nan"), None, float("inf")])}))
    assert Batch.from_arrow(pa.table({"status": pa.array([200.0, None])})).to_pydict() == {"status": [200, None]}


def test_decimals_of_whole_numbers_are_integers():
    # DuckDB's HUGEINT (a sum() of integers) arrives as decimal(38, 0); a DECIMAL(p, s) cast
    # of a status or a latency holds whole numbers too: taken as int64, nulls kept
    pa = pytest.importorskip("pyarrow")
    from decimal import Decimal

    values = [Decimal(-5), None, Decimal(123), Decimal(2**63 - 1)]
    for arrow_type in (pa.decimal128(38, 0), pa.decimal128(38, 2), pa.decimal128(38, 18),
                       pa.decimal256(76, 0), pa.decimal256(76, 20), pa.decimal256(76, 40)):
        batch = Batch.from_arrow(pa.table({"status": pa.array(values, arrow_type)}))
        assert batch.column("status").kind == "int64"
        assert batch.to_pydict() == {"status": [-5, None, 123, 2**63 - 1]}, arrow_type
    for arrow_type in (pa.decimal32(9, 0), pa.decimal64(18, 3)):
        small = pa.array([Decimal(-5), None, Decimal(7), Decimal(8)], arrow_type)
        for array in (small, small.slice(1)):
            assert Batch.from_arrow(pa.table({"status": array})).to_pydict()["status"] == [
                -5, None, 7, 8][len(small) - len(array):]
    wide = pa.array([Decimal(-5), None, Decimal(7)], pa.decimal128(38, 0)).dictionary_encode()
    assert Batch.from_arrow(pa.table({"status": wide})).to_pydict() == {"status": [-5, None, 7]}
    fmt = fastctx.compile("$context.requestId $context.status $context.requestTimeEpoch")
    table = pa.table({"requestId": ["a", "b"], "status": pa.array([Decimal(200), None], pa.decimal128(38, 0)),
                      "requestTimeEpoch": pa.array([Decimal(1700000000000), Decimal(0)], pa.decimal128(20, 0))})
    assert fmt.render(table) == b"a 200 1700000000000\nb - 0\n"


def test_decimals_that_are_not_whole_or_too_large_name_their_row():
    pa = pytest.importorskip("pyarrow")
    from decimal import Decimal

    def table(*values, arrow_type=pa.decimal128(38, 1)):
        return pa.table({"status": pa.chunked_array([[Decimal(1)], list(values)], arrow_type)})

    with pytest.raises(TypeError, match=r"'status' row 2: -0\.5 is not a whole number"):
        Batch.from_arrow(table(None, Decimal("-0.5")))
    with pytest.raises(OverflowError, match=r"'status' row 1: 9223372036854775808\.0 does not fit"):
        Batch.from_arrow(table(Decimal(2**63)))
    with pytest.raises(OverflowError, match=r"'status' row 1: -9223372036854775809 does not fit"):
        Batch.from_arrow(table(Decimal(-2**63 - 1), arrow_type=pa.decimal256(40, 0)))
    # a negative scale multiplies
    negative = pa.array([Decimal("1E+3"), None], pa.decimal128(10, -3))
    assert Batch.from_arrow(pa.table({"status": negative})).to_pydict() == {"status": [1000, None]}
    with pytest.raises(OverflowError, match=r"'status' row 0: 1\.00E\+20 does not fit"):
        Batch.from_arrow(pa.table({"status": pa.array([Decimal("1E+20")], pa.decimal128(5, -18))}))
    # a null slot's value is not looked at; -2**63 fits
    assert Batch.from_arrow(table(None, Decimal(-2**63))).to_pydict() == {"status": [1, None, -2**63]}
