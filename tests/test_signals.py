"""Ctrl-C and SIGTERM in the command line raise only outside threaded-call code, so a signal
never leaves a lock held (the process hanging at exit) or a threaded render half booked."""

import concurrent.futures
import concurrent.futures.thread
import os
import random
import signal
import sys
import threading
import time
import traceback

import pytest

import fastctx
from fastctx import _signals, generate, parallel

pytestmark = pytest.mark.skipif(os.name != "posix" or not hasattr(signal, "SIGALRM"),
                                reason="POSIX signals")


class Stop(BaseException):
    pass


def test_frames_inside_threaded_code_are_unsafe_and_the_callers_are_not():
    assert not _signals.unsafe(sys._getframe())
    seen = []
    done = concurrent.futures.Future()
    done.set_result(None)
    # A done future calls its callback at once, from concurrent.futures, in this thread.
    done.add_done_callback(lambda _: seen.append(_signals.unsafe(sys._getframe())))
    assert seen == [True]


def test_signals_raise_outside_threaded_calls_and_leave_them_working(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_RENDER_ROWS", 7)
    monkeypatch.setattr(parallel, "RENDER_RANGE_ROWS", 13)
    fmt = fastctx.compile(fastctx.preset("rest", "clf"), api="rest")
    events = fmt.parse(generate.lines(fmt, 4000, seed=3))
    expected = fmt.render(events, threads=1)
    rng = random.Random(5)
    landed = []
    for _ in range(25):
        delay = rng.uniform(0, 0.03)
        with _signals.raised_where_safe({signal.SIGTERM: Stop}):
            killer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGTERM))
            killer.start()
            try:
                for _ in range(10_000):
                    fmt.render(events, threads=2)
            except Stop:
                # the frame the handler interrupted: the last one outside the handler
                frames = [frame for frame in traceback.extract_tb(sys.exc_info()[2])
                          if frame.filename != _signals.__file__]
                landed.append(frames[-1].filename)
            killer.join()
        assert not concurrent.futures.thread._global_shutdown_lock.locked()
    assert len(landed) == 25
    assert not [name for name in landed if name in (parallel.__file__, threading.__file__)
                or "concurrent" in name]
    assert fmt.render(events, threads=2) == expected


@pytest.mark.parametrize("threads", [1, 2])
def test_a_signal_raises_in_a_blocked_render_to_write(monkeypatch, threads):
    # render_to's writes run from parallel's code, where a signal waits; a write blocked on a
    # full pipe must still end on Ctrl-C or SIGTERM, and the next call must work
    monkeypatch.setattr(parallel, "MIN_RENDER_ROWS", 7)
    monkeypatch.setattr(parallel, "RENDER_RANGE_ROWS", 13)
    fmt = fastctx.compile(fastctx.preset("rest", "clf"), api="rest")
    events = fmt.parse(generate.lines(fmt, 400, seed=3))

    class Blocked:
        calls = 0

        def write(self, data):
            self.calls += 1
            if self.calls == 3:
                time.sleep(30)  # as a write to a pipe nobody reads

    sink = Blocked()
    with _signals.raised_where_safe({signal.SIGTERM: Stop}):
        killer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
        killer.start()
        started = time.monotonic()
        with pytest.raises(Stop) as stopped:
            fmt.render_to(events, sink, chunk_size=500, threads=threads)
        assert time.monotonic() - started < 10
        killer.join()
    # raised in the write (the last frame outside the handler), the third and last
    frames = [entry for entry in stopped.traceback if str(entry.path) != _signals.__file__]
    assert frames[-1].name == "write" and sink.calls == 3
    assert not concurrent.futures.thread._global_shutdown_lock.locked()

    class Kept:
        data = bytearray()

        def write(self, data):
            self.data += data

    kept = Kept()
    fmt.render_to(events, kept, chunk_size=500, threads=threads)
    assert bytes(kept.data) == fmt.render(events, threads=1)


def test_handlers_are_restored_and_others_left_alone():
    before_term = signal.getsignal(signal.SIGTERM)
    before_alarm = signal.getsignal(signal.SIGALRM)
    with _signals.raised_where_safe({signal.SIGTERM: Stop}):
        assert signal.getsignal(signal.SIGTERM) is not before_term
    assert signal.getsignal(signal.SIGTERM) is before_term
    assert signal.getsignal(signal.SIGALRM) is before_alarm

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's Ctrl-C
    try:
        with _signals.raised_where_safe({signal.SIGINT: KeyboardInterrupt}):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGALRM) is before_alarm
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_signal_in_plain_code_raises_at_once():
    with _signals.raised_where_safe({signal.SIGTERM: Stop}):
        with pytest.raises(Stop):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode, not 5 ms later
                pass
            raise AssertionError("not raised")


def test_off_the_main_thread_nothing_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def run():
        with _signals.raised_where_safe({signal.SIGTERM: Stop}):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


def _probe_module(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)  # imported afresh, should the test run twice


def test_a_signal_during_an_import_is_raised_after_it(tmp_path, monkeypatch):
    # A Cython module's initialisation registers its memoryview types under a bare
    # ``except: pass``; an exception raised there would be dropped and the signal lost.
    _probe_module(tmp_path, monkeypatch, "fastctx_probe_swallow", (
        "import signal\n"
        "SWALLOWED = False\n"
        "try:\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "except BaseException:\n"
        "    SWALLOWED = True\n"
        "DONE = True\n"
    ))
    with pytest.raises(Stop):
        with _signals.raised_where_safe({signal.SIGTERM: Stop}):
            import fastctx_probe_swallow as probe

            assert probe.DONE and not probe.SWALLOWED
            time.sleep(5)  # the retry raises a few milliseconds after the import
            raise AssertionError("not raised")


def test_only_frames_inside_the_with_are_checked(tmp_path, monkeypatch):
    # The command line run from a module's import: the import is the caller's code.
    _probe_module(tmp_path, monkeypatch, "fastctx_probe_entered", (
        "import signal\n"
        "from fastctx import _signals\n"
        "class Stop(BaseException):\n"
        "    pass\n"
        "RAISED = False\n"
        "with _signals.raised_where_safe({signal.SIGTERM: Stop}):\n"
        "    try:\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "    except Stop:\n"
        "        RAISED = True\n"
    ))
    import fastctx_probe_entered as probe

    assert probe.RAISED
