"""Batch and Column: construction, inference, layout, Python values."""

import datetime as dt
import re

import numpy as np
import pytest

import fastctx
from fastctx import Batch, Column

UTC = dt.timezone.utc


def test_from_pydict_infers_kinds_and_round_trips():
    when = dt.datetime(2024, 7, 10, 18, 15, 21, 799000, tzinfo=UTC)
    data = {"status": [200, None, -1], "requestId": ["a", None, "é✓"], "t": [when, None, when]}
    batch = Batch.from_pydict(data)
    assert batch.num_rows == 3
    assert [batch.column(n).kind for n in data] == ["int64", "string", "timestamp"]
    assert batch.to_pydict() == data


def test_string_layout_is_arrow_large_string():
    col = Column.from_strings(["ab", None, "", "é"])
    assert col.values.dtype == np.int64 and col.values.tolist() == [0, 2, 2, 2, 4]
    assert col.data.tobytes() == "abé".encode()
    assert col.validity.tolist() == [0b1101]  # LSB first: row 1 is null
    assert col.null_count == 1


def test_no_nulls_means_no_bitmap():
    assert Column.from_ints([1, 2]).validity is None


def test_numpy_inputs():
    batch = Batch.from_pydict({
        "i": np.array([1, 2], dtype=np.int16),
        "t": np.array(["2024-01-01T00:00:00.123456", "NaT"], dtype="datetime64[us]"),
        "s": np.array(["x", "y"]),
    })
    assert batch.column("i").kind == "int64"
    assert batch.column("t").values[0] == 1704067200123
    assert batch.to_pydict()["t"][1] is None
    assert batch.to_pydict()["s"] == ["x", "y"]


def test_naive_datetimes_are_utc():
    col = Column.from_values([dt.datetime(1970, 1, 1, 0, 0, 1)])
    assert col.values.tolist() == [1000]


@pytest.mark.parametrize(
    "values, message",
    [
        ([1, "x"], "column 'c' row 1: expected int or None, got str"),
        (["x", 2], "column 'c' row 1: expected str or None, got int"),
        ([1.5], r"column 'c' row 0: 1\.5 is not a whole number"),
        ([None, 2.0, float("inf")], "row 2: inf is not a whole number"),
        ([object()], "column 'c' row 0: cannot store object"),
        ([None, True], "column 'c' row 1: cannot store bool"),
        ([1, True], "row 1: expected int or None, got bool"),
    ],
)
def test_wrong_types_name_column_and_row(values, message):
    with pytest.raises(TypeError, match=message) as info:
        Batch.from_pydict({"c": values})
    row = re.search(r"row (\d+): (.*)", str(info.value))
    if row:  # the column, the row and the reason as attributes too (the CLI names the event)
        exc = info.value
        assert (exc.column, exc.row, exc.reason) == ("c", int(row.group(1)), row.group(2))


def test_int64_overflow_is_an_error():
    with pytest.raises(OverflowError, match="row 0"):
        Batch.from_pydict({"c": [2**63]})
    with pytest.raises(OverflowError, match=r"row 1: -9223372036854775809 does not fit"):
        Batch.from_pydict({"c": [1, -(2**63) - 1]})
    # too long for str(): the message gives its size instead
    with pytest.raises(OverflowError, match="row 0: an integer of 16610 bits does not fit"):
        Batch.from_pydict({"c": [10**5000]})


def test_invalid_utf8_bytes_are_rejected():
    with pytest.raises(ValueError, match="not valid UTF-8"):
        Column.from_strings([b"\xff"], "c")


def test_columns_must_agree_in_length():
    with pytest.raises(ValueError, match="has 1 rows, expected 2"):
        Batch.from_pydict({"a": [1, 2], "b": [1]})


def test_column_lookup_errors_name_the_columns():
    with pytest.raises(KeyError, match="no column 'x'"):
        Batch.from_pydict({"a": [1]}).column("x")


def test_slice():
    batch = Batch.from_pydict({"a": [1, None, 3, 4], "s": ["w", "x", None, "z"]})
    part = batch.slice(1, 3)
    assert part.to_pydict() == {"a": [None, 3], "s": ["x", None]}
    assert batch.slice(3, 10).to_pydict() == {"a": [4], "s": ["z"]}


def test_empty_batch():
    batch = Batch.from_pydict({"a": []})
    assert batch.num_rows == 0 and batch.to_pydict() == {"a": []}


