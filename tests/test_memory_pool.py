"""Column memory of dropped results is reused, and reused memory never leaks into a result;
threaded calls share one set of worker threads."""

import gc
import os
import sys
import threading

import pytest

import fastctx
from fastctx import _memory, _parse, generate, parallel

from test_parallel import same_batch, small_chunks  # noqa: F401  (a fixture)


@pytest.fixture
def pooled():
    """Every column buffer of a test-sized parse gets its own mapping, so it goes through the
    pool; the pool starts empty and is emptied again after the test."""
    if not _memory.CAN_MAP:
        pytest.skip("column buffers are mapped only where the platform has mremap")
    old_min = _memory._map_min(4096)
    old_limit = fastctx.memory_pool_limit(64 << 20)
    fastctx.release_memory()
    yield
    fastctx.release_memory()
    fastctx.memory_pool_limit(old_limit)
    _memory._map_min(old_min)


def _parse_and_drop(fmt, data, threads=1):
    fmt.parse(data, "collect", threads=threads)
    gc.collect()


@pytest.mark.parametrize("name", ["clf", "csv", "json", "xml"])
def test_reused_memory_gives_the_same_result(pooled, name):
    fmt = fastctx.compile(fastctx.preset("websocket", name))
    # Different inputs in turn: each parse takes mappings that held another result's bytes,
    # with nulls in other rows (a stale null bit or offset would show).
    inputs = [generate.lines(fmt, rows, seed=seed, missing=missing)
              for rows, seed, missing in [(50000, 1, 0.3), (40000, 2, 0.0), (60000, 3, 0.5)]]
    fresh = []
    fastctx.memory_pool_limit(0)
    for data in inputs:
        fresh.append(fmt.parse(data, "collect", threads=1).to_pydict())
    fastctx.memory_pool_limit(64 << 20)
    for _ in range(2):
        for data, expected in zip(inputs, fresh):
            batch = fmt.parse(data, "collect", threads=1)
            assert batch.to_pydict() == expected
            del batch
            gc.collect()
            assert _memory._pool_state()[0] > 0  # the dropped result's mappings were kept


def test_threaded_parse_on_reused_memory(pooled, small_chunks):  # noqa: F811
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 3000, seed=4, missing=0.2)
    fastctx.memory_pool_limit(0)
    one = fmt.parse(data, "collect", threads=1)
    fastctx.memory_pool_limit(64 << 20)
    for _ in range(3):
        same_batch(fmt.parse(data, "collect", threads=3), one)
        gc.collect()


def test_pool_keeps_at_most_its_limit(pooled):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 5000, seed=5)
    _parse_and_drop(fmt, data)
    count, size = _memory._pool_state()
    assert count > 0 and size > 0
    assert fastctx.memory_pool_limit(size // 2) == 64 << 20  # returns the old limit
    assert _memory._pool_state()[1] <= size // 2  # the oldest went first
    _parse_and_drop(fmt, data)
    assert _memory._pool_state()[1] <= size // 2


def test_limit_zero_keeps_nothing_and_release_returns_bytes(pooled):
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    data = generate.lines(fmt, 5000, seed=6)
    _parse_and_drop(fmt, data)
    held = _memory._pool_state()[1]
    assert held > 0
    assert fastctx.release_memory() == held
    assert _memory._pool_state() == (0, 0)
    fastctx.memory_pool_limit(0)
    _parse_and_drop(fmt, data)
    assert _memory._pool_state() == (0, 0)


def test_a_live_result_keeps_its_memory(pooled):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 3000, seed=7)
    kept = fmt.parse(data)
    expected = kept.to_pydict()
    for seed in range(3):  # other parses may not take the live result's mappings
        _parse_and_drop(fmt, generate.lines(fmt, 3000, seed=100 + seed))
    assert kept.to_pydict() == expected


def test_pool_limit_must_not_be_negative():
    with pytest.raises(ValueError, match="memory pool limit"):
        fastctx.memory_pool_limit(-1)


# -- worker threads -----------------------------------------------------------------------


def _workers():
    return {t for t in threading.enumerate() if t.name.startswith("fastctx")}


