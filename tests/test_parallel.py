"""Threaded parse and render give exactly the one-thread result, and Batch.concat joins batches."""

import threading
import time

import numpy as np
import pytest

import fastctx
from fastctx import Batch, generate, parallel
from fastctx.batch import Column, Reject, Stats

PRESETS = [(api, name) for api, names in fastctx.presets.PRESETS.items() for name in names]


@pytest.fixture
def small_chunks(monkeypatch):
    """Make tiny inputs split into many chunks, so every code path runs on test-sized data."""
    monkeypatch.setattr(parallel, "MIN_PARSE_CHUNK", 64)
    monkeypatch.setattr(parallel, "PARSE_PIECE", 97)
    monkeypatch.setattr(parallel, "MIN_RENDER_ROWS", 7)
    monkeypatch.setattr(parallel, "RENDER_RANGE_ROWS", 13)


def same_batch(a: Batch, b: Batch):
    assert a.column_names == b.column_names
    assert a.to_pydict() == b.to_pydict()
    assert a.stats == b.stats
    assert a.rejects == b.rejects


def corrupt(data: bytes, every: int) -> bytes:
    """Break every ``every``-th line (a stray byte that no template accepts at its end)."""
    out = data.split(b"\n")
    for index in range(3, len(out) - 1, every):
        out[index] = out[index][: len(out[index]) // 2] + b"\xff"
    return b"\n".join(out)


# -- parse --------------------------------------------------------------------------------


@pytest.mark.parametrize("api,name", PRESETS)
@pytest.mark.parametrize("threads", [2, 3, 8])
def test_parse_threads_equal_one_thread(small_chunks, api, name, threads):
    fmt = fastctx.compile(fastctx.preset(api, name), api=api)
    data = generate.lines(fmt, 300, seed=threads)
    data = corrupt(data, 37) + b"\n\r\n"
    one = fmt.parse(data, "collect", threads=1)
    assert one.stats.rejected > 0
    same_batch(fmt.parse(data, "collect", threads=threads), one)
    skip_one = fmt.parse(data, "skip", threads=1)
    same_batch(fmt.parse(data, "skip", threads=threads), skip_one)


@pytest.mark.parametrize("threads", [2, 5])
def test_parse_raise_names_first_bad_record_globally(small_chunks, threads):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    good = generate.lines(fmt, 400, seed=1).split(b"\n")
    good[300] = b"broken record"  # late in the input: parsed by a later chunk
    good[350] = b"also broken"
    data = b"\n".join(good)
    with pytest.raises(fastctx.ParseError) as one:
        fmt.parse(data, threads=1)
    with pytest.raises(fastctx.ParseError) as many:
        fmt.parse(data, threads=threads)
    assert (many.value.line, many.value.offset) == (one.value.line, one.value.offset) == (301, one.value.offset)
    assert str(many.value) == str(one.value)


def test_parse_reject_lines_and_offsets_are_global(small_chunks):
    fmt = fastctx.compile("$context.requestId $context.status")
    data = b"".join(b"r%d %d\n" % (i, i) for i in range(500)) + b"bad x\n" + b"r 1\n" * 20 + b"zz q"
    batch = fmt.parse(data, "collect", threads=4)
    assert [(r.line, r.offset, r.raw) for r in batch.rejects] == [
        (501, data.index(b"bad x"), b"bad x"),
        (522, data.index(b"zz q"), b"zz q"),
    ]
    assert batch.stats == Stats(records=522, accepted=520, rejected=2, empty=0, normalized=0)


def quoted_newline_events(n):
    values = [f"line one\nline two {i}" if i % 3 == 0 else f'say "hi", {i}' for i in range(n)]
    return {"requestId": [f"r{i}" for i in range(n)], "routeKey": values, "status": list(range(n))}


@pytest.fixture
def fallbacks(monkeypatch):
    """Counts the one-thread parses a threaded CSV parse falls back to."""
    calls = []
    original = parallel._parse_one

    def spy(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(parallel, "_parse_one", spy)
    return calls


CSV = "$context.requestId,$context.routeKey,$context.status"


def test_csv_cut_inside_a_quoted_field_falls_back_to_one_thread(small_chunks, fallbacks):
    fmt = fastctx.compile(CSV)
    assert parallel.needs_quote_tracking(fmt.program)
    events = quoted_newline_events(200)
    events["routeKey"] = [f"line one\nline two {i}" for i in range(200)]  # every record
    data = fmt.render(events, threads=1)
    # newline cuts fall inside quoted fields here
    cuts = parallel.split_lines(data, 4)
    assert any(data[:cut].count(b'"') % 2 for cut in cuts[1:-1])
    one = fmt.parse(data, "collect", threads=1)
    assert one.to_pydict()["routeKey"] == events["routeKey"]
    for threads in (2, 4, 7):
        same_batch(fmt.parse(data, "collect", threads=threads), one)
    assert fallbacks
    # with on_error="raise" too: the chunk that ends inside a quote must not raise its own error
    assert fmt.parse(data, threads=4).to_pydict() == one.to_pydict()


def test_csv_with_quotes_but_cuts_at_record_ends_stays_threaded(small_chunks, fallbacks):
    fmt = fastctx.compile(CSV)
    n = 300
    events = {"requestId": [f"r{i}" for i in range(n)],
              "routeKey": [f'say "hi", {i}' if i % 2 else f"plain {i}" for i in range(n)],
              "status": list(range(n))}
    data = fmt.render(events, threads=1)
    assert data.count(b'"') > n
    for threads in (2, 5):
        same_batch(fmt.parse(data, "collect", threads=threads), fmt.parse(data, "collect", threads=1))
    assert not fallbacks


def test_a_lane_goes_on_past_a_piece_end_inside_a_quoted_field():
    # A record that runs past the lane's current end (a quoted CSV field holds the newline
    # there) is parsed again with the next end, not cut; with no next end it is the last.
    from fastctx._parse import Parser

    fmt = fastctx.compile(CSV)
    data = fmt.render(quoted_newline_events(60), threads=1)
    parser = Parser(fmt.program)
    whole = parser.parse(data, "collect")
    inside = [k + 1 for k in range(len(data)) if data[k] == 10 and data[:k].count(b'"') % 2]
    at_ends = [k + 1 for k in range(len(data)) if data[k] == 10 and not data[:k].count(b'"') % 2]
    assert len(inside) >= 10
    ends = sorted(inside[::3] + at_ends[5::7]) + [len(data)]
    asked = []

    def more(parsed):
        asked.append(parsed)
        return ends[len(asked)] if len(asked) < len(ends) else None

    chunk = parser.parse_chunk(data, "collect", end=ends[0], more=more)
    assert asked == ends  # asked at every end, inside a quote or not, and once more at the last
    same_batch(parser.join([chunk]), whole)
    assert not chunk.tail_open and chunk.size == len(data)
    # no further end while the input goes on: the record that runs past the last end is cut
    # there, rejected whole and left open (not read as its first line, as a record the
    # input ends inside is), for the caller to parse the input again
    cut = inside[4]
    chunk = parser.parse_chunk(data, "collect", end=inside[1], more=lambda parsed: cut if parsed < cut else None)
    assert chunk.tail_open and chunk.size == cut
    batch = parser.join([chunk])
    start = data.rindex(b"\n", 0, data.rindex(b'"', 0, cut)) + 1
    assert batch.rejects[-1].raw == data[start:cut] and batch.rejects[-1].offset == start
    # the same when the lane is not the last one, though its data ends there
    chunk = parser.parse_chunk(data[:cut], "collect", end=inside[1], last=False,
                               more=lambda parsed: cut if parsed < cut else None)
    assert chunk.tail_open and parser.join([chunk]).rejects[-1].raw == data[start:cut]
    # where the input ends, the record is read as one thread reads a record left open there
    chunk = parser.parse_chunk(data[:cut], "collect", end=inside[1],
                               more=lambda parsed: cut if parsed < cut else None)
    same_batch(parser.join([chunk]), parser.parse(data[:cut], "collect"))


def test_csv_stray_quote_gives_the_one_thread_result(small_chunks):
    fmt = fastctx.compile(CSV)
    data = fmt.render(quoted_newline_events(100), threads=1)
    data = data.replace(b"r50,", b'r5"0,')  # a quote inside an unquoted field
    for threads in (2, 4):
        same_batch(fmt.parse(data, "collect", threads=threads), fmt.parse(data, "collect", threads=1))


def test_csv_bad_record_raises_as_one_thread_does(small_chunks):
    fmt = fastctx.compile(CSV)
    lines = fmt.render(quoted_newline_events(150), threads=1).split(b"\n")
    lines[170] = b"r,x,not-a-number"
    data = b"\n".join(lines)
    with pytest.raises(fastctx.ParseError) as one:
        fmt.parse(data, threads=1)
    with pytest.raises(fastctx.ParseError) as many:
        fmt.parse(data, threads=4)
    assert str(many.value) == str(one.value)
    assert (many.value.line, many.value.offset) == (one.value.line, one.value.offset)


class LaneSpy:
    """A parser whose lanes report their pieces; ``delay(lane_start, end)`` may sleep before a
    lane takes its next piece (a slow core)."""

    def __init__(self, parser, delay=None):
        import threading

        self.parser, self.delay = parser, delay
        self.lanes, self.lock = [], threading.Lock()

    def parse_chunk(self, data, on_error, line_base, offset_base, reserve=0, end=None, more=None,
                    last=True):
        ends = [end]
        with self.lock:
            self.lanes.append((offset_base, ends))

        def next_end(parsed):
            if self.delay is not None:
                self.delay(offset_base, parsed)
            got = more(parsed)
            ends.append(got)
            return got

        return self.parser.parse_chunk(data, on_error, line_base, offset_base, reserve, end,
                                       next_end, last)

    def __getattr__(self, name):
        return getattr(self.parser, name)


def test_parse_lanes_take_pieces_in_order_and_tile_the_input(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = corrupt(generate.lines(fmt, 400, seed=5), 29)
    spy = LaneSpy(fmt._get_parser())
    same_batch(parallel.parse(spy, fmt.program, data, "collect", threads=3),
               fmt.parse(data, "collect", threads=1))
    cuts = parallel.split_lines(data, len(data) // parallel.PARSE_PIECE)
    covered = []
    for offset, ends in sorted(spy.lanes):
        assert ends[-1] is None and ends[:-1] == sorted(ends[:-1])  # asked until none was left
        assert all(offset + end in cuts for end in ends[:-1])  # every end is a piece's
        covered.append((offset, offset + ends[-2]))
    assert [lo for lo, _ in covered] == [0] + [hi for _, hi in covered[:-1]]
    assert covered[-1][1] == len(data)
    assert len(covered) >= 3 and max(len(ends) for _, ends in spy.lanes) > 2


@pytest.mark.parametrize("threads", [2, 3])
def test_parse_a_fast_thread_takes_on_the_pieces_of_a_slow_one(small_chunks, threads):
    import threading
    import time

    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    data = corrupt(generate.lines(fmt, 500, seed=6), 41)
    one = fmt.parse(data, "collect", threads=1)

    def slow_caller(lane_start, end):  # the calling thread parses the first lane, slowly
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.002)

    spy = LaneSpy(fmt._get_parser(), slow_caller)
    same_batch(parallel.parse(spy, fmt.program, data, "collect", threads=threads), one)
    # the first lane gave up its back half: more lanes than threads, the first one shorter
    assert len(spy.lanes) > threads
    first = dict(spy.lanes)[0]
    assert first[-2] < len(data) // threads
    # an error in a lane taken on from a slow one is raised with its global line
    lines = data.split(b"\n")
    lines[200] = b"broken"
    bad = b"\n".join(lines)
    with pytest.raises(fastctx.ParseError) as expected:
        fmt.parse(bad, threads=1)
    with pytest.raises(fastctx.ParseError) as got:
        parallel.parse(LaneSpy(fmt._get_parser(), slow_caller), fmt.program, bad, "raise", threads)
    assert (got.value.line, got.value.offset) == (expected.value.line, expected.value.offset)
    assert str(got.value) == str(expected.value)


def test_parse_under_random_timing_equals_one_thread(small_chunks):
    import random
    import time

    rng = random.Random(12)
    clf = fastctx.compile(fastctx.preset("websocket", "clf"))
    csv = fastctx.compile(CSV)
    inputs = [(clf, corrupt(generate.lines(clf, 300, seed=2), 23)),
              (csv, csv.render(quoted_newline_events(200), threads=1))]
    for _ in range(40):
        fmt, data = rng.choice(inputs)
        on_error = rng.choice(["collect", "skip", "raise"])
        threads = rng.randint(2, 8)

        def delay(lane_start, end):
            if rng.random() < 0.3:
                time.sleep(rng.random() * 0.002)

        try:
            expected = fmt.parse(data, on_error, threads=1)
        except fastctx.ParseError as exc:
            with pytest.raises(fastctx.ParseError) as got:
                parallel.parse(LaneSpy(fmt._get_parser(), delay), fmt.program, data, on_error, threads)
            assert str(got.value) == str(exc)
            assert (got.value.line, got.value.offset) == (exc.line, exc.offset)
            continue
        same_batch(parallel.parse(LaneSpy(fmt._get_parser(), delay), fmt.program, data, on_error,
                                  threads), expected)


def test_parse_interrupt_on_the_calling_thread_stops_every_lane(small_chunks):
    import threading
    import time

    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 400, seed=3)

    def delay(lane_start, end):
        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt

    for _ in range(5):
        spy = LaneSpy(fmt._get_parser(), delay)
        with pytest.raises(KeyboardInterrupt):
            parallel.parse(spy, fmt.program, data, "raise", threads=3)
        # the call returned once every lane had stopped: no thread parses on
        seen = [list(ends) for _, ends in spy.lanes]
        time.sleep(0.05)
        assert [list(ends) for _, ends in spy.lanes] == seen
        assert all(ends[-1] is None for offset, ends in spy.lanes if offset and len(ends) > 1)
    same_batch(fmt.parse(data, threads=3), fmt.parse(data, threads=1))


def test_parse_accepts_every_input_type(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    data = generate.lines(fmt, 200, seed=4)
    one = fmt.parse(data, threads=1)
    for form in (bytearray(data), memoryview(data), data.decode("utf-8")):
        same_batch(fmt.parse(form, threads=3), one)


def test_threads_validation():
    assert parallel.resolve_threads(None) == (__import__("os").cpu_count() or 1)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            parallel.resolve_threads(bad)


# -- render -------------------------------------------------------------------------------


@pytest.mark.parametrize("api,name", PRESETS)
@pytest.mark.parametrize("escape", ["auto", "none", "json"])
def test_render_threads_equal_one_thread(small_chunks, api, name, escape):
    fmt = fastctx.compile(fastctx.preset(api, name), api=api, escape=escape)
    batch = generate.events(fmt, 500, seed=2, escaped=0.3)
    one = fmt.render(batch, threads=1)
    for threads in (2, 3, 8):
        assert fmt.render(batch, threads=threads) == one


@pytest.mark.parametrize("name", ["clf", "json", "xml", "csv"])
def test_render_into_threads_equal_one_thread(small_chunks, name):
    fmt = fastctx.compile(fastctx.preset("websocket", name))
    batch = generate.events(fmt, 500, seed=3, escaped=0.3)
    one = fmt.render(batch, threads=1)
    for threads in (2, 3, 8):
        for start in (0, 37):
            expected = fmt._renderer.render_into(fmt._bind(batch)[1], start, 500, bytearray(len(one)))
            buffer = bytearray(len(one) + 5)
            assert fmt.render_into(batch, buffer, start=start, threads=threads) == expected[0]
            assert bytes(buffer[: expected[0]]) == one[len(one) - expected[0]:]


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.5, 0.99])
def test_render_into_a_short_buffer_stops_where_one_thread_does(small_chunks, fraction):
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch = generate.events(fmt, 400, seed=4)
    size = int(len(fmt.render(batch, threads=1)) * fraction)
    errors = []
    for threads in (1, 2, 5):
        buffer = bytearray(size)
        with pytest.raises(fastctx.BufferTooSmallError) as caught:
            fmt.render_into(batch, buffer, threads=threads)
        errors.append((caught.value.rows, caught.value.nbytes, bytes(buffer[: caught.value.nbytes])))
    assert errors[1] == errors[0] and errors[2] == errors[0]
    assert errors[0][0] < 400


def test_render_into_error_names_first_bad_row(small_chunks):
    fmt = fastctx.compile("$context.requestId $context.status")
    status = [str(i) for i in range(300)]
    status[250] = "abc"
    data = {"requestId": ["r"] * 300, "status": status}
    with pytest.raises(fastctx.RenderError) as one:
        fmt.render_into(data, bytearray(1 << 16), threads=1)
    with pytest.raises(fastctx.RenderError) as many:
        fmt.render_into(data, bytearray(1 << 16), threads=4)
    assert many.value.row == one.value.row == 250
    # a buffer full before the bad row: the rows that fit, as with one thread, no error
    for threads in (1, 4):
        with pytest.raises(fastctx.BufferTooSmallError) as caught:
            fmt.render_into(data, bytearray(600), threads=threads)
        assert caught.value.rows < 250


@pytest.mark.parametrize("past", [2, 5, 30])
def test_render_into_a_bad_row_past_the_full_buffer_is_no_error(small_chunks, past):
    # One thread stops at the first record that does not fit and never reaches the bad row;
    # a thread that rendered the bad row's range ahead must not raise its error.
    fmt = fastctx.compile("$context.requestId $context.status")
    rows = 400
    cuts = parallel.render_cuts(rows, 2)
    status = ["200"] * rows
    status[cuts[1] + past] = "oops"
    data = {"requestId": [f"r{i:05d}" for i in range(rows)], "status": status}
    size = 11 * (cuts[1] + 1)  # room for the first range and one row of the next
    for _ in range(20):  # the race the threads run differs from call to call
        for threads in (1, 2, 4):
            with pytest.raises(fastctx.BufferTooSmallError) as caught:
                fmt.render_into(data, bytearray(size), threads=threads)
            assert caught.value.rows == cuts[1] + 1


def test_render_into_needs_a_writable_buffer(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch = generate.events(fmt, 300, seed=5)
    with pytest.raises(TypeError, match="writable"):
        fmt.render_into(batch, bytes(1 << 20), threads=2)


def test_render_bound_holds_for_worst_case_values(small_chunks):
    # every byte of these values takes its longest escape in some shape
    nasty = ["\x01\"<&'\\\n" * 5, "\u00e9\ufffe\x7f]", "", None, "-"]
    for name in ("clf", "json", "xml", "csv"):
        fmt = fastctx.compile(fastctx.preset("websocket", name))
        rows = 100
        data = {col: [nasty[i % len(nasty)] for i in range(rows)] for col in fmt.variables}
        data["status"] = list(range(rows))
        data["requestTime"] = ["10/Jul/2024:18:15:21 +0000"] * rows
        batch, columns = fmt._bind(data)
        with pytest.warns(fastctx.RenderWarning) if name == "xml" else _nothing():
            one = fmt.render(batch, threads=1)
        assert len(one) <= parallel.render_bound(fmt.program, columns, 0, rows)
        with pytest.warns(fastctx.RenderWarning) if name == "xml" else _nothing():
            assert fmt.render(batch, threads=4) == one


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_render_error_names_first_bad_row(small_chunks):
    fmt = fastctx.compile("$context.requestId $context.status")
    status = [str(i) for i in range(300)]
    status[250] = "abc"
    status[290] = "def"
    with pytest.raises(fastctx.RenderError) as one:
        fmt.render({"requestId": ["r"] * 300, "status": status}, threads=1)
    with pytest.raises(fastctx.RenderError) as many:
        fmt.render({"requestId": ["r"] * 300, "status": status}, threads=4)
    assert many.value.row == one.value.row == 250
    assert str(many.value) == str(one.value)


def test_render_output_is_plain_bytes(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch = generate.events(fmt, 1000, seed=5)
    out = fmt.render(batch, threads=2)
    assert type(out) is bytes
    assert out.count(b"\n") == 1000
    assert hash(out) == hash(bytes(bytearray(out)))
    assert __import__("sys").getrefcount(out) == 2  # no reference leaked by the in-place build


class ShortEstimate:
    """A renderer whose output estimate is ``size`` bytes, to force the threaded render's
    overflow path; counts the estimates asked for (one per output growth after the first)
    and the ranges cut short by a full output."""

    def __init__(self, renderer, size, slow_range_start=None):
        self.renderer, self.size, self.slow = renderer, size, slow_range_start
        self.estimates = self.short = self.taken_on = 0

    def estimate(self, columns, start, stop):
        self.estimates += 1
        return self.size

    def render(self, columns, start, stop):
        return self.renderer.render(columns, start, stop)

    def render_into(self, columns, start, stop, out):
        result = self.renderer.render_into(columns, start, stop, out)
        if result[1] < stop - start:
            self.short += 1
        return result

    def bind(self, columns, stop):
        return _Bound(self, self.renderer.bind(columns, stop))

    def render_placed(self, bound, start, stop, scratch, out, offsets, index, used=0):
        if start == self.slow:
            __import__("time").sleep(0.3)  # let the next range be rendered into scratch first
        if used:
            self.taken_on += 1
        result = bound.render_placed(start, stop, scratch, out, offsets, index, used)
        if result[3] >= 0 and result[1] < stop - start:
            self.short += 1
        return result


class _Bound:
    """The bound columns of a test renderer: its ``render_placed`` decides."""

    def __init__(self, wrapper, bound):
        self.wrapper, self.bound = wrapper, bound

    def render_placed(self, *args):
        return self.wrapper.render_placed(self.bound, *args)


def xml_drop_batch(fmt, rows):
    """Generated events with characters XML 1.0 cannot hold in some values (dropped, counted)."""
    data = generate.events(fmt, rows, seed=7, escaped=0.3).to_pydict()
    column = next(name for name in fmt.variables if name not in ("status", "requestTime"))
    data[column] = [f"a\x01b\ufffe{i}" if i % 11 == 0 else value
                    for i, value in enumerate(data[column])]
    return data


@pytest.mark.parametrize("name", ["clf", "json", "xml", "csv"])
@pytest.mark.parametrize("size", [1, 500, 0.5])
def test_render_overflow_grows_output_and_equals_one_thread(small_chunks, name, size):
    fmt = fastctx.compile(fastctx.preset("websocket", name))
    data = xml_drop_batch(fmt, 600)
    batch, columns = fmt._bind(data)
    expected = fmt._renderer.render(columns, 0, batch.num_rows)
    if name == "xml":
        assert expected[1] > 0  # dropped characters are counted
    for threads in (2, 3, 8):
        wrapper = ShortEstimate(fmt._renderer, int(size * len(expected[0])) if size < 1 else size)
        assert parallel.render(wrapper, fmt.program, columns, batch.num_rows, threads) == expected
        assert wrapper.estimates >= 2  # the output grew at least once
        if size == 1:
            assert wrapper.short >= 1  # range 0 was cut short in the output, then resumed


def test_render_overflow_of_a_range_rendered_into_scratch(small_chunks):
    # Range 0 is slow, so range 1 is rendered into scratch while range 0 renders straight into
    # the output; the estimate holds range 0 exactly, so range 1 does not fit at its offset.
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch, columns = fmt._bind(generate.events(fmt, 400, seed=8))
    cuts = parallel.render_cuts(batch.num_rows, 2)
    first = len(fmt._renderer.render(columns, cuts[0], cuts[1])[0])
    wrapper = ShortEstimate(fmt._renderer, first, slow_range_start=0)
    out = parallel.render(wrapper, fmt.program, columns, batch.num_rows, 2)
    assert out == fmt._renderer.render(columns, 0, batch.num_rows)
    assert wrapper.short == 0  # no range was cut short in the output ...
    assert wrapper.estimates >= 2  # ... yet the output grew: the scratch range did not fit


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_render_takes_on_ranges_behind_a_slow_one(small_chunks, threads):
    # Range 0 is slow: a thread whose range is done before its offset is known renders the
    # next ranges after it into its scratch instead of waiting, and places them as one.
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch, columns = fmt._bind(generate.events(fmt, 400, seed=8, escaped=0.3))
    expected = fmt._renderer.render(columns, 0, batch.num_rows)
    wrapper = ShortEstimate(fmt._renderer, 10 * len(expected[0]), slow_range_start=0)
    assert parallel.render(wrapper, fmt.program, columns, batch.num_rows, threads) == expected
    assert wrapper.taken_on >= 1
    out = bytearray(len(expected[0]))
    wrapper = ShortEstimate(fmt._renderer, len(expected[0]), slow_range_start=0)
    assert parallel.render_into(wrapper, columns, 0, batch.num_rows, out, threads)[:2] == (
        len(expected[0]), batch.num_rows)
    assert bytes(out) == expected[0]
    assert wrapper.taken_on >= 1


class InterruptOnCaller(ShortEstimate):
    """Ctrl-C arrives while the calling thread renders a range (it renders too)."""

    def render_placed(self, bound, *args):
        import threading

        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt
        return super().render_placed(bound, *args)


@pytest.mark.parametrize("into", [False, True])
def test_render_interrupt_on_the_calling_thread_is_raised(small_chunks, into):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch, columns = fmt._bind(generate.events(fmt, 400, seed=8))
    wrapper = InterruptOnCaller(fmt._renderer, 10**6)
    with pytest.raises(KeyboardInterrupt):
        if into:
            parallel.render_into(wrapper, columns, 0, batch.num_rows, bytearray(10**6), 2)
        else:
            parallel.render(wrapper, fmt.program, columns, batch.num_rows, 2)


_INTERRUPT_AFTER_TAKE = """
import sys
import threading
import time
import fastctx
from fastctx import generate, parallel

# ranges of 40 CLF rows (about 6 KB): a worker's scratch holds one, so it waits, not takes on
parallel.MIN_RENDER_ROWS, parallel.RENDER_RANGE_ROWS, parallel.MIN_RANGE_ROWS = 7, 40, 40
fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
batch, columns = fmt._bind(generate.events(fmt, 2000, seed=8))
lines = open(parallel.__file__).read().splitlines()
took = lines.index("                index = take()", lines.index(next(
    line for line in lines if line.startswith("def _render_round("))))
# the line where the calling thread, a range taken, starts rendering it
starts = next(n for n in range(took, len(lines)) if lines[n].strip() == "try:") + 1


taken = threading.Event()


def tracer(frame, event, arg):
    if frame.f_code.co_name != "worker":
        return None

    def lines_of_worker(frame, event, arg):
        if event == "line" and frame.f_lineno == starts and frame.f_locals["calling"]:
            sys.settrace(None)
            frame.f_trace = None
            taken.set()
            time.sleep(0.3)  # the worker renders the ranges after this one, then waits
            raise KeyboardInterrupt  # Ctrl-C with a range taken and not yet rendered
        return lines_of_worker

    return lines_of_worker


def pool_tracer(frame, event, arg):
    # The pool's worker starts once the calling thread, slowed by its tracer, has taken a
    # range: on a busy machine it took every range first (the caller then had none to be
    # interrupted in, and the call just returned).
    if frame.f_code.co_name == "worker" and not taken.is_set():
        taken.wait(10)
    return None


threading.settrace(pool_tracer)  # the pool's threads start at the first call, below
sys.settrace(tracer)
try:
    if sys.argv[1] == "into":
        parallel.render_into(fmt._renderer, columns, 0, batch.num_rows, bytearray(10**6), 2)
    else:
        parallel.render(fmt._renderer, fmt.program, columns, batch.num_rows, 2)
except KeyboardInterrupt:
    sys.settrace(None)
    print("interrupted")
    print("next", parallel.render(fmt._renderer, fmt.program, columns, batch.num_rows, 2)
          == fmt._renderer.render(columns, 0, batch.num_rows))
"""


@pytest.mark.parametrize("into", ["into", "render"])
def test_render_interrupt_between_taking_a_range_and_rendering_it_does_not_hang(into):
    # The worker waits for the offset of the range after the one the caller took, which will
    # never be known: the interrupt must stop the wait, or the call's exit waits forever.
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", _INTERRUPT_AFTER_TAKE, into],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the interrupted render hung")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["interrupted", "next True"]


def test_render_ranges_past_a_full_output_are_rendered_again(small_chunks):
    # The output holds range 0 only: the ranges rendered into scratch behind it do not fit
    # when placed, and the next round renders them after the output grows.
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch, columns = fmt._bind(generate.events(fmt, 400, seed=8))
    cuts = parallel.render_cuts(batch.num_rows, 3)
    first = len(fmt._renderer.render(columns, cuts[0], cuts[1])[0])
    wrapper = ShortEstimate(fmt._renderer, first, slow_range_start=0)
    assert parallel.render(wrapper, fmt.program, columns, batch.num_rows, 3) == (
        fmt._renderer.render(columns, 0, batch.num_rows))
    assert wrapper.estimates >= 2


class RandomDelays(ShortEstimate):
    """Ranges that take random extra time, so that parking, chains and waits interleave in
    many orders."""

    def __init__(self, renderer, size, rng):
        super().__init__(renderer, size)
        self.rng = rng

    def render_placed(self, bound, *args):
        if self.rng.random() < 0.3:
            __import__("time").sleep(self.rng.random() * 0.002)
        return super().render_placed(bound, *args)


def test_render_under_random_timing_equals_one_thread(small_chunks):
    import random

    rng = random.Random(11)
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch, columns = fmt._bind(generate.events(fmt, 600, seed=8, escaped=0.3))
    expected = fmt._renderer.render(columns, 0, batch.num_rows)
    size = len(expected[0])
    for _ in range(60):
        threads = rng.randint(2, 8)
        estimate = rng.choice([1, 100, size // 3, size, 10 * size])
        wrapper = RandomDelays(fmt._renderer, estimate, rng)
        assert parallel.render(wrapper, fmt.program, columns, batch.num_rows, threads) == expected
        out = bytearray(rng.choice([size, size // 2]))
        one = fmt._renderer.render_into(columns, 0, batch.num_rows, bytearray(len(out)))
        wrapper = RandomDelays(fmt._renderer, estimate, rng)
        assert parallel.render_into(wrapper, columns, 0, batch.num_rows, out, threads) == one


@pytest.mark.parametrize("size", [1, 300])
@pytest.mark.parametrize("bad", [[5], [250, 290], [40, 41, 299]])
def test_render_overflow_still_raises_first_bad_row(small_chunks, size, bad):
    fmt = fastctx.compile("$context.requestId $context.status")
    status = [str(i) for i in range(300)]
    for row in bad:
        status[row] = "abc"
    batch, columns = fmt._bind({"requestId": ["r"] * 300, "status": status})
    with pytest.raises(fastctx.RenderError) as one:
        fmt._renderer.render(columns, 0, 300)
    for threads in (2, 4):
        with pytest.raises(fastctx.RenderError) as many:
            parallel.render(ShortEstimate(fmt._renderer, size), fmt.program, columns, 300, threads)
        assert many.value.row == one.value.row == bad[0]
        assert str(many.value) == str(one.value)


def _placed_setup(rows=2000, seed=3):
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch, columns = fmt._bind(generate.events(fmt, rows, seed=seed, escaped=0.3))
    expected = fmt._renderer.render(columns, 0, rows)[0]
    return fmt._renderer, columns, expected


def test_render_placed_with_a_known_offset_writes_the_output_only():
    renderer, columns, expected = _placed_setup()
    scratch = np.full(len(expected), 0xFF, dtype=np.uint8)
    out = bytearray(len(expected) + 10)
    offsets = np.array([-1, 7, -1], dtype=np.int64)
    nbytes, rows, dropped, place = renderer.render_placed(columns, 0, 2000, scratch, out, offsets, 1)
    assert (nbytes, rows, dropped, place) == (len(expected), 2000, 0, 7)
    assert bytes(out[7:7 + nbytes]) == expected and out[:7] == bytes(7)
    assert (scratch == 0xFF).all()  # nothing went through scratch


def test_render_placed_with_no_offset_keeps_the_range_in_scratch():
    renderer, columns, expected = _placed_setup()
    scratch = np.zeros(len(expected) + 100, dtype=np.uint8)
    out = bytearray(len(expected))
    offsets = np.full(2, -1, dtype=np.int64)
    offsets.flags.writeable = False  # the kernel only reads them
    assert renderer.render_placed(columns, 0, 2000, scratch, out, offsets, 0) == (
        len(expected), 2000, 0, -1)
    assert scratch[: len(expected)].tobytes() == expected and out == bytes(len(out))
    # scratch too small: the rows that fit, to be rendered again into a larger one
    nbytes, rows, _, place = renderer.render_placed(columns, 0, 2000, scratch[:5000], out, offsets, 0)
    assert place == -1 and 0 < rows < 2000 and nbytes <= 5000
    assert scratch[:nbytes].tobytes() == expected[:nbytes] and expected[nbytes - 1:nbytes] == b"\n"


@pytest.fixture(params=[True, False], ids=["streaming-stores", "plain-copy"])
def stream_stores(request):
    from fastctx import _render

    old = _render._use_stream(request.param)
    yield request.param
    _render._use_stream(old)


@pytest.mark.parametrize("place", [3, 64])
def test_render_placed_switches_to_the_output_once_the_offset_is_known(stream_stores, place):
    # Another thread stores the offset once the kernel has started writing into scratch: the
    # bytes so far are copied to the output (at an unaligned place too) and the rest is
    # rendered there.
    import threading

    renderer, columns, expected = _placed_setup(rows=200_000, seed=4)
    scratch = np.full(len(expected), 0xFF, dtype=np.uint8)
    out = bytearray(len(expected) + place)
    offsets = np.full(1, -1, dtype=np.int64)

    def store_offset():
        while scratch[0] == 0xFF:
            pass
        offsets[0] = place

    setter = threading.Thread(target=store_offset)
    setter.start()
    result = renderer.render_placed(columns, 0, 200_000, scratch, out, offsets, 0)
    setter.join()
    assert result == (len(expected), 200_000, 0, place)
    assert bytes(out[place:]) == expected and out[:place] == bytes(place)
    # a prefix went through scratch, the rest did not
    assert scratch[:256].tobytes() == expected[:256]
    assert (scratch[-100_000:] == 0xFF).all()


@pytest.mark.parametrize("name", ["clf", "xml"])
def test_threaded_render_with_and_without_streaming_stores(stream_stores, name):
    fmt = fastctx.compile(fastctx.preset("websocket", name))
    batch = generate.events(fmt, 60_000, seed=6, escaped=0.3)
    one = fmt.render(batch, threads=1)
    assert fmt.render(batch, threads=2) == one
    out = bytearray(len(one) + 7)
    assert fmt.render_into(batch, memoryview(out)[7:], threads=3) == len(one)
    assert bytes(out[7:]) == one


def test_render_placed_that_does_not_fit_places_nothing():
    renderer, columns, expected = _placed_setup()
    out = bytearray(len(expected) - 1)
    for offsets in (np.array([0]), np.array([len(out)]), np.array([len(out) + 5])):
        for scratch in (np.empty(len(expected) + 100, dtype=np.uint8), np.empty(0, dtype=np.uint8)):
            nbytes, rows, _, place = renderer.render_placed(columns, 0, 2000, scratch, out,
                                                            offsets, 0)
            assert place == offsets[0] and rows < 2000
            if place >= len(out):
                assert (nbytes, rows) == (0, 0)
            else:  # the whole records that fit, as render_into writes them
                assert bytes(out[:nbytes]) == expected[:nbytes] and nbytes > len(out) - 400


def test_render_placed_raises_the_bad_row_in_scratch_and_in_the_output():
    fmt = fastctx.compile("$context.requestId $context.status")
    status = [str(i) for i in range(3000)]
    status[2500] = "abc"
    _, columns = fmt._bind({"requestId": ["r"] * 3000, "status": status})
    for known in (-1, 0):
        with pytest.raises(fastctx.RenderError) as error:
            fmt._renderer.render_placed(columns, 0, 3000, bytearray(100_000), bytearray(100_000),
                                        np.array([known]), 0)
        assert error.value.row == 2500
    with pytest.raises(TypeError, match="writable"):
        fmt._renderer.render_placed(columns, 0, 10, b"", bytearray(10), np.array([0]), 0)
    with pytest.raises(IndexError):
        fmt._renderer.render_placed(columns, 0, 10, bytearray(10), bytearray(10), np.array([0]), 1)


def test_bound_columns_are_checked_once_and_keep_their_rows():
    fmt = fastctx.compile("$context.requestId $context.status")
    _, columns = fmt._bind({"requestId": ["a", "b", "c"], "status": [1, 2, 3]})
    bound = fmt._renderer.bind(columns, 3)
    out = bytearray(100)
    assert bound.render_placed(1, 3, bytearray(0), out, np.array([0]), 0) == (8, 2, 0, 0)
    assert bytes(out[:8]) == b"b 2\nc 3\n"
    with pytest.raises(ValueError, match="bound rows"):
        bound.render_placed(0, 4, bytearray(0), out, np.array([0]), 0)
    with pytest.raises(ValueError, match="rendering needs 5"):
        fmt._renderer.bind(columns, 4)  # the string column has 3 rows, not 4


@pytest.mark.parametrize("name", ["clf", "json", "xml", "csv"])
def test_render_allocates_about_its_output(name):
    # A render allocates no more than its output plus 10%, threaded or not: the threaded
    # output is reserved from the estimate, not from an upper bound.
    import tracemalloc

    fmt = fastctx.compile(fastctx.preset("websocket", name))
    batch = generate.events(fmt, 200_000, seed=9)
    outputs = []
    for threads in (1, 2):
        tracemalloc.start()
        try:
            out = fmt.render(batch, threads=threads)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= 1.10 * len(out), (threads, peak / len(out))
        outputs.append(out)
        del out
    assert outputs[0] == outputs[1]


# -- render_to ----------------------------------------------------------------------------


class Recorder:
    """A file that keeps what it is given and which thread gave it, and can fail."""

    def __init__(self, fail_at=None):
        self.data, self.threads, self.buffers, self.calls = bytearray(), set(), set(), 0
        self.fail_at = fail_at

    def write(self, view):
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(28, "No space left on device")
        self.threads.add(threading.get_ident())
        self.buffers.add(id(memoryview(view).obj))
        self.data += view
        return memoryview(view).nbytes


@pytest.mark.parametrize("api,name", PRESETS)
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_render_to_threads_equal_render_written_on_the_calling_thread(small_chunks, api, name,
                                                                      threads):
    fmt = fastctx.compile(fastctx.preset(api, name), api=api)
    batch = generate.events(fmt, 700, seed=threads)
    expected = fmt.render(batch, threads=1)
    calls = {}
    for chunk_size in (1, 900, 5000, 1 << 20):
        sink = Recorder()
        assert fmt.render_to(batch, sink, chunk_size=chunk_size, threads=threads) == len(expected)
        assert bytes(sink.data) == expected
        assert sink.threads == {threading.get_ident()}
        calls[chunk_size] = sink.calls
    # one write a range: ranges of about chunk_size bytes (one row at the least), and of at
    # most RENDER_RANGE_ROWS rows
    assert calls[1] == 700
    assert calls[1] > calls[900] > calls[5000] >= calls[1 << 20] == -(-700 // 13)


def test_render_to_threads_keep_few_buffers(small_chunks):
    # at most 2 * threads ranges are rendered and not yet written, each in a buffer of its own
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch = generate.events(fmt, 3000, seed=3)

    class Slow(Recorder):
        def write(self, view):
            time.sleep(0.002)  # the other threads render ahead until the window is full
            return super().write(view)

    for threads in (2, 3):
        sink = Slow()
        fmt.render_to(batch, sink, chunk_size=2000, threads=threads)
        assert bytes(sink.data) == fmt.render(batch, threads=1)
        assert sink.calls > 20 * threads
        assert 1 < len(sink.buffers) <= 2 * threads


def test_render_to_grows_a_buffer_for_a_range_past_the_estimate(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    batch = generate.events(fmt, 600, seed=4)
    _, columns = fmt._bind(batch)
    expected = fmt.render(batch, threads=1)
    for threads in (1, 2, 3):
        sink = Recorder()
        # an estimate of 1 byte: ranges of one row each, in buffers too small for them
        wrapper = ShortEstimate(fmt._renderer, 1)
        wrapper.bind = fmt._renderer.bind
        assert parallel.render_to(wrapper, columns, batch.num_rows, sink.write, 1, threads) == 0
        assert bytes(sink.data) == expected


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("bad", [0, 1, 299, 1234, 2999])
def test_render_to_writes_every_line_before_a_bad_row_then_raises(small_chunks, threads, bad):
    fmt = fastctx.compile("$context.requestId $context.status")
    status = [str(i) for i in range(3000)]
    status[bad] = "abc"
    status[bad + 7 if bad + 7 < 3000 else 0] = "later"  # the first bad row is named
    data = {"requestId": ["r"] * 3000, "status": status}
    sink = Recorder()
    with pytest.raises(fastctx.RenderError) as error:
        fmt.render_to(data, sink, chunk_size=333, threads=threads)
    if bad + 7 >= 3000:
        bad = 0
    assert error.value.row == bad
    assert bytes(sink.data) == b"".join(f"r {i}\n".encode() for i in range(bad))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_render_to_stops_at_a_failing_write_and_raises_it(small_chunks, threads):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    batch = generate.events(fmt, 2000, seed=5)
    expected = fmt.render(batch, threads=1)
    sink = Recorder(fail_at=4)
    with pytest.raises(OSError, match="No space left"):
        fmt.render_to(batch, sink, chunk_size=3000, threads=threads)
    assert sink.calls == 4  # nothing written after the failure
    assert expected.startswith(bytes(sink.data)) and 0 < len(sink.data) < len(expected)


def test_render_to_threads_count_dropped_characters_once(small_chunks):
    fmt = fastctx.compile(fastctx.preset("websocket", "xml"))
    data = xml_drop_batch(fmt, 500)
    with pytest.warns(fastctx.RenderWarning) as one:
        expected = fmt.render(data, threads=1)
    for threads in (1, 2, 3):
        sink = Recorder()
        with pytest.warns(fastctx.RenderWarning) as caught:
            fmt.render_to(data, sink, chunk_size=700, threads=threads)
        assert bytes(sink.data) == expected
        assert [str(w.message) for w in caught] == [str(w.message) for w in one]


# -- Parser.join ---------------------------------------------------------------------------


@pytest.mark.parametrize("cuts", [[0, 1, 2], [7, 9, 16], [8, 16, 24], [0, 0, 5], [13]])
def test_join_appends_chunks_to_the_first_ones_buffers(cuts):
    from concurrent.futures import ThreadPoolExecutor

    from fastctx._parse import Parser

    fmt = fastctx.compile('$context.requestId "$context.routeKey" $context.status')
    lines = [b'r%d "%s" %s' % (k, b"-" if k % 3 == 0 else b"k%d" % k, b"-" if k % 5 == 0 else b"%d" % k)
             for k in range(29)]
    lines[11] = b"not a record"
    parser = Parser(fmt.program)
    whole = parser.parse(b"\n".join(lines), "collect")
    bounds = [0] + cuts + [len(lines)]
    for submit in (None, ThreadPoolExecutor(2).submit):
        chunks = [parser.parse_chunk(b"\n".join(lines[lo:hi]), "collect", lo + 1,
                                     sum(len(line) + 1 for line in lines[:lo]))
                  for lo, hi in zip(bounds[:-1], bounds[1:])]
        joined = parser.join(chunks, submit)
        same_batch(joined, whole)
        for name in joined.column_names:
            a, b = joined.column(name), whole.column(name)
            assert np.array_equal(a.values, b.values)
            assert (a.validity is None) == (b.validity is None)
            if a.validity is not None:
                assert np.array_equal(a.validity, b.validity)  # padding bits too
        with pytest.raises(ValueError, match="only once"):
            parser.join(chunks)


@pytest.mark.parametrize("stream", [True, False], ids=["streaming-stores", "plain-copy"])
def test_join_of_large_chunks_with_and_without_streaming_stores(stream):
    # Chunks large enough for the streaming copies (4 KiB of data, 512 offsets), cut at odd
    # rows so the destinations start unaligned.
    from fastctx import _parse

    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = fmt.render(generate.events(fmt, 20_000, seed=12, escaped=0.2), threads=1)
    lines = data.split(b"\n")[:-1]
    whole = fmt._get_parser().parse(data)
    bounds = [0, 6_999, 13_001, len(lines)]
    old = _parse._use_stream(stream)
    try:
        parser = fmt._get_parser()
        chunks = [parser.parse_chunk(b"\n".join(lines[lo:hi]) + b"\n", "raise", lo + 1)
                  for lo, hi in zip(bounds[:-1], bounds[1:])]
        joined = parser.join(chunks)
    finally:
        _parse._use_stream(old)
    for name in joined.column_names:
        a, b = joined.column(name), whole.column(name)
        assert np.array_equal(a.values, b.values), name
        if a.kind == "string":
            assert np.array_equal(a.data, b.data), name


# -- Batch.concat -------------------------------------------------------------------------


def test_concat_values_nulls_stats_rejects():
    a = Batch.from_pydict({"s": ["x", None, "é"], "n": [1, None, 3]})
    b = Batch.from_pydict({"n": [4], "s": [None]})
    c = Batch.from_pydict({"s": ["last"], "n": Column.from_ints([None])})
    a.stats, a.rejects = Stats(4, 3, 1, 0, 0), [Reject(2, 5, "bad", b"zz")]
    c.stats, c.rejects = Stats(2, 1, 0, 1, 1), [Reject(9, 50, "worse", b"yy")]
    joined = Batch.concat([a, b, c])
    assert joined.to_pydict() == {"s": ["x", None, "é", None, "last"], "n": [1, None, 3, 4, None]}
    # b has no stats (built from columns, as a slice is): a sum would not cover its row
    assert joined.stats is None
    assert Batch.concat([a, c]).stats == Stats(6, 4, 1, 1, 1)
    assert [r.line for r in joined.rejects] == [2, 9]
    assert joined.column("s").null_count == 2
    # new buffers, not views of the inputs
    assert not np.shares_memory(joined.column("n").values, a.column("n").values)


def test_concat_many_unaligned_bitmaps_with_executor():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    parts, expected = [], {"v": [], "t": []}
    for size in [0, 1, 7, 9, 13, 64, 3]:
        values = [None if rng.random() < 0.3 else int(rng.integers(0, 100)) for _ in range(size)]
        text = [None if v is None else str(v) * (v % 4) for v in values]
        parts.append(Batch.from_pydict({"v": values, "t": text}) if size else
                     Batch.from_pydict({"v": np.zeros(0, dtype=np.int64), "t": []}))
        expected["v"] += values
        expected["t"] += text
    with ThreadPoolExecutor(2) as pool:
        assert Batch.concat(parts, executor=pool).to_pydict() == expected
    assert Batch.concat(parts).to_pydict() == expected


def test_concat_gives_a_column_of_nulls_only_the_kind_of_the_others():
    # from_pydict({"status": [None]}) is text: it could not join an int column
    ints = Batch.from_pydict({"status": [200, None], "t": Column.from_strings(["a", "b"])})
    nulls = Batch.from_pydict({"status": [None], "t": [None]})
    for parts, expected in [([ints, nulls], [200, None, None]), ([nulls, ints], [None, 200, None]),
                            ([nulls, ints, nulls], [None, 200, None, None])]:
        joined = Batch.concat(parts)
        assert joined.column("status").kind == "int64" and joined.to_pydict()["status"] == expected
        assert joined.column("status").null_count == expected.count(None)
        assert joined.column("t").kind == "string"
    assert Batch.concat([nulls, nulls]).to_pydict() == {"status": [None, None], "t": [None, None]}


def test_concat_rejects_mismatched_columns():
    with pytest.raises(ValueError, match="columns"):
        Batch.concat([Batch.from_pydict({"a": [1]}), Batch.from_pydict({"b": [1]})])
    with pytest.raises(ValueError, match="int64"):
        Batch.concat([Batch.from_pydict({"a": [1]}), Batch.from_pydict({"a": ["x"]})])
    assert Batch.concat([]).num_rows == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_signed_byte_buffers_parse_like_bytes(threads):
    # pyarrow buffers and array('b') export format 'b'; they are bytes all the same
    import array

    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    line = b"1.2.3.4,-,-,-,-,-,-,200,abc\n" * 3
    signed = memoryview(array.array("b", line))
    assert signed.format == "b"
    assert fmt.parse(signed, threads=threads).to_pydict() == fmt.parse(line, threads=1).to_pydict()


@pytest.mark.parametrize("threads", [0, -1, 4097, 10**20, 1.5, True, "2"])
def test_thread_counts_out_of_range_are_value_errors(threads):
    fmt = fastctx.compile("$context.requestId $context.status")
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 4096"):
        fmt.parse(b"r1 1\n", threads=threads)
    with pytest.raises(ValueError, match="threads must be an integer from 1 to 4096"):
        fastctx.read_all(b"r1 1\n", fmt, threads=threads)


def test_a_second_interrupt_does_not_end_the_wait_for_running_threads(monkeypatch):
    """A second Ctrl-C during the wait for the call's threads: the call still returns only
    once no thread runs (they may write to a buffer the caller frees next)."""
    import threading
    import time

    finished = threading.Event()
    real_wait = parallel.wait
    calls = []

    def interrupted_wait(futures):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the second Ctrl-C, landing in the wait
        return real_wait(futures)

    def slow():
        time.sleep(0.3)
        finished.set()

    monkeypatch.setattr(parallel, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        with parallel._Calls(2) as pool:
            pool.submit(slow)
            time.sleep(0.05)  # running, so it cannot be cancelled
            raise KeyboardInterrupt  # the first Ctrl-C
    assert finished.is_set() and len(calls) == 2
    # and on the way out of a call that raised nothing, the interrupt still comes after the wait
    finished.clear()
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        with parallel._Calls(2) as pool:
            pool.submit(slow)
    assert finished.is_set()


@pytest.mark.parametrize("threads", [np.int64(2), np.uint8(1), np.intp(3)])
def test_numpy_integer_thread_counts_are_accepted(threads):
    fmt = fastctx.compile("$context.requestId $context.status")
    assert fmt.parse(b"r1 1\nr2 2\n", threads=threads).to_pydict() == {
        "requestId": ["r1", "r2"], "status": [1, 2]}


def test_a_numpy_bool_is_not_a_thread_count():
    fmt = fastctx.compile("$context.requestId $context.status")
    with pytest.raises(ValueError, match="threads must be an integer"):
        fmt.parse(b"r1 1\n", threads=np.bool_(True))