def test_schema_names_the_arrow_types():
    batch = Batch.from_pydict({"s": [1], "t": [dt.datetime(2024, 1, 1)], "r": ["x"]})
    assert batch.schema == {"s": "int64", "t": "timestamp[ms, UTC]", "r": "large_string"}


def test_times_a_datetime_cannot_hold_are_a_clear_error_in_to_pydict():
    # a parse accepts an epoch_ms of any int64 and a CLF time of year 0; to_pydict names the
    # column and row, and the int64 milliseconds stay readable
    fmt = fastctx.compile("$context.requestId $context.requestTimeEpoch")
    batch = fmt.parse(b"r 5\nr 9223372036854775807\n")
    with pytest.raises(OverflowError, match=r"column 'requestTimeEpoch' row 1: 9223372036854775807 ms"):
        batch.to_pydict()
    assert batch.column("requestTimeEpoch").values.tolist() == [5, 2**63 - 1]
    clf = fastctx.compile("$context.requestId [$context.requestTime]")
    with pytest.raises(OverflowError, match="column 'requestTime' row 0: -62167219200000 ms"):
        clf.parse(b"r [01/Jan/0000:00:00:00 +0000]\n").to_pydict()
    edges = clf.parse(b"r [01/Jan/0001:00:00:00 +0000]\nr [31/Dec/9999:23:59:59 +0000]\n").to_pydict()
    assert [t.year for t in edges["requestTime"]] == [1, 9999]


def test_a_time_of_the_smallest_int64_is_not_turned_into_nat_by_to_pandas():
    pytest.importorskip("pandas")
    # pandas keeps a missing time as the smallest int64: the parsed value would become NaT
    fmt = fastctx.compile("$context.requestId $context.requestTimeEpoch")
    batch = fmt.parse(b"a 5\nb -\nc -9223372036854775808\n")
    with pytest.raises(OverflowError, match=r"column 'requestTimeEpoch' row 2: -9223372036854775808 ms"):
        batch.to_pandas()
    held = batch.to_pyarrow().column("requestTimeEpoch").cast("int64").to_pylist()
    assert held == [5, None, -(2**63)]  # Arrow keeps it
    frame = batch.slice(0, 2).to_pandas()  # a missing time is NaT, as before
    assert frame["requestTimeEpoch"].isna().tolist() == [False, True]


def test_out_of_range_datetime64_values_raise_instead_of_wrapping():
    with pytest.raises(OverflowError, match=r"'t' row 1: .* out of range for int64 epoch milliseconds"):
        Batch.from_pydict({"t": np.array([0, 2**62], dtype="datetime64[s]")})
    with pytest.raises(OverflowError, match="'t' row 0"):
        Batch.from_pydict({"t": np.array([10**17, "NaT"], dtype="datetime64[s]")})
    limit = (2**63 - 1) // 1000  # the edge converts; NaT and finer units are never out of range
    column = Batch.from_pydict({"t": np.array([limit, "NaT"], dtype="datetime64[s]")}).column("t")
    assert column.values[0] == limit * 1000 and column.null_count == 1
    assert Batch.from_pydict({"t": np.array([2**62], dtype="datetime64[ns]")}).column("t").values[0] == 2**62 // 10**6


def test_nat_is_a_null_timestamp():
    pd = pytest.importorskip("pandas")
    batch = Batch.from_pydict({"t": [dt.datetime(2024, 1, 1), pd.NaT, None]})
    assert batch.to_pydict()["t"] == [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), None, None]


def test_numpy_integer_scalars_out_of_range_name_the_column_and_row():
    with pytest.raises(OverflowError, match=r"'status' row 1: 18446744073709551615 does not fit in int64"):
        Batch.from_pydict({"status": [np.uint64(1), np.uint64(2**64 - 1)]})
    assert Batch.from_pydict({"status": [np.uint64(7), np.int8(-3)]}).to_pydict() == {"status": [7, -3]}


def test_text_with_a_lone_surrogate_is_refused_not_stored_as_invalid_utf8():
    with pytest.raises(ValueError, match=r"'requestId' row 1: text is not valid Unicode"):
        Batch.from_pydict({"requestId": ["ok", "\ud800"]})