def test_threaded_calls_share_their_workers(small_chunks):  # noqa: F811
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    data = generate.lines(fmt, 500, seed=8)
    batch = fmt.parse(data, threads=2)
    fmt.render(batch, threads=2)
    before = _workers()
    assert before
    for _ in range(3):
        fmt.parse(data, threads=2)
        fmt.render(batch, threads=2)
    assert _workers() == before  # no thread started or ended per call


def test_leaving_a_call_waits_for_its_work():
    done = []
    started = threading.Event()

    def slow():
        started.set()
        threading.Event().wait(0.2)
        done.append(True)

    with pytest.raises(RuntimeError):
        with parallel._Calls(1) as calls:
            calls.submit(slow)
            started.wait()
            raise RuntimeError("the call fails while a thread still works for it")
    assert done == [True]  # the block did not end before the running piece did


def test_leaving_a_failed_call_cancels_what_has_not_started():
    gate = threading.Event()
    ran = []
    with pytest.raises(RuntimeError):
        with parallel._Calls(1) as calls:
            first = calls.submit(gate.wait)
            later = [calls.submit(ran.append, k) for k in range(50)]
            gate.set()
            raise RuntimeError("fail")
    assert first.done()
    assert all(f.done() for f in later)
    assert len(ran) + sum(f.cancelled() for f in later) == 50


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                    reason="fork, where it is safe to use with threads")
def test_a_forked_child_gets_its_own_workers(small_chunks):  # noqa: F811
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 500, seed=10)
    expected = fmt.parse(data, threads=2).to_pydict()  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: its pool would have no threads if it were the parent's
        ok = False
        try:
            ok = fmt.parse(data, threads=2).to_pydict() == expected
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# -- first sizes ----------------------------------------------------------------------------


def test_sizes_learned_from_the_last_parse_never_change_a_result():
    """A Parser starts its string buffers at the bytes per row its last parse found: input
    with much longer, then much shorter values than before still parses exactly."""
    template = "$context.requestId $context.routeKey $context.status"
    fmt = fastctx.compile(template)
    short = b"".join(b"r%d a %d\n" % (i, 200 + i % 7) for i in range(5000))
    long = b"".join(b"r%d %s %d\n" % (i, b"k" * (50 + i % 300), 200) for i in range(5000))
    for data in (short, long, short, long):
        expected = fastctx.compile(template).parse(data).to_pydict()  # a new Parser: no sizes
        assert fmt.parse(data).to_pydict() == expected


def test_a_chunk_sized_for_more_input_parses_the_same():
    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    data = generate.lines(fmt, 2000, seed=11)
    parser = _parse.Parser(fmt.program)
    expected = parser.parse(data, "collect").to_pydict()
    chunk = parser.parse_chunk(data, "collect", 1, 0, 50 * len(data))
    assert parser.join([chunk]).to_pydict() == expected


def test_calls_with_more_threads_do_not_break_calls_in_flight():
    """A call asking for more threads replaces the shared pool while another call, on another
    thread, still submits to the old one."""
    obtained, release = threading.Event(), threading.Event()
    errors = []

    def first_call():
        try:
            with parallel._Calls(1) as calls:
                obtained.set()
                release.wait()
                calls.submit(lambda: None).result()  # submitted after the pool was replaced
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    caller = threading.Thread(target=first_call)
    caller.start()
    obtained.wait()
    old = parallel._pool
    with parallel._Calls(parallel._pool_size + 3) as calls:
        calls.submit(lambda: None).result()
    assert parallel._pool is not old
    release.set()
    caller.join()
    assert errors == []


def test_a_call_keeps_no_finished_work():
    """A reader submits a piece per batch for a whole file: a finished piece's result must not
    stay alive until the call ends (it held every batch of the file)."""
    import weakref

    class Result:
        pass

    with parallel._Calls(1) as calls:
        refs = []
        for _ in range(5):
            future = calls.submit(Result)
            refs.append(weakref.ref(future.result()))
            del future
        gc.collect()
        assert all(ref() is None for ref in refs)


@pytest.mark.parametrize("value,expected", [("0", 0), ("64M", 64 << 20), ("2g", 2 << 30),
                                            ("1048576", 1 << 20), ("12 MiB", 12 << 20)])
