"""Render kernel tests: every render runs the Cython kernel AND the reference interpreter and
requires byte equality; then the shape-level guarantees of SPEC section 2 on top."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
import tracemalloc
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastctx
from fastctx import _reference, generate
from fastctx.batch import Batch, Column
from fastctx.errors import BufferTooSmallError, RenderError, RenderWarning
from fastctx.presets import PRESETS

_render = pytest.importorskip("fastctx._render")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MIN_CLF_MS, MAX_CLF_MS = _reference.MIN_CLF_MS, _reference.MAX_CLF_MS
VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.-]*[A-Za-z0-9_])")


def both(fmt: fastctx.Format, batch: Batch, start: int = 0, stop: int | None = None) -> tuple[bytes, int]:
    """Render with the kernel and the reference; they must agree byte for byte."""
    stop = batch.num_rows if stop is None else stop
    columns = [batch.get(name) for name in fmt.program.columns]
    kernel = _render.Renderer(fmt.program).render(columns, start, stop)
    reference = _reference.render(fmt.program, batch, start, stop)
    assert kernel == reference
    return kernel


def both_raise(fmt: fastctx.Format, batch: Batch) -> RenderError:
    """Both interpreters refuse the batch with the same error (message, column, row)."""
    columns = [batch.get(name) for name in fmt.program.columns]
    with pytest.raises(RenderError) as kernel:
        _render.Renderer(fmt.program).render(columns, 0, batch.num_rows)
    with pytest.raises(RenderError) as reference:
        _reference.render(fmt.program, batch)
    assert str(kernel.value) == str(reference.value)
    assert (kernel.value.column, kernel.value.row) == (reference.value.column, reference.value.row)
    return kernel.value


def one(template: str, escape: str = "auto", **columns) -> bytes:
    fmt = fastctx.compile(template, escape=escape, strict=False)
    out, _ = both(fmt, Batch.from_pydict(columns))
    return out


# -- numbers and times -----------------------------------------------------------------------

INTS = [0, -1, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 12345678, -10, -100,
        10**15, 10**18 - 1, 10**18, INT64_MAX, INT64_MIN, INT64_MIN + 1]


@pytest.mark.parametrize("value", INTS)
def test_integers_render_in_decimal(value):
    out = one("$context.requestId $context.status", requestId=["r"], status=[value])
    assert out == b"r %d\n" % value


@pytest.mark.parametrize("value", [0, -1, 1700000000123, INT64_MAX, INT64_MIN])
def test_epoch_ms_renders_in_decimal(value):
    out = one("$context.requestId $context.requestTimeEpoch", requestId=["r"], requestTimeEpoch=[value])
    assert out == b"r %d\n" % value


CLF_CASES = [
    (0, "01/Jan/1970:00:00:00 +0000"),
    (-1, "31/Dec/1969:23:59:59 +0000"),
    (-1000, "31/Dec/1969:23:59:59 +0000"),
    (-1001, "31/Dec/1969:23:59:58 +0000"),
    (999, "01/Jan/1970:00:00:00 +0000"),
    (1700000000123, "14/Nov/2023:22:13:20 +0000"),
    (MIN_CLF_MS, "01/Jan/0000:00:00:00 +0000"),
    (MAX_CLF_MS, "31/Dec/9999:23:59:59 +0000"),
    (951782400000, "29/Feb/2000:00:00:00 +0000"),  # divisible by 400: leap
    (951868799999, "29/Feb/2000:23:59:59 +0000"),
    (-2203891200000, "01/Mar/1900:00:00:00 +0000"),  # 1900 is not a leap year
    (-2203891200001, "28/Feb/1900:23:59:59 +0000"),
    (1709164800000, "29/Feb/2024:00:00:00 +0000"),
    (-62162121600000, "29/Feb/0000:00:00:00 +0000"),  # year 0 is a leap year
    (253402214400000, "31/Dec/9999:00:00:00 +0000"),
    (946684799999, "31/Dec/1999:23:59:59 +0000"),
]


@pytest.mark.parametrize("ms, text", CLF_CASES)
def test_clf_time_boundaries(ms, text):
    out = one("$context.requestId [$context.requestTime]", requestId=["r"], requestTime=[ms])
    assert out == f"r [{text}]\n".encode()
    # and against the calendar of the standard library where it reaches
    if ms >= -62135596800000:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
        assert when.strftime("%d/%b/%Y:%H:%M:%S +0000") == text


@pytest.mark.parametrize("ms", [MIN_CLF_MS - 1, MAX_CLF_MS + 1, INT64_MIN, INT64_MAX])
def test_clf_time_outside_years_0000_9999_is_an_error(ms):
    fmt = fastctx.compile("$context.requestId [$context.requestTime]")
    err = both_raise(fmt, Batch.from_pydict({"requestId": ["a", "b"], "requestTime": [0, ms]}))
    assert err.column == "requestTime" and err.row == 1
    assert str(ms) in str(err)


def test_clf_time_of_many_days_matches_the_reference():
    rng = np.random.default_rng(7)
    ms = np.concatenate([rng.integers(MIN_CLF_MS, MAX_CLF_MS, 2000), np.sort(rng.integers(0, 2**41, 2000))])
    fmt = fastctx.compile("$context.requestId [$context.requestTime] $context.requestTimeEpoch")
    batch = Batch({"requestId": Column.from_strings(["r"] * len(ms)),
                   "requestTime": Column("timestamp", ms), "requestTimeEpoch": Column("timestamp", ms)})
    out, _ = both(fmt, batch)
    assert out.count(b"\n") == len(ms)


def test_numpy_datetime64_input():
    times = np.array(["2024-02-29T12:34:56.789", "NaT", "1970-01-01T00:00:00"], dtype="datetime64[ms]")
    fmt = fastctx.compile("$context.requestId [$context.requestTime] $context.requestTimeEpoch")
    out = fmt.render({"requestId": ["a", "b", "c"], "requestTime": times, "requestTimeEpoch": times.astype("datetime64[s]")})
    assert out == (b"a [29/Feb/2024:12:34:56 +0000] 1709210096000\n"
                   b"b [-] -\n"
                   b"c [01/Jan/1970:00:00:00 +0000] 0\n")
    both(fmt, Batch.from_pydict({"requestId": ["a", "b", "c"], "requestTime": times, "requestTimeEpoch": times}))


def test_strings_in_time_and_int_slots():
    # times given as strings are written as they are (escaped); ints given as strings are checked
    out = one('$context.requestId [$context.requestTime] $context.status "$context.requestTimeEpoch"',
              requestId=["a", "b"], requestTime=["10/Oct/2000:13:55:36 -0700", "x]y"],
              status=["200", "-12"], requestTimeEpoch=["1", 'q"'])
    assert out == b'a [10/Oct/2000:13:55:36 -0700] 200 "1"\nb [x\\x5dy] -12 "q\\""\n'


def test_a_token_holding_a_space_inside_clf_quotes_is_escaped_and_never_misread():
    # Inside the CLF preset's "$context.eventType $context.routeKey $context.connectionId" a
    # token's space written raw made another line (eventType `CON`, route `NECT $connect`):
    # auto writes it as \x20, as in a bare word, and the text between them keeps its spaces
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    events = {"requestId": ["r1", "r2"], "eventType": ["CON NECT", "MESSAGE"],
              "routeKey": ["$connect", "GET /x y"], "connectionId": ["cid", "c d\te"],
              "status": [200, 200]}
    out = fmt.render(events)
    assert out == (b'- - - [-] "CON\\x20NECT $connect cid" 200 r1\n'
                   b'- - - [-] "MESSAGE GET /x y c\\x20d\\x09e" 200 r2\n')
    assert _reference.render(fmt.program, fastctx.Batch.from_pydict(events))[0] == out
    # read back as a bare token's escape is: the escape kept as text, the record normalized
    parsed = fmt.parse(out)
    assert parsed.to_pydict()["eventType"] == ["CON\\x20NECT", "MESSAGE"]
    assert parsed.to_pydict()["routeKey"] == ["$connect", "GET /x y"]
    assert parsed.to_pydict()["connectionId"] == ["cid", "c\\x20d\\x09e"]
    assert parsed.stats.normalized == 2
    # none mode writes what API Gateway writes
    raw = fastctx.compile(fastctx.preset("websocket", "clf"), escape="none").render(events)
    assert raw.startswith(b'- - - [-] "CON NECT $connect cid" 200 r1\n')


@pytest.mark.parametrize("template", [
    "$context.requestId $context.requestTime $context.routeKey",  # a bare word in text
    "$context.requestTime $context.requestId",
    "$context.requestId $context.requestTime",
])
def test_a_clf_time_string_in_a_bare_position_keeps_its_space_and_parses_back(template):
    fmt = fastctx.compile(template)
    times = ["10/Oct/2000:13:55:36 +0000", "29/Feb/2024:00:00:00 +0000"]
    out = one(template, requestId=["a", "b"], requestTime=times, routeKey=["x y", "z"])
    assert out.count(b"\\x20") == ("routeKey" in template)  # the route's space only
    assert all(t.encode() in out for t in times)
    parsed = fmt.parse(out, on_error="raise")
    assert parsed.stats.accepted == 2 and parsed.stats.normalized == 0
    assert [t.strftime("%d/%b/%Y:%H:%M:%S +0000") for t in parsed.to_pydict()["requestTime"]] == times
    assert fmt.render(parsed) == out


# (`-` alone is a missing value: test_a_dash_as_integer_text_is_a_missing_value_as_a_parse_reads_it)
@pytest.mark.parametrize("bad", ["abc", "2OO", "01", "1.5", " 1", "1 ", "+1", "--1", "-0x", "é"])
def test_a_string_that_is_not_an_integer_in_an_int_slot_is_an_error(bad):
    fmt = fastctx.compile("$context.requestId $context.status")
    err = both_raise(fmt, Batch.from_pydict({"requestId": ["a", "b", "c"], "status": ["200", "", bad]}))
    assert err.column == "status" and err.row == 2
    assert "not an integer" in str(err)


def test_bad_string_offsets_are_an_error_not_a_crash():
    fmt = fastctx.compile("$context.requestId $context.routeKey")
    offsets, data = np.array([0, 1, 10**9]), np.frombuffer(b"ab", dtype=np.uint8)
    with pytest.raises(ValueError, match="outside the column's 2 data bytes"):
        Column("string", offsets, data)
    # the kernel checks too, for columns made without the check (as fastctx's own are)
    bad = Column._built("string", offsets, data)
    columns = [Column.from_strings(["a", "b"]), bad]
    with pytest.raises(RenderError) as err:
        _render.Renderer(fmt.program).render(columns, 0, 2)
    assert err.value.column == "routeKey" and err.value.row == 1


def test_columns_shorter_than_the_rows_are_refused():
    fmt = fastctx.compile("$context.requestId $context.status")
    renderer = _render.Renderer(fmt.program)
    with pytest.raises(ValueError):
        renderer.render([Column.from_strings(["a"]), Column.from_ints([1])], 0, 2)
    with pytest.raises(ValueError):
        renderer.render([Column.from_strings(["a"])], 0, 1)


# -- missing values, JSON bare values, quoted values, XML drops ------------------------------


def test_missing_columns_nulls_and_empty_strings_render_dash():
    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    out, _ = both(fmt, Batch.from_pydict({"requestId": ["a", None, ""], "status": [200, None, 500]}))
    assert out == (b'- - - [-] "- - -" 200 a\n'
                   b'- - - [-] "- - -" - -\n'
                   b'- - - [-] "- - -" 500 -\n')


def test_json_bare_positions():
    template = '{"s": $context.status, "k": $context.routeKey, "m": $context.error.messageString, "r": "$context.requestId"}'
    fmt = fastctx.compile(template)
    values = ["12", "-0", "1.5e+3", "0.5", "abc", "01", "1.", "-", "", None, 'say "hi"\n', "1e5", ".5", "1E-2"]
    batch = Batch.from_pydict({
        "status": [200, None] + [7] * (len(values) - 2),
        "routeKey": values,
        "error.messageString": values,
        "requestId": ["r"] * len(values),
    })
    out, _ = both(fmt, batch)
    for line, value in zip(out.splitlines(), values):
        doc = json.loads(line)
        if value in (None, ""):
            assert doc["k"] is None and doc["m"] is None
        elif re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", value):
            assert doc["k"] == json.loads(value)  # numbers stay numbers
            assert doc["m"] == value  # a quoted variable is always a string
        else:
            assert doc["k"] == value and doc["m"] == value
    assert json.loads(out.splitlines()[1])["s"] is None


def test_quoted_variable_in_every_position():
    values = ['Missing "token"', "a,b", "x\\y", "", None, "<&>"]
    for template in ['$context.requestId "$context.error.messageString"',
                     "$context.requestId $context.error.messageString",
                     "$context.requestId,$context.error.messageString",
                     '<r id="$context.requestId">$context.error.messageString</r>',
                     '{"r": "$context.requestId", "m": "$context.error.messageString"}']:
        for escape in ("none", "json", "auto"):
            fmt = fastctx.compile(template, escape=escape)
            both(fmt, Batch.from_pydict({"requestId": ["r"] * len(values), "error.messageString": values}))
    # a quoted variable fed integers goes through the string rules with its quotes
    assert one("$context.requestId,$context.error.messageString", requestId=["r"],
               **{"error.messageString": [42]}) == b'r,"""42"""\n'


def test_a_quoted_variable_keeps_its_own_quotes_raw_in_a_json_string_in_json_mode():
    # What a REST API was observed writing: the message's own quotes as they are, and the
    # other values (a User-Agent holding quotes) JSON-escaped. In auto mode the line stays
    # valid JSON: the quotes are escaped too.
    template = '{"r":"$context.requestId","ua":"$context.identity.userAgent","err":"$context.error.messageString"}'
    batch = Batch.from_pydict({"requestId": ["r", "s", "t"], "identity.userAgent": ['""ua""', None, "x"],
                               "error.messageString": ["Forbidden", 'say "hi" \\ x', None]})
    json_mode, _ = both(fastctx.compile(template, api="rest", escape="json"), batch)
    assert json_mode.decode().splitlines() == [
        '{"r":"r","ua":"\\"\\"ua\\"\\"","err":""Forbidden""}',
        '{"r":"s","ua":"-","err":""say \\"hi\\" \\\\ x""}',
        '{"r":"t","ua":"x","err":"-"}',
    ]
    auto, _ = both(fastctx.compile(template, api="rest"), batch)
    assert [json.loads(line)["err"] for line in auto.decode().splitlines()] == [
        '"Forbidden"', '"say "hi" \\ x"', "-"]
    # integers fed to it go through the same rules
    fmt = fastctx.compile('{"r":"$context.requestId","err":"$context.error.messageString"}', escape="json")
    assert both(fmt, Batch.from_pydict({"requestId": ["r"], "error.messageString": [42]}))[0] == (
        b'{"r":"r","err":""42""}\n')


def test_xml_drops_characters_it_cannot_hold_and_counts_them():
    fmt = fastctx.compile('<r id="$context.requestId">$context.routeKey</r>')
    values = ["a\x00b", "\x01\x02", "\ufffe", "x\uffffy\ufffd", "\x0b\x0c\t", "ok"]
    batch = Batch.from_pydict({"requestId": ["r"] * len(values), "routeKey": values})
    out, dropped = both(fmt, batch)
    assert dropped == 1 + 2 + 1 + 1 + 2
    assert out.splitlines() == [
        b'<r id="r">ab</r>', b'<r id="r">-</r>', b'<r id="r">-</r>',
        b'<r id="r">xy\xef\xbf\xbd</r>', b'<r id="r">&#9;</r>', b'<r id="r">ok</r>']
    with pytest.warns(RenderWarning, match="7 characters"):
        assert fmt.render(batch) == out


def test_a_quoted_value_xml_drops_whole_is_missing_not_a_pair_of_quotes():
    # error.messageString is written in quotes; emptied by the drops it rendered &quot;&quot;
    fmt = fastctx.compile('<r id="$context.requestId"><e>$context.error.messageString</e></r>')
    batch = Batch.from_pydict({"requestId": ["a", "b", "c"],
                               "error.messageString": ["\x01", "x\x01", "\x01\x02"]})
    out, dropped = both(fmt, batch)
    assert dropped == 4
    assert out.splitlines() == [b'<r id="a"><e>-</e></r>', b'<r id="b"><e>&quot;x&quot;</e></r>',
                                b'<r id="c"><e>-</e></r>']
    with pytest.warns(RenderWarning, match="4 characters"):
        assert fmt.render(batch) == out
    assert fmt.parse(out).to_pydict()["error.messageString"] == [None, "x", None]


def test_empty_template_literals_and_long_values():
    long = "x" * 100_000 + '"' + "y" * 50_000
    out = one('$context.requestId"$context.routeKey"', requestId=["r", "s"], routeKey=[long, "z"])
    assert out == b'r"' + long.replace('"', '\\"').encode() + b'"\ns"z"\n'


def test_render_start_stop_ranges_match_the_reference():
    fmt = fastctx.compile(PRESETS["websocket"]["csv"])
    batch = Batch.from_pydict(EVENTS_SMALL)
    for start, stop in [(0, 0), (0, 1), (1, 3), (2, len(EVENTS_SMALL["requestId"]))]:
        both(fmt, batch, start, stop)


def _quote_placements():
    """Values of 1 to 40 bytes with a quote at every position, and with two quotes at every
    pair of distances, each once in the middle of its column and once as its last value."""
    values = []
    for n in range(1, 41):
        for at in range(n):
            values.append("a" * at + '"' + "b" * (n - at - 1))
    for gap in range(0, 20):
        values.append('x,"' + "y" * gap + '"' + "z" * (19 - gap))
    return values


@pytest.mark.parametrize("quoted", [False, True])
def test_csv_quotes_double_at_every_position_and_at_the_column_end(quoted):
    # the quote doubling takes 16 bytes a step where the column's bytes allow and byte by
    # byte near their end; every placement reads back through the csv module. A `quoted`
    # variable's value is written with its own quotes, so it is always a quoted field.
    second = "error.messageString" if quoted else "routeKey"
    fmt = fastctx.compile(f"$context.requestId,$context.{second},$context.status")
    assert fmt.shape == "csv"
    values = _quote_placements()
    for order in (values, values[::-1]):
        batch = Batch.from_pydict({"requestId": order, second: order, "status": [1] * len(order)})
        out, _ = both(fmt, batch)
        rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
        assert [r[0] for r in rows] == order
        assert [r[1] for r in rows] == ['"' + v + '"' if quoted else v for v in order]


EVENTS_SMALL = {
    "requestId": ["a", "b,c", 'd"e', None, "f\ng"],
    "identity.sourceIp": ["1.2.3.4", "", None, "::1", "x y"],
    "requestTime": [0, 1, None, 1700000000000, -5],
    "routeKey": ["$default", "é", "<&>", "\t", "-"],
    "status": [200, None, -1, 0, 99],
}


# -- render_into and render_to ----------------------------------------------------------------


def _events(n=300):
    rng = np.random.default_rng(3)
    words = ["$connect", "a,b", 'say "hi"', "x\\y", "<&>", "tab\there", "line\nbreak", "é", "-", "", None]
    return Batch.from_pydict({
        "requestId": [f"req-{i}" for i in range(n)],
        "identity.sourceIp": [f"10.0.{i % 256}.{i % 7}" for i in range(n)],
        "routeKey": [words[i] for i in rng.integers(0, len(words), n)],
        "eventType": ["MESSAGE"] * n,
        "connectionId": [None if i % 13 == 0 else f"c{i}" for i in range(n)],
        "requestTime": [1700000000000 + 1000 * i for i in range(n)],
        "status": [int(s) for s in rng.choice([200, 404, 500], n)],
    })


@pytest.mark.parametrize("shape", ["clf", "json", "xml", "csv"])
def test_render_into_writes_whole_records_that_fit(shape):
    fmt = fastctx.compile(PRESETS["websocket"][shape])
    batch = _events(60)
    full, _ = both(fmt, batch)
    ends = [m.end() for m in re.finditer(rb"\n", full)] if shape != "csv" else None
    if ends is None:
        ends = [len(fmt.render(batch.slice(0, k))) for k in range(1, 61)]
    buf = bytearray(len(full))
    assert fmt.render_into(batch, buf) == len(full)
    assert bytes(buf) == full
    for size in [0, 1, ends[0] - 1, ends[0], ends[0] + 1, ends[10], len(full) - 1]:
        buf = bytearray(size)
        with pytest.raises(BufferTooSmallError) as err:
            fmt.render_into(batch, buf)
        rows = sum(1 for end in ends if end <= size)
        assert err.value.rows == rows
        assert err.value.nbytes == (ends[rows - 1] if rows else 0)
        assert bytes(buf[: err.value.nbytes]) == full[: err.value.nbytes]


def test_render_into_too_small_from_a_start_row_names_the_row_to_resume_at():
    fmt = fastctx.compile("$context.requestId $context.status")
    batch = Batch.from_pydict({"requestId": [f"r{i}" for i in range(10)], "status": [200] * 10})
    buf = bytearray(30)  # 'rK 200\n' is 7 bytes: rows 5-8 fit
    with pytest.raises(BufferTooSmallError) as err:
        fmt.render_into(batch, buf, start=5)
    assert (err.value.rows, err.value.nbytes, err.value.start) == (4, 28, 5)
    assert "render the rest from row 9" in str(err.value)
    rest = bytearray(100)
    written = fmt.render_into(batch, rest, start=err.value.start + err.value.rows)
    assert bytes(buf[:28]) + bytes(rest[:written]) == fmt.render(batch.slice(5, 10))


def test_render_into_from_a_start_row_and_other_buffers():
    fmt = fastctx.compile(PRESETS["websocket"]["json"])
    batch = _events(40)
    tail = fmt.render(batch.slice(10, 40))
    array = np.zeros(len(tail) + 100, dtype=np.uint8)
    assert fmt.render_into(batch, array, start=10) == len(tail)
    assert array[: len(tail)].tobytes() == tail
    words = np.zeros((len(tail) + 100) // 8 + 1, dtype=np.int64)  # any writable buffer works
    assert fmt.render_into(batch, words, start=10) == len(tail)
    assert words.tobytes()[: len(tail)] == tail
    with pytest.raises(TypeError):
        fmt.render_into(batch, bytes(len(tail)))


@pytest.mark.parametrize("threads", [1, 2])
def test_render_into_writes_nothing_outside_the_buffer_and_at_most_128_bytes_past_the_output(threads):
    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    batch = _events(60)
    expected = fmt.render(batch)
    whole = bytearray(b"\xaa" * (len(expected) + 1000))
    # exactly the output's size, as a slice of a larger buffer: the rest stays as it was
    assert fmt.render_into(batch, memoryview(whole)[: len(expected)], threads=threads) == len(expected)
    assert bytes(whole[: len(expected)]) == expected
    assert whole[len(expected):] == b"\xaa" * 1000
    # room to spare: scratch may land past the count, never more than 128 bytes
    whole[:] = b"\xaa" * len(whole)
    assert fmt.render_into(batch, whole, threads=threads) == len(expected)
    assert bytes(whole[: len(expected)]) == expected
    assert whole[len(expected) + 128:] == b"\xaa" * (1000 - 128)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 333, 1 << 16])
def test_render_to_in_small_chunks_equals_render(chunk_size):
    fmt = fastctx.compile(PRESETS["websocket"]["xml"])
    batch = _events(80)
    sink = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped in this batch
        total = fmt.render_to(batch, sink, chunk_size=chunk_size)
    assert sink.getvalue() == fmt.render(batch)
    assert total == len(sink.getvalue())


@pytest.mark.parametrize("chunk_size", [0, -1, 1.5, "4096", True])
def test_render_to_refuses_a_chunk_size_that_is_not_a_positive_integer(chunk_size):
    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    sink = io.BytesIO()
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        fmt.render_to(_events(3), sink, chunk_size=chunk_size)
    assert sink.getvalue() == b""


def test_render_to_writes_every_byte_through_a_write_that_takes_part():
    # a raw file or a pipe may take part of a write: the rest was dropped, and the count
    # returned claimed it all
    class Partial(io.RawIOBase):
        def __init__(self, step):
            self.step, self.data = step, bytearray()

        def writable(self):
            return True

        def write(self, b):
            taken = bytes(memoryview(b)[: self.step])
            self.data += taken
            return len(taken)

    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    batch = _events(300)
    expected = fmt.render(batch)
    for step in (1, 4096, 1 << 20):
        sink = Partial(step)
        assert fmt.render_to(batch, sink, chunk_size=1 << 12) == len(expected)
        assert bytes(sink.data) == expected

    class WouldBlock(Partial):
        def write(self, b):
            return None if self.data else super().write(b)

    with pytest.raises(BlockingIOError, match="would block"):
        fmt.render_to(batch, WouldBlock(100))

    class Quiet:  # a writer that returns nothing takes it all
        data = bytearray()

        def write(self, b):
            self.data += b

    sink = Quiet()
    assert fmt.render_to(batch, sink, chunk_size=1 << 12) == len(expected) and sink.data == expected


def test_render_allocates_little_more_than_its_output():
    """A render holds its output plus at most 10% (a memory bound, not a timing)."""
    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    n = 60_000
    rng = np.random.default_rng(11)
    ids = [f"{i:08x}-4f1e-9d2a-{i % 977:04d}" for i in range(n)]
    routes = ["$connect", '"quoted"', "back\\slash", "sendMessage"]
    batch = Batch.from_pydict({
        "requestId": ids,
        "identity.sourceIp": [f"10.1.{i % 200}.{i % 250}" for i in range(n)],
        "routeKey": [routes[i] for i in rng.integers(0, 4, n)],
        "connectionId": [None if i % 50 == 0 else f"L0SM9cOF{i:08d}" for i in range(n)],
        "requestTime": [1700000000000 + 37 * i for i in range(n)],
        "status": [int(s) for s in rng.choice([200, 403, 500], n)],
    })
    renderer = _render.Renderer(fmt.program)
    columns = [batch.get(name) for name in fmt.program.columns]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out, _ = renderer.render(columns, 0, batch.num_rows)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(out) > 4_000_000
    assert peak <= 1.10 * len(out) + 64 * 1024, (peak, len(out))


def test_renderer_runs_in_parallel_threads():
    fmt = fastctx.compile(PRESETS["websocket"]["json"])
    batch = _events(2000)
    expected = fmt.render(batch)
    renderer = _render.Renderer(fmt.program)
    columns = [batch.get(name) for name in fmt.program.columns]
    results = []

    def work():
        results.append(b"".join(renderer.render(columns, i, min(i + 250, 2000))[0] for i in range(0, 2000, 250)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


# -- properties over adversarial values --------------------------------------------------------

ADVERSARIAL = ['"', "\\", ",", "<", "&", ">", "'", "\t", "\r", "\n", "\r\n", "\x00", "\x01", "\x1f",
               "\x7f", " ", "]", "[", "é", "日本", "\U0001f600", "\ufffe", "\uffff", "-", "null", "0",
               "12", "-3", "1.5e3", "$context.x", "&amp;", "\\x41", "\\u0041"]
text_values = st.one_of(
    st.none(),
    st.just(""),
    st.lists(st.sampled_from(ADVERSARIAL) | st.text(max_size=6), max_size=6).map("".join),
    st.text(),
    st.builds(lambda c, k: c * k, st.sampled_from(ADVERSARIAL), st.integers(100, 1200)),
)
TEXT_NAMES = ["requestId", "extendedRequestId", "identity.sourceIp", "identity.caller", "identity.user",
              "eventType", "routeKey", "connectionId", "httpMethod", "resourcePath", "protocol"]
int_values = st.one_of(st.none(), st.integers(INT64_MIN, INT64_MAX), st.sampled_from([0, -1, 200, 404]))
time_values = st.one_of(st.none(), st.integers(MIN_CLF_MS, MAX_CLF_MS))


@st.composite
def event_batches(draw):
    n = draw(st.integers(1, 6))
    data = {name: draw(st.lists(text_values, min_size=n, max_size=n)) for name in TEXT_NAMES}
    data["status"] = draw(st.lists(int_values, min_size=n, max_size=n))
    data["responseLength"] = draw(st.lists(int_values, min_size=n, max_size=n))
    data["requestTime"] = draw(st.lists(time_values, min_size=n, max_size=n))
    columns = {
        name: (Column("timestamp", [v or 0 for v in values],
                      validity=np.packbits([v is not None for v in values], bitorder="little"))
               if name == "requestTime" else Column.from_values(values, name))
        for name, values in data.items()
    }
    return data, Batch(columns, n)


PRESET_IDS = [(api, name) for api, names in PRESETS.items() for name in names]


def _shown(value) -> str:
    return "-" if value is None or value == "" else value


def _xml_kept(value) -> str:
    kept = "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")
    return kept or "-"


def _clf_unescape(text: bytes) -> str:
    out = re.sub(rb"\\x([0-9a-f]{2})|\\(.)", lambda m: bytes([int(m[1], 16)]) if m[1] else m[2], text, flags=re.S)
    return out.decode("utf-8")


def _plain(template: str, data: dict, row: int) -> bytes:
    def value(match):
        values = data.get(match[1])
        if values is None or values[row] is None or values[row] == "":
            return "-"
        v = values[row]
        if match[1] == "requestTime":
            return _reference.clf_time(v).decode()
        return str(v)
    return VARIABLE.sub(value, template).encode("utf-8") + b"\n"


@pytest.mark.parametrize("escape", ["none", "json", "auto"])
@pytest.mark.parametrize("api, name", PRESET_IDS)
@given(events=event_batches())
def test_presets_kernel_equals_reference(api, name, escape, events):
    data, batch = events
    fmt = fastctx.compile(PRESETS[api][name], api=api, escape=escape)
    out, dropped = both(fmt, batch)
    lines = out.split(b"\n") if name != "csv" or escape != "auto" else None
    if escape == "none":
        expected = b"".join(_plain(PRESETS[api][name], data, row) for row in range(batch.num_rows))
        assert out == expected
    if escape != "auto":
        return
    if name == "json":
        for row, line in enumerate(lines[:-1]):
            doc = json.loads(line)
            assert doc["requestId"] == _shown(data["requestId"][row])
            assert doc["ip"] == _shown(data["identity.sourceIp"][row])
            status = data["status"][row]
            assert doc["status"] == ("-" if status is None else str(status))
    elif name == "xml":
        for row, line in enumerate(lines[:-1]):
            root = ET.fromstring(line)
            assert root.get("id") == _xml_kept(_shown(data["requestId"][row]))
            assert root.findtext("routeKey") == _xml_kept(_shown(data["routeKey"][row]))
            assert root.findtext("user") == _xml_kept(_shown(data["identity.user"][row]))
    elif name == "csv":
        rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
        assert len(rows) == batch.num_rows
        header = VARIABLE.findall(PRESETS[api][name])
        for row, fields in enumerate(rows):
            for column, field in zip(header, fields):
                if column not in ("requestTime", "status", "responseLength"):
                    assert field == _shown(data[column][row])
    else:  # clf: every whitespace-free bare value, the quoted request, the bracketed time
        for row, line in enumerate(lines[:-1]):
            match = re.fullmatch(rb'(\S+) (\S+) (\S+) \[([^\]]*)\] ?"((?:[^"\\]|\\.)*)" (\S+) .*', line)
            assert match, line
            assert _clf_unescape(match[1]) == _shown(data["identity.sourceIp"][row])
            if "identity.caller" in PRESETS[api][name]:
                assert _clf_unescape(match[2]) == _shown(data["identity.caller"][row])


SINGLE = {
    "quoted": '$context.requestId "$context.routeKey"',
    "bracket": "$context.requestId [$context.routeKey]",
    "bare": "$context.requestId $context.routeKey",
}


@pytest.mark.parametrize("simd", [True, False], ids=["simd", "table"])
@pytest.mark.parametrize("position", list(SINGLE))
@given(values=st.lists(text_values, min_size=1, max_size=8))
def test_clf_positions_unescape_back(position, simd, values):
    old = _render._use_simd(simd)
    try:
        _check_clf_position(position, values)
    finally:
        _render._use_simd(old)


def _check_clf_position(position, values):
    fmt = fastctx.compile(SINGLE[position])
    batch = Batch.from_pydict({"requestId": ["r"] * len(values), "routeKey": values})
    out, _ = both(fmt, batch)
    lines = out.split(b"\n")[:-1]
    assert len(lines) == len(values)
    for line, value in zip(lines, values):
        field = line[2:]
        if position == "quoted":
            assert field[:1] == b'"' and field[-1:] == b'"'
            field = field[1:-1]
            assert not re.search(rb'(?<!\\)(?:\\\\)*"', field)  # no unescaped quote inside
        elif position == "bracket":
            field = field[1:-1]
            assert b"]" not in field
        else:
            assert not re.search(rb"\s", field)
        assert _clf_unescape(field) == _shown(value)


@given(values=st.lists(text_values, min_size=1, max_size=8))
def test_json_auto_loads_back_including_bare_values(values):
    fmt = fastctx.compile('{"r": "$context.requestId", "k": $context.routeKey, "u": "$context.identity.userAgent"}')
    batch = Batch.from_pydict({"requestId": ["r"] * len(values), "routeKey": values, "identity.userAgent": values})
    out, _ = both(fmt, batch)
    for line, value in zip(out.split(b"\n"), values):
        doc = json.loads(line)
        assert doc["u"] == _shown(value)
        if value in (None, ""):
            assert doc["k"] is None
        elif isinstance(doc["k"], str):
            assert doc["k"] == value
        else:
            assert doc["k"] == json.loads(value)


@given(values=st.lists(text_values, min_size=1, max_size=8))
def test_xml_auto_parses_attribute_and_text(values):
    fmt = fastctx.compile('<r id="$context.requestId" k="$context.routeKey">$context.routeKey</r>')
    batch = Batch.from_pydict({"requestId": ["r"] * len(values), "routeKey": values})
    out, dropped = both(fmt, batch)
    for line, value in zip(out.split(b"\n"), values):
        root = ET.fromstring(line)
        assert root.get("k") == root.text == _xml_kept(_shown(value))


@given(events=event_batches(), size=st.integers(0, 400), chunk=st.integers(1, 300))
def test_render_into_and_render_to_agree_with_render(events, size, chunk):
    _, batch = events
    fmt = fastctx.compile(PRESETS["rest"]["json"], api="rest")
    full, _ = both(fmt, batch)
    ends = [len(_reference.render(fmt.program, batch, 0, k)[0]) for k in range(1, batch.num_rows + 1)]
    buf = bytearray(size)
    fits = sum(1 for end in ends if end <= size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RenderWarning)
        if fits == batch.num_rows:
            assert fmt.render_into(batch, buf) == len(full)
        else:
            with pytest.raises(BufferTooSmallError) as err:
                fmt.render_into(batch, buf)
            assert err.value.rows == fits
        written = ends[fits - 1] if fits else 0
        assert bytes(buf[:written]) == full[:written]
        sink = io.BytesIO()
        assert fmt.render_to(batch, sink, chunk_size=chunk) == len(full)
    assert sink.getvalue() == full


def test_estimate_is_close_to_the_rendered_size():
    fmt = fastctx.compile(PRESETS["websocket"]["json"])
    batch = _events(3000)
    renderer = _render.Renderer(fmt.program)
    columns = [batch.get(name) for name in fmt.program.columns]
    out, _ = renderer.render(columns, 0, 3000)
    estimate = renderer.estimate(columns, 0, 3000)
    assert len(out) <= estimate <= 1.02 * len(out) + 4096
    assert renderer.estimate(columns, 5, 5) == 0


def test_page_preparation_keeps_memory_as_it_was():
    """Both ways of preparing fresh output pages (huge pages right after another large output,
    pre-faulted pages otherwise) are hints: the bytes already written stay as they were."""
    import time

    size = 24 << 20  # large enough to be prepared (at least four 2 MiB pages)
    region = np.frombuffer(bytearray(size), dtype=np.uint8)
    region[:] = np.arange(size, dtype=np.uint64).astype(np.uint8)
    expected = region.copy()
    _render.output_done()  # huge pages
    _render.prepare_output(region.ctypes.data + 12345, size - 12345)
    assert np.array_equal(region, expected)
    time.sleep(0.35)  # past the window: pre-faulted small pages
    _render.prepare_output(region.ctypes.data, size)
    _render.prepare_output(region.ctypes.data, size, populate=False)
    assert np.array_equal(region, expected)


@pytest.mark.parametrize("recent", [True, False], ids=["after-output", "idle"])
def test_large_render_is_the_same_however_its_pages_were_prepared(recent):
    import time

    fmt = fastctx.compile(PRESETS["websocket"]["clf"])
    batch = generate.events(fmt, 60_000, seed=11, escaped=0.2)
    expected = b"".join(_render.Renderer(fmt.program).render(
        [batch.get(name) for name in fmt.program.columns], lo, min(lo + 7_000, 60_000))[0]
        for lo in range(0, 60_000, 7_000))
    assert len(expected) > 8 << 20  # big enough for its pages to be prepared
    if recent:
        _render.output_done()
    else:
        time.sleep(0.35)
    assert fmt.render(batch, threads=1) == expected
    assert fmt.render(batch, threads=2) == expected


@pytest.mark.parametrize("recent, slow_ns", [(True, 0), (True, 1 << 62), (False, 1 << 62)],
                         ids=["small-after-two-stages", "huge-pages", "small-from-the-start"])
def test_a_render_in_timed_stages_is_the_same_whichever_pages_it_turns_to(recent, slow_ns):
    # An output of 32 MiB or more, soon after another, is written 8 MiB at a time with huge
    # pages; two slow stages turn the rest into pre-faulted small pages, and without a recent
    # output it takes those from the start. Either way, and with a record larger than a
    # stage, the bytes are those rendered piece by piece.
    fmt = fastctx.compile("$context.requestId $context.routeKey $context.status")
    n = 420_000
    ids = [f"r{i}" for i in range(n)]
    keys = ["k" * (150 + i % 23) for i in range(n)]
    keys[1_000] = "x" * (20 << 20)  # a record larger than a stage
    batch = Batch.from_pydict({"requestId": ids, "routeKey": keys, "status": list(range(n))})
    columns = [batch.get(name) for name in fmt.program.columns]
    renderer = _render.Renderer(fmt.program)
    old = _render._fresh_slow_ns(slow_ns)
    try:
        if recent:
            _render.output_done()
        else:
            _render._forget_output()
        out, _ = renderer.render(columns, 0, n)
    finally:
        assert _render._fresh_slow_ns(old) == slow_ns
    assert len(out) > 64 << 20
    expected = b"".join(renderer.render(columns, lo, min(lo + 50_000, n))[0] for lo in range(0, n, 50_000))
    assert out == expected


@pytest.mark.parametrize("variable, takes", [("routeKey", "text"), ("status", "integers"),
                                             ("identity.sourceIp", "text"), ("error.message", "text")])
def test_a_timestamp_column_for_a_variable_that_takes_no_timestamps_is_an_error(variable, takes):
    # rendered as its epoch milliseconds it would be a silently wrong value
    fmt = fastctx.compile(f"$context.requestId $context.{variable} $context.requestTimeEpoch")
    when = dt.datetime(2024, 7, 10, 18, 15, 21, tzinfo=dt.timezone.utc)
    for data in ({"requestId": ["r1"], variable: [when]},
                 {"requestId": ["r1"], variable: np.array(["2024-07-10"], dtype="datetime64[ms]")}):
        err = both_raise(fmt, Batch.from_pydict(data))
        assert err.column == variable and f"$context.{variable}, which takes {takes}" in str(err)
        with pytest.raises(RenderError, match=f"takes {takes}"):
            fmt.render(data)
    # the variables that take timestamps take them, and a timestamp column in no slot is ignored
    ok = fastctx.compile("$context.requestId [$context.requestTime] $context.requestTimeEpoch")
    data = Batch.from_pydict({"requestId": ["r1"], "requestTime": [when], "requestTimeEpoch": [when],
                              "routeKey": [when]})
    assert both(ok, data)[0] == b"r1 [10/Jul/2024:18:15:21 +0000] 1720635321000\n"


@pytest.mark.parametrize("template", ["$context.requestId $context.status",
                                      '{"id":"$context.requestId","s":$context.status}'])
def test_a_dash_as_integer_text_is_a_missing_value_as_a_parse_reads_it(template):
    # a log table read back as text holds `-` where a value was missing
    fmt = fastctx.compile(template)
    texts = ["-", "200", "", "-", "404"] * 60  # past one block of 128 rows: both loops
    as_text = Batch.from_pydict({"requestId": ["r"] * len(texts), "status": texts})
    missing = Batch.from_pydict({"requestId": ["r"] * len(texts),
                                 "status": [int(t) if t not in ("-", "") else None for t in texts]})
    lines = both(fmt, as_text)[0]
    assert lines == both(fmt, missing)[0]
    assert fmt.render(as_text, threads=2) == lines
    assert fmt.parse(lines).to_pydict()["status"] == missing.to_pydict()["status"]
    for other in ("--", "-1-", " -"):  # only the dash alone
        bad = Batch.from_pydict({"requestId": ["r"], "status": [other]})
        assert "is not an integer" in str(both_raise(fmt, bad))


@pytest.mark.parametrize("text, fits", [
    ("9223372036854775807", True), ("-9223372036854775808", True), ("9223372036854775806", True),
    ("1000000000000000000", True), ("9223372036854775808", False), ("-9223372036854775809", False),
    ("10000000000000000000", False), ("99999999999999999999999", False), ("9" * 5000, False),
])
def test_integer_text_in_an_int_slot_must_fit_int64(text, fits):
    # a parse reads an int into int64: a longer one would give a line that does not parse back
    fmt = fastctx.compile("$context.requestId $context.status")
    batch = Batch.from_pydict({"requestId": ["r"], "status": [text]})
    if fits:
        line = both(fmt, batch)[0]
        assert line == f"r {text}\n".encode()
        assert fmt.parse(line).to_pydict()["status"] == [int(text)]
    else:
        assert "is not an integer in the int64 range" in str(both_raise(fmt, batch))