def test_missing_values_of_numpy_and_lists_are_nulls():
    # NaN (pandas' marker in float and object columns) is missing; whole floats are integers
    batch = Batch.from_pydict({
        "f": np.array([200.0, np.nan, -3.0]),
        "l": [200.0, float("nan"), None],
        "s": ["a", float("nan"), None],
        "o": np.array([7, None, 8], dtype=object),
        "os": np.array(["x", None], dtype=object).repeat([2, 1]),
    })
    assert batch.column("f").kind == "int64" and batch.column("o").kind == "int64"
    assert batch.to_pydict() == {
        "f": [200, None, -3], "l": [200, None, None], "s": ["a", None, None],
        "o": [7, None, 8], "os": ["x", "x", None]}
    with pytest.raises(TypeError, match=r"'f' row 1: 2\.5 is not a whole number"):
        Batch.from_pydict({"f": np.array([1.0, 2.5])})
    with pytest.raises(OverflowError, match="'f' row 0: 1e\\+19 does not fit in int64"):
        Batch.from_pydict({"f": np.array([1e19])})
    with pytest.raises(TypeError, match="numpy dtype bool is not supported"):
        Batch.from_pydict({"b": np.array([True])})


def test_masked_arrays_keep_their_mask():
    masked = np.ma.masked_array
    batch = Batch.from_pydict({
        "i": masked([200, 500, 7], mask=[False, True, False]),
        # the masked entries may hold anything: a NaN, a value that is not a whole number
        "f": masked([1.0, np.nan, 2.5], mask=[False, True, True]),
        "s": masked(["a", "bad", "c"], mask=[True, True, False]),
        "t": masked(np.array([0, 2**62, 1000], dtype="datetime64[s]"), mask=[False, True, False]),
        "o": masked(np.array([1, "junk", 3], dtype=object), mask=[False, True, False]),
    })
    assert batch.to_pydict() == {
        "i": [200, None, 7], "f": [1, None, None], "s": [None, None, "c"],
        "t": [dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), None,
              dt.datetime(1970, 1, 1, 0, 16, 40, tzinfo=dt.timezone.utc)],
        "o": [1, None, 3]}
    assert Batch.from_pydict({"i": masked([1, 2])}).column("i").validity is None


@pytest.mark.parametrize("through_arrow", [True, False])
def test_pandas_series_with_missing_values(monkeypatch, through_arrow):
    pd = pytest.importorskip("pandas")
    if not through_arrow:
        # pandas < 3, or pandas without pyarrow: no Arrow export, the Series' own path
        from fastctx import batch as batch_module

        def no_arrow(values, name):
            raise ImportError("pyarrow is not installed")
        import fastctx._arrow
        monkeypatch.setattr(fastctx._arrow, "import_column", no_arrow)
        assert batch_module._is_pandas(pd.Series([1]))
    utc = dt.timezone.utc
    batch = Batch.from_pydict({
        "Int64": pd.Series([200, None], dtype="Int64"),
        "UInt8": pd.Series([None, 255], dtype="UInt8"),
        "float": pd.Series([200, None]),  # float64 with NaN
        "string": pd.Series(["a", None], dtype="string"),
        "object": pd.Series(["a", np.nan]),
        "category": pd.Series(["a", None], dtype="category"),
        "utc": pd.Series(pd.to_datetime(["2024-07-10 18:15:21.5", None], utc=True)),
        "naive": pd.Series(pd.to_datetime(["2024-07-10 18:15:21", None])),
        "paris": pd.Series(pd.to_datetime(["2024-07-10 20:15:21", None]).tz_localize("Europe/Paris")),
    })
    when = dt.datetime(2024, 7, 10, 18, 15, 21, tzinfo=utc)
    assert batch.to_pydict() == {
        "Int64": [200, None], "UInt8": [None, 255], "float": [200, None],
        "string": ["a", None], "object": ["a", None], "category": ["a", None],
        "utc": [when.replace(microsecond=500000), None], "naive": [when, None],
        "paris": [when, None]}
    with pytest.raises(TypeError, match="'mixed' row 1: expected str or None, got int"):
        Batch.from_pydict({"mixed": pd.Series(["a", 3])})
    with pytest.raises(OverflowError, match=r"'big' row 0: 18446744073709551615 \(uint64\) does not"):
        Batch.from_pydict({"big": pd.Series([2**64 - 1, None], dtype="UInt64")})


def test_arrow_arrays_and_series_as_columns():
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    batch = Batch.from_pydict({
        "pa": pa.array([200, None], type=pa.int32()),
        "chunked": pa.chunked_array([["a"], [None]]),
        "sliced": pa.array(["x", "y", "z"]).slice(1),
        "polars": pl.Series([None, 7]),
    })
    assert batch.to_pydict() == {"pa": [200, None], "chunked": ["a", None],
                                 "sliced": ["y", "z"], "polars": [None, 7]}
    with pytest.raises(TypeError, match=r"column 'flag': Arrow format 'b' \(boolean\)"):
        Batch.from_pydict({"flag": pa.array([True])})