def test_pool_limit_from_the_environment(value, expected):
    import subprocess

    out = subprocess.run([sys.executable, "-W", "error", "-c",
                          "import fastctx; print(fastctx.memory_pool_limit())"],
                         env={**os.environ, "FASTCTX_MEMORY_POOL": value},
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == expected


def test_a_bad_pool_limit_in_the_environment_warns_and_keeps_the_default():
    import subprocess

    out = subprocess.run([sys.executable, "-W", "always", "-c",
                          "import fastctx; print(fastctx.memory_pool_limit())"],
                         env={**os.environ, "FASTCTX_MEMORY_POOL": "lots"},
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == 512 << 20
    assert "FASTCTX_MEMORY_POOL='lots' is not a size" in out.stderr


def test_held_bytes_count_what_a_parse_sized_its_buffers_to():
    """The benchmark's memory column takes these: a parse's column buffers are counted while
    they live, including memory malloc may have handed back from an earlier parse."""
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    data = generate.lines(fmt, 20000, seed=12)
    fmt.parse(data, threads=1)  # the Parser learns its sizes
    gc.collect()
    base = _memory._held_bytes()
    _memory._held_peak(reset=True)
    batch = fmt.parse(data, threads=1)  # (a threaded parse also holds the chunks it joins)
    output = sum(col.values.nbytes + (col.data.nbytes if col.data is not None else 0)
                 + (col.validity.nbytes if col.validity is not None else 0)
                 for col in (batch.column(name) for name in batch.column_names))
    assert _memory._held_bytes() - base == output  # the result holds exactly its columns
    peak = _memory._held_peak() - base
    assert output <= peak <= 1.1 * output  # sized from the last parse: little to spare
    del batch
    gc.collect()
    assert _memory._held_bytes() == base


# -- rendered outputs -----------------------------------------------------------------------

def _plain_render(fmt, events, **kwargs):
    """The same render into an ordinary ``bytes`` (no mapping, no pool)."""
    old = _memory._map_min(1 << 62)
    try:
        out = fmt.render(events, **kwargs)
    finally:
        _memory._map_min(old)
    assert type(out) is bytes
    return out


@pytest.mark.parametrize("name", ["clf", "csv", "json", "xml"])
def test_a_large_output_is_pooled_bytes_and_its_memory_is_reused(pooled, name):
    fmt = fastctx.compile(fastctx.preset("websocket", name))
    batches = [generate.events(fmt, rows, seed=seed) for rows, seed in [(3000, 1), (2000, 2), (3500, 3)]]
    expected = [_plain_render(fmt, events) for events in batches]
    for _ in range(2):
        for events, plain in zip(batches, expected):
            out = fmt.render(events)
            assert type(out) is _memory.PooledBytes and isinstance(out, bytes)
            assert out == plain and len(out) == len(plain) and hash(out) == hash(plain)
            assert out.endswith(b"\n") and out.count(b"\n") == plain.count(b"\n")
            del out
            gc.collect()
            assert _memory._pool_state()[0] == 1  # the dropped output's mapping was kept


def test_a_threaded_render_builds_pooled_bytes_too(pooled, small_chunks):  # noqa: F811
    fmt = fastctx.compile(fastctx.preset("websocket", "json"))
    events = generate.events(fmt, 4000, seed=8)
    plain = _plain_render(fmt, events, threads=1)
    for _ in range(3):
        out = fmt.render(events, threads=2)
        assert type(out) is _memory.PooledBytes and out == plain
        del out
        gc.collect()


def test_a_small_output_is_plain_bytes():
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    assert type(fmt.render(generate.events(fmt, 10, seed=1))) is bytes


def test_pooled_bytes_pickle_and_copy_as_plain_bytes(pooled):
    import copy
    import pickle

    fmt = fastctx.compile(fastctx.preset("websocket", "csv"))
    out = fmt.render(generate.events(fmt, 2000, seed=9))
    assert type(out) is _memory.PooledBytes
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(out, protocol))
        assert type(back) is bytes and back == out
    assert type(copy.copy(out)) is bytes and copy.copy(out) == out
    assert type(copy.deepcopy(out)) is bytes and copy.deepcopy(out) == out
    assert out[:5] == bytes(out)[:5] and type(out[:5]) is bytes


def test_pooled_bytes_cannot_be_made_or_subclassed_from_python():
    with pytest.raises(TypeError):
        _memory.PooledBytes(b"x")
    with pytest.raises(TypeError):
        bytes.__new__(_memory.PooledBytes, b"x")
    with pytest.raises(TypeError):
        type("Sub", (_memory.PooledBytes,), {})


def test_a_live_output_is_held_and_a_dropped_one_is_not(pooled):
    fmt = fastctx.compile(fastctx.preset("websocket", "xml"))
    events = generate.events(fmt, 3000, seed=10)
    base = _memory._held_bytes()
    out = fmt.render(events)
    held = _memory._held_bytes() - base
    assert len(out) < held <= len(out) + len(out) // 4 + 2 * 4096  # its mapping, page-rounded
    kept = bytes(out)
    for seed in range(3):  # other renders may not take a live output's mapping
        fmt.render(generate.events(fmt, 3000, seed=20 + seed))
    assert out == kept
    del out
    gc.collect()
    assert _memory._held_bytes() == base


def test_a_parse_reuses_a_rendered_outputs_memory(pooled):
    fmt = fastctx.compile(fastctx.preset("websocket", "clf"))
    data = generate.lines(fmt, 3000, seed=11)
    fastctx.memory_pool_limit(0)
    expected = fmt.parse(data, threads=1).to_pydict()
    fastctx.memory_pool_limit(64 << 20)
    out = fmt.render(fmt.parse(data, threads=1))
    assert out == data
    del out
    gc.collect()
    assert fmt.parse(data, threads=1).to_pydict() == expected


def _mappings_over(start: int, end: int) -> int:
    """How many lines of /proc/self/maps cover a part of ``[start, end)``."""
    count = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            count += lo < end and hi > start
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_an_output_grown_after_hints_split_its_mapping_keeps_its_bytes(pooled):
    # Hints on part of a mapping split it, and mremap cannot grow a split mapping: the
    # growth falls back to a new mapping and one copy, and a dropped mapping is made whole
    # again before the pool lends it to a parse (which grows its columns with mremap).
    import ctypes

    import numpy as np

    from fastctx import _render

    size = 16 << 20
    out = _memory.OutputBytes(size)
    view = (ctypes.c_char * size).from_address(out.address)
    pattern = np.frombuffer(view, dtype=np.uint8)
    pattern[:] = np.arange(size, dtype=np.uint64).astype(np.uint8)
    _render.output_done()  # a large output just finished: the next is hinted huge pages
    _render.prepare_output(out.address + 12345, 9 << 20)  # on a part
    assert _mappings_over(out.address, out.address + size) > 1
    del pattern, view
    out.grow(3 * size)
    view = (ctypes.c_char * (3 * size)).from_address(out.address)
    grown = np.frombuffer(view, dtype=np.uint8)
    assert np.array_equal(grown[:size], np.arange(size, dtype=np.uint64).astype(np.uint8))
    del grown, view
    result = out.finish(size + 7)
    assert len(result) == size + 7 and result[1000:1004] == bytes([232, 233, 234, 235])
    del result
    gc.collect()
    # a mapping still split when dropped
    fastctx.release_memory()
    out = _memory.OutputBytes(size)
    assert out.fresh
    address = out.address
    _render.output_done()
    _render.prepare_output(address + 12345, 9 << 20)
    assert _mappings_over(address, address + size) > 1
    out.discard()
    assert _memory._pool_state()[0] == 1
    assert _mappings_over(address, address + size) == 1


def test_an_output_that_outgrows_its_estimate_keeps_every_line(pooled):
    # the estimate samples records; values far longer off the sample make the output grow
    fmt = fastctx.compile("$context.requestId $context.error.message")
    messages = ["x" * (50_000 if row % 97 == 0 else 3) for row in range(2000)]
    events = {"requestId": [str(row) for row in range(2000)], "error.message": messages}
    plain = _plain_render(fmt, events)
    out = fmt.render(events)
    assert type(out) is _memory.PooledBytes and out == plain


def test_an_output_once_finished_or_discarded_is_gone(pooled):
    out = _memory.OutputBytes(8192)
    assert out.capacity == 8192
    result = out.finish(10)
    assert type(result) is _memory.PooledBytes and len(result) == 10
    for attribute in ("address", "capacity"):
        with pytest.raises(ValueError, match="already finished or discarded"):
            getattr(out, attribute)
    with pytest.raises(ValueError, match="already finished or discarded"):
        out.finish(5)
    out.discard()  # nothing left to drop: no error
    dropped = _memory.OutputBytes(8192)
    dropped.discard()
    dropped.discard()
    with pytest.raises(ValueError):
        dropped.grow(16384)


def _outgrowing_events(rows: int, big: int) -> dict:
    # one value far longer than the sampled records: the output outgrows its estimate
    ids = [f"r{row:07d}" for row in range(rows)]
    ids[rows - 3] = "\x01" * big  # 6 bytes each once JSON-escaped
    return {"requestId": ids, "status": [str(200 + row % 300) for row in range(rows)]}


_OUTGROWING = '{"id":"$context.requestId","s":$context.status}'


def test_an_output_outgrowing_its_estimate_takes_a_pooled_mapping(pooled):
    # Before, the growth only remapped: each call faulted in a new mapping as large as the
    # last output, and the pool filled with ones no render took (the estimate is far smaller).
    fmt = fastctx.compile(_OUTGROWING)
    events = _outgrowing_events(3000, 2 << 20)
    plain = _plain_render(fmt, events)
    assert len(plain) > 12 << 20
    base = _memory._held_bytes()
    for _ in range(5):
        out = fmt.render(events)
        assert out == plain
        del out
        gc.collect()
        assert _memory._pool_state()[0] <= 2
    assert _memory._held_bytes() == base


def test_a_plain_output_growing_past_the_threshold_goes_on_pooled():
    fmt = fastctx.compile(_OUTGROWING)
    events = _outgrowing_events(1000, 300_000)
    plain = _plain_render(fmt, events)
    old = _memory._map_min(1 << 20)
    try:
        out = fmt.render(events)
    finally:
        _memory._map_min(old)
    assert len(plain) > 1 << 20 and type(out) is _memory.PooledBytes and out == plain


def test_an_output_that_cannot_grow_raises_memory_error():
    old = _memory._map_min(1 << 62)
    try:
        plain = _memory.OutputBytes(100)  # plain bytes: _PyBytes_Resize fails
        with pytest.raises(MemoryError):
            plain.grow(1 << 62)
    finally:
        _memory._map_min(old)
    if _memory.CAN_MAP:
        mapped = _memory.OutputBytes(old)
        with pytest.raises(MemoryError):
            mapped.grow(1 << 62)
    for out in (_memory.OutputBytes(100), _memory.OutputBytes(old)):
        with pytest.raises(ValueError, match="an output size is >= 0"):
            out.finish(-5)
        with pytest.raises(ValueError, match="an output size is >= 0"):
            out.grow(-1)
        out.discard()


def test_pooled_bytes_fromhex_gives_plain_bytes():
    assert _memory.PooledBytes.fromhex("00 11") == b"\x00\x11"
    assert type(_memory.PooledBytes.fromhex("00")) is bytes


def test_a_threaded_render_error_keeps_no_view_of_the_dropped_output(small_chunks):  # noqa: F811
    # the traceback keeps the frames of the round: a view there would outlive the output
    fmt = fastctx.compile(_OUTGROWING)
    rows = 2000
    statuses = [str(200 + row % 300) for row in range(rows)]
    statuses[rows - 10] = "abc"
    with pytest.raises(fastctx.RenderError) as caught:
        fmt.render({"requestId": [f"r{row}" for row in range(rows)], "status": statuses}, threads=2)
    frames = []
    tb = caught.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    rounds = [frame for frame in frames if frame.f_code.co_name == "_render_round"]
    assert rounds
    for frame in rounds:
        assert frame.f_locals["array"] is None and frame.f_locals["view"] is None


def test_a_column_keeps_a_mapping_up_to_twice_its_content_whole(pooled):
    # A column that took the pooled mapping of a longer one keeps it whole up to twice its
    # content and gives it back whole: shrunk, the column it was sized for grew another
    # mapping into new pages at the next parse, again and again in a loop of parses.
    mib = 1 << 20
    assert _parse._kept_after_array(3 * mib, 2 * mib) == 3 * mib
    assert _parse._kept_after_array(4 * mib, 2 * mib) == 4 * mib
    # more: the spare pages go back to the system
    assert _parse._kept_after_array(5 * mib, 2 * mib) == 2 * mib
    assert _parse._kept_after_array(3 * mib, mib + 1) == mib + 4096