def test_pandas_columns_pyarrow_would_misread_are_read_by_pandas(monkeypatch):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    utc = dt.timezone.utc
    when = dt.datetime(2020, 1, 1, tzinfo=utc)
    # an object column is read value by value: pyarrow took the 5 for 5 microseconds
    with pytest.raises(TypeError, match="'c' row 1: expected datetime or None, got int"):
        Batch.from_pydict({"c": pd.Series([when, 5], dtype=object)})
    # a pandas extension type that is not its storage (periods are int64 ordinals in Arrow)
    periods = pd.Series(pd.period_range("2020-01", periods=2, freq="M"))
    with pytest.raises(TypeError, match="'p'.*extension type 'pandas.period'"):
        Batch.from_arrow(pa.table(pd.DataFrame({"p": periods})))
    with pytest.raises(TypeError, match="'p' row 0: cannot store Period values"):
        Batch.from_pydict({"p": periods})
    with pytest.raises(TypeError, match="'p' row 0: cannot store Period values"):
        Batch.from_arrow(pd.DataFrame({"p": periods}))  # a frame is read column by column
    # pandas' own path (no Arrow export): times past the nanosecond range, Arrow-backed
    # dates, integer categories with missing values keep their exact values
    import fastctx._arrow

    real = fastctx._arrow.import_column

    def series_without_arrow(values, name="?"):
        if type(values).__module__.startswith("pandas"):
            raise ImportError("pyarrow is not installed")
        return real(values, name)
    monkeypatch.setattr(fastctx._arrow, "import_column", series_without_arrow)
    far = pd.Series(pd.to_datetime(["2500-01-01", None]).as_unit("s").tz_localize("UTC"))
    dates = pd.Series([dt.date(2020, 1, 1), None], dtype=pd.ArrowDtype(pa.date32()))
    codes = pd.Series([2**62 + 1, None], dtype="category")
    assert Batch.from_pydict({"far": far, "dates": dates, "codes": codes}).to_pydict() == {
        "far": [dt.datetime(2500, 1, 1, tzinfo=utc), None], "dates": [when, None],
        "codes": [2**62 + 1, None]}
    top = pd.Series([None, 2**63 - 1], dtype="category")  # through float64 it overflowed
    assert Column.from_values(top).to_pylist() == [None, 2**63 - 1]
    index = pd.DatetimeIndex(["2020-01-01 01:00", None]).tz_localize("Europe/Paris")
    assert Column.from_values(index).to_pylist() == [when, None]
    assert Column.from_values(pd.Index([3, 4])).to_pylist() == [3, 4]
    with pytest.raises(TypeError, match="cannot store Period"):
        Column.from_values(pd.Series(pd.period_range("2020-01", periods=1, freq="M")), "p")


@pytest.mark.parametrize("value", ["abc", b"ab", {"k": 1}, None, 5])
def test_a_column_must_be_a_sequence(value):
    # a str would have been taken for its characters, as rows
    with pytest.raises(TypeError, match="column 'c': expected a sequence of values"):
        Batch.from_pydict({"c": value, "n": [1, 2, 3]})


def test_a_frame_is_not_a_column():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    with pytest.raises(TypeError, match=r"column 'c': Arrow format '\+s' \(struct\)"):
        Batch.from_pydict({"c": pd.DataFrame({"a": [1]})})


def test_arrow_float_nan_is_missing_as_in_numpy():
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    nan = float("nan")
    for column in (pa.array([1.0, nan, None]), pl.Series([1.0, nan, None]),
                   np.array([1.0, nan, nan]), pa.array([1, None, 2], type=pa.float16())):
        values = Batch.from_pydict({"c": column}).to_pydict()["c"]
        assert values[0] == 1 and values[1] is None, column


def test_float16_converts_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Batch.from_pydict({"h": np.array([1, 2048], dtype=np.float16)}).to_pydict() == {
            "h": [1, 2048]}


def test_pandas_frames_render_column_by_column():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    fmt = fastctx.compile("$context.requestId $context.status $context.requestTime")
    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    frame = pd.DataFrame({
        "requestId": pd.Series([b"a", None], dtype=object),  # bytes: pyarrow made them binary
        "status": [200, None],
        "requestTime": pd.Series([when, None], dtype=object),
        "unused": [True, False],  # a type fastctx cannot hold, never converted
        7: ["x", "y"],  # a name that is not a str
    })
    assert fmt.render(frame) == b"a 200 01/Jan/2020:00:00:00 +0000\n- - -\n"
    frame["requestTime"] = pd.Series([when, 5], dtype=object)
    with pytest.raises(TypeError, match="'requestTime' row 1: expected datetime or None, got int"):
        fmt.render(frame)
    with pytest.raises(TypeError, match="'requestTime' row 1: expected datetime or None, got int"):
        fastctx.Batch.from_arrow(frame)  # the same reading, not a 5 as 5 microseconds
    assert fastctx.Batch.from_arrow(frame, names=["status"]).to_pydict() == {"status": [200, None]}
    from fastctx.api import as_batch

    assert as_batch(frame[["status", 7]]).to_pydict() == {"status": [200, None], "7": ["x", "y"]}
    # only missing values: strings, as from a list (pyarrow chose floats for NaN)
    missing = as_batch(pd.DataFrame({"m": pd.Series([np.nan, None, pd.NaT], dtype=object)}))
    assert missing.column("m").kind == "string" and missing.to_pydict() == {"m": [None] * 3}


def test_numpy_stringdtype_columns_with_their_missing_marker():
    string_dtype = pytest.importorskip("numpy.dtypes").StringDType
    fmt = fastctx.compile("$context.requestId $context.routeKey")
    for dtype in (string_dtype(), string_dtype(na_object=None), string_dtype(na_object=np.nan)):
        values = np.array(["a", "é x", "", "b"], dtype=dtype)
        if hasattr(dtype, "na_object"):
            values[3] = dtype.na_object
        last = "b" if not hasattr(dtype, "na_object") else None
        column = Column.from_values(values, "routeKey")
        assert Batch({"routeKey": column}).to_pydict() == {"routeKey": ["a", "é x", "", last]}
        assert fmt.render({"requestId": values, "routeKey": values}).splitlines()[1] == \
            "é\\x20x é\\x20x".encode()


def test_a_list_of_numpy_datetime64_scalars_is_a_timestamp_column():
    items = [np.datetime64("2024-07-10T18:15:21"), None, np.datetime64("NaT"),
             np.datetime64("2024-07-10T18:15:21.5", "ms")]
    column = Column.from_values(items, "requestTime")
    assert column.kind == "timestamp"
    assert column.valid_mask().tolist() == [True, False, False, True]
    assert column.values[0] == 1720635321000 and column.values[3] == 1720635321500
    # among datetimes too, and a list of NaT alone is all missing
    mixed = Column.from_values([dt.datetime(2024, 1, 1), np.datetime64("2024-01-01T00:00:01")])
    assert mixed.values.tolist() == [1704067200000, 1704067201000]
    assert Column.from_values([np.datetime64("NaT")]).valid_mask().tolist() == [False]


@pytest.mark.parametrize(
    ("offsets", "data", "message"),
    [
        ([0, 5], b"abc", "string offsets run from 0 to 5, outside the column's 3 data bytes"),
        ([-1, 2], b"abc", "string offsets run from -1 to 2"),
        ([0, 2, 1, 3], b"abc", "row 1 ends at 1, before its start 2"),
    ],
)
def test_string_offsets_outside_the_data_are_refused(offsets, data, message):
    # an Arrow consumer trusts the offsets and would read outside the data
    with pytest.raises(ValueError, match=re.escape(message)):
        Column("string", np.array(offsets, np.int64), np.frombuffer(data, np.uint8))


def test_valid_string_offsets_may_start_past_zero_and_leave_data_unused():
    column = Column("string", np.array([1, 1, 3], np.int64), np.frombuffer(b"abcd", np.uint8))
    assert column.to_pylist() == ["", "bc"]


def test_a_bool_validity_mask_is_packed():
    column = Column("int64", np.array([1, 2, 3], np.int64), validity=np.array([True, False, True]))
    assert column.to_pylist() == [1, None, 3]
    assert column.null_count == 1 and column.validity.dtype == np.uint8
    with pytest.raises(ValueError, match=re.escape("one entry per row (3), got shape (2,)")):
        Column("int64", np.array([1, 2, 3], np.int64), validity=np.array([True, False]))


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (7, TypeError, "a column name must be a str, got 7"),
        (b"status", TypeError, "a column name must be a str"),
        ("a\0b", ValueError, "holds a NUL character"),
        ("a\udc80", ValueError, "is not valid Unicode"),
    ],
)
def test_column_names_arrow_cannot_carry_are_refused(name, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Batch({name: Column("int64", np.array([1], np.int64))})
